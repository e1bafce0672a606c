"""The test suite's own layout, executable: ``tests/unit/<x>/`` and ``tests/integration/<x>/``
mirror the packages and modules of ``src/agent_session_manager``, and no test module imports
another: what several test modules share lives in ``tests/support`` (fixtures stay in
``conftest.py`` files, which pytest injects by name and nobody imports).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src" / "agent_session_manager"
SUPPORT = "tests.support"

#: Test folders that mirror no single package of src, each with what it covers instead.
OTHER_FOLDERS = {
    "orchestration": "the orchestration layer: manager/ and pipeline.py",
    "docs": "the documentation (README.md, docs/): examples run, generated tables",
    "benchmarks": "the benchmarks/ package stays runnable",
}
#: Where a module of the top-level tests/ tree may live without mirroring a package of src.
DATA = {"data"}  # recorded CLI streams, not Python


_CHILD_IMPORT = re.compile(r"(?:\bfrom|\bimport|-m)\s+(tests(?:\.\w+)+)")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _imported_modules(source: str, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every module the code of ``module`` imports, relative
    imports resolved; for ``from X import a``, also ``X.a`` (``a`` may be a module)."""
    package = module.split(".")
    if package[-1] != "__init__":
        package = package[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, name
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # Code run in a child process (``python -c``, ``python -m``) names modules in strings.
            for match in _CHILD_IMPORT.finditer(node.value):
                yield node.lineno, match.group(1)


def _is_support(module: str) -> bool:
    return module == SUPPORT or module.startswith(SUPPORT + ".")


def imports_of_other_test_modules(source: str, module: str) -> list[str]:
    """``line: name`` for each import, in the code of ``module``, of a ``tests.*`` module outside
    tests.support (the module itself, e.g. in a ``python -m`` string, is fine)."""
    return sorted(
        {
            f"{line}: {name}"
            for line, name in _imported_modules(source, module)
            if name.split(".")[0] == "tests"
            and name not in ("tests", module)
            and not _is_support(name)
        }
    )


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize(
    "path", _python_files(), ids=[str(p.relative_to(TESTS)) for p in _python_files()]
)
def test_no_test_module_imports_another(path: Path) -> None:
    found = imports_of_other_test_modules(path.read_text(), _module_name(path))
    assert found == [], f"move what {path.name} imports into {SUPPORT}"


def test_an_import_of_another_test_module_is_found() -> None:
    # The check above sees absolute and relative imports, and modules named in child code.
    source = (
        "from .conftest import helper\n"
        "from T.unit.rendering.test_compact import GOLDEN\n"
        "from T.support.golden_run import GOLDEN as FINE\n"
        "from T.support import process_groups\n"
        "CODE = 'from T.integration.store.test_follow_sqlite import child'\n"
        "SELF = 'python -m T.integration.providers.test_probe'\n"
    ).replace("T.", "tests.")  # spelled so that this module's own strings name no test module
    found = imports_of_other_test_modules(source, "tests.integration.providers.test_probe")
    assert found == [
        "1: tests.integration.providers.conftest",
        "1: tests.integration.providers.conftest.helper",
        "2: tests.unit.rendering.test_compact",
        "2: tests.unit.rendering.test_compact.GOLDEN",
        "5: tests.integration.store.test_follow_sqlite",
    ]


def _src_names() -> set[str]:
    return {p.stem for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}


@pytest.mark.parametrize("tree", ["unit", "integration"])
def test_test_folders_mirror_src(tree: str) -> None:
    folders = {p.name for p in (TESTS / tree).iterdir() if p.is_dir() and p.name != "__pycache__"}
    strays = folders - _src_names() - OTHER_FOLDERS.keys()
    assert strays == set(), f"tests/{tree}/<x>/ must name a package or module of src"


def test_the_top_level_folders_are_the_known_ones() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {"unit", "integration", "support", *DATA}
