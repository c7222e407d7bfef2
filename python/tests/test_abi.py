"""The package's ctypes signatures follow the C header's X-macro list."""
import re

from modelc import _abi

from conftest import REPO


def test_functions_match_header():
    text = (REPO / "runtime" / "include" / "modelc" / "modelc.h").read_text()
    names = re.findall(r"\n  X\(P, [^,\n]+, ([a-z_]+),", text)
    assert names == list(_abi.FUNCTIONS), "python/modelc/_abi.py FUNCTIONS must follow modelc.h"


def test_dtypes_match_header():
    text = (REPO / "runtime" / "include" / "modelc" / "modelc.h").read_text()
    enum = text[text.index("typedef enum modelc_dtype"):text.index("} modelc_dtype;")]
    codes = {int(v): k for k, v in re.findall(r"MODELC_([A-Z0-9]+) = (\d+)", enum)}
    assert codes == _abi.DTYPES
    kinds = text[text.index("typedef enum modelc_state_kind"):text.index("} modelc_state_kind;")]
    assert dict(re.findall(r"MODELC_([A-Z_]+) = (\d+)", kinds)) == {
        "PARAMETER": str(_abi.PARAMETER), "BUFFER": str(_abi.BUFFER),
        "NONPERSISTENT_BUFFER": str(_abi.NONPERSISTENT_BUFFER)}
