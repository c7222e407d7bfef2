#!/usr/bin/env python3
"""Writes the table of every built-in module and function of the .mdl
language, each with the tests that use it, into docs/LANGUAGE-NOTES.md
(between its "<!-- builtins -->" markers).

The names come from the compiler's own tables (compiler/frontend/Builtins.cpp
and Functions.cpp), the uses from the models and tests under test/: a test
that compiles a model whose text calls the name, as `Name(` or `.name(` or
`name(`. Run it after adding a built-in:

    python3 tools/list_builtins.py
"""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTES = REPO / "docs" / "LANGUAGE-NOTES.md"
BEGIN, END = "<!-- builtins -->", "<!-- /builtins -->"


def table_names(path, marker):
    """The first string of each row of the table that starts after `marker`."""
    text = path.read_text()
    text = text[text.index(marker):]
    return sorted(set(re.findall(r'^\s+\{"([A-Za-z0-9_]+)",(?!\s*ArgType)', text, re.M)) |
                  set(re.findall(r'^\s+elementwise<[^>]+>\("([a-z0-9_]+)"', text, re.M)))


def users(name, is_module):
    """Tests that use `name`: a .test or .mdl under test/ whose text calls it
    (for a model file, the .test beside it that compiles the model)."""
    pattern = re.compile((r"\b%s\(" if is_module else r"(?<![A-Za-z0-9_])\.?%s\(") % re.escape(name))
    found = set()
    for path in sorted((REPO / "test").rglob("*")):
        if path.suffix not in (".mdl", ".test") or "fixtures" in path.parts:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if not pattern.search(text):
            continue
        if path.parent.name == "models":
            test = path.parent.parent / (path.stem + ".test")
            path = test if test.exists() else path
        found.add(str(path.relative_to(REPO)))
    return sorted(found)


def main():
    modules = table_names(REPO / "compiler/frontend/Builtins.cpp",
                          "static const std::vector<BuiltinModule> table")
    functions = table_names(REPO / "compiler/frontend/Functions.cpp",
                            "static const std::vector<BuiltinFunction> table")
    rows = ["| built-in | kind | tests |", "|---|---|---|"]
    for kind, names in (("module", ["Sequential", "ModuleList"] + modules), ("function", functions)):
        for name in names:
            tests = users(name, kind == "module")
            shown = ", ".join(tests[:3]) + (f" (+{len(tests) - 3})" if len(tests) > 3 else "")
            rows.append(f"| `{name}` | {kind} | {shown or '—'} |")
    text = NOTES.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    NOTES.write_text(text[:start] + "\n" + "\n".join(rows) + "\n" + text[end:])
    print(f"{len(rows) - 2} built-ins written to {NOTES.relative_to(REPO)}")


if __name__ == "__main__":
    main()
