"""Fixtures shared by the tests of the modelc package. The libraries are
compiled once per session with the checkout's compiler ($MODELC, or
build/bin/modelc); the reference results are the e2e suite's committed
PyTorch fixtures (test/e2e/fixtures, tools/gen_fixtures.py), so that these
tests need numpy and pytest but no torch."""
import os
from pathlib import Path

import pytest

import modelc

REPO = Path(__file__).resolve().parents[2]
E2E = REPO / "test" / "e2e"


def fixture(name):
    return E2E / "fixtures" / name


def train_fixture(name):
    return E2E / "train" / "fixtures" / name


@pytest.fixture(scope="session")
def libs(tmp_path_factory):
    """name -> a compiled library, compiled when first asked for."""
    out = tmp_path_factory.mktemp("libs")
    cache = {}
    sources = {"tiny": E2E / "models" / "tiny.mdl", "bn1d": E2E / "models" / "bn1d.mdl",
               "nested": E2E / "models" / "nested.mdl",
               "running_average": E2E / "models" / "running_average.mdl",
               "mlp": E2E / "train" / "models" / "mlp.mdl",
               "frozen": E2E / "train" / "models" / "frozen.mdl"}

    def get(name):
        if name not in cache:
            cache[name] = modelc.compile(sources[name], out / f"{name}.so")
        return cache[name]
    return get


def pytest_report_header(config):
    return f"modelc: {os.environ.get('MODELC') or modelc.find_compiler()}"
