"""The layering, executable: every import between our packages follows the table below.

Each top-level package (or module) of ``agent_session_manager`` may import itself, and only the
packages its rule names. ``core`` is the domain and imports nothing of ours; the ports (``store``,
``artifacts``, ``providers``, ``rendering``, ``telemetry``) import core; the orchestration layer
(``manager``, ``pipeline``) imports ports and core; the services on top of it (``runtime``,
``maintenance``) import the orchestration layer, the ports and core; the faces (``cli``,
``testing`` and the package root) import anything public. No package imports another package's
private (``_``-prefixed) module or name, nor uses ``obj._name`` for a private name it does not
define itself. Imports under ``TYPE_CHECKING`` count too.

A rule names dotted prefixes under ``agent_session_manager``, so a module that becomes a package
(``telemetry.py`` -> ``telemetry/``, ``store/sqlite.py`` -> ``store/sqlite/``) keeps its rules;
a new package fails here until it gets a row.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "agent_session_manager"
SRC = Path(__file__).resolve().parents[2] / "src" / PACKAGE

#: What every package may import, besides itself. ``None``: any public module (the faces).
#: A new package is one row naming its layer: a pure one (``policy``) takes ``CORE``, a new port
#: (``workspace``) takes ``CORE`` and joins ``PORTS``; once ``manager`` and ``pipeline`` move into
#: ``orchestration/``, ``ORCHESTRATION`` becomes ``("orchestration",)`` with one row for it.
CORE: tuple[str, ...] = ("core",)
PORTS = ("store", "artifacts", "providers", "rendering", "telemetry")
ORCHESTRATION = ("manager", "pipeline")
RULES: dict[str, tuple[str, ...] | None] = {
    "core": (),
    "config": CORE,
    "store": CORE,
    "artifacts": (*CORE, "store.protocol"),
    "providers": CORE,
    "rendering": CORE,
    "telemetry": CORE,
    "pipeline": CORE,
    "manager": (*CORE, *PORTS, "pipeline"),
    "runtime": (*CORE, *PORTS, *ORCHESTRATION),
    "maintenance": (*CORE, *PORTS, *ORCHESTRATION),
    "cli": None,
    "testing": None,
    "__init__": None,  # the package root re-exports the public API
}

#: (importing package, imported private module) pairs allowed on purpose, each with its reason.
PRIVATE_EXCEPTIONS = {
    # ``asm run`` starts the claude CLI before it imports the library (the CLI boots in ~0.35 s,
    # about what the imports and opening the store take): a stdlib-only internal hand-off shared
    # by the CLI's early path and the adapters, with no API worth promising to users.
    ("cli", "providers._prestart"),
}


@dataclass(frozen=True, slots=True)
class Import:
    line: int
    target: str  # dotted, without the ``agent_session_manager.`` prefix ("" for the root)
    names: tuple[str, ...]  # for ``from target import a, b``


def _dotted(file: Path, root: Path) -> list[str]:
    parts = list(file.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts


def imports_of(file: Path, root: Path = SRC) -> Iterator[Import]:
    """Every import of one of our modules in ``file`` (relative ones resolved)."""
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield Import(node.lineno, alias.name.removeprefix(PACKAGE).lstrip("."), ())
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                here = _dotted(file, root)
                base = here if file.name == "__init__.py" else here[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([PACKAGE, *base, *([module] if module else [])])
            if module == PACKAGE or module.startswith(PACKAGE + "."):
                names = tuple(alias.name for alias in node.names)
                yield Import(node.lineno, module.removeprefix(PACKAGE).lstrip("."), names)


def violations(file: Path, root: Path = SRC) -> Iterator[str]:
    """One line per broken rule: ``file:line: what (rule: which)``."""
    package = _dotted(file, root)[0]
    if package not in RULES:
        yield f"{file.relative_to(root.parents[1])}: package {package!r} has no row in RULES"
        return
    allowed = RULES[package]
    for imp in imports_of(file, root):
        where = f"{file.relative_to(root.parents[1])}:{imp.line}: {package} imports"
        top = imp.target.split(".")[0]
        if top == package:
            continue
        if not imp.target:
            if allowed is not None:
                yield f"{where} the package root (rule: only cli, testing and the root may)"
            continue
        private = next((p for p in imp.target.split(".") if p.startswith("_")), None)
        if private is not None and (package, imp.target) not in PRIVATE_EXCEPTIONS:
            yield (
                f"{where} {imp.target}, a private module of {top} "
                "(rule: no import of another package's private modules)"
            )
        for name in imp.names:
            if name.startswith("_") and not name.startswith("__"):
                yield (
                    f"{where} the private name {name} of {imp.target} "
                    "(rule: no import of another package's private names)"
                )
        if allowed is not None and not any(
            imp.target == rule or imp.target.startswith(rule + ".") for rule in allowed
        ):
            may = ", ".join(allowed) or "nothing of ours"
            yield f"{where} {imp.target} (rule: {package} may import {may})"


#: Private attributes of the standard library used on purpose: namedtuple's API (``_replace``),
#: and the CLI's fast exit (``os._exit`` after ``atexit._run_exitfuncs``, see ``cli._exit``).
STDLIB_PRIVATE = frozenset({"_replace", "_asdict", "_fields", "_make", "_exit", "_run_exitfuncs"})


def private_attribute_uses(files: list[Path], root: Path = SRC) -> Iterator[str]:
    """``obj._name`` where no module of the package defines ``_name``: another package's
    private attribute (``self.manager._create_run`` in ``runtime``). Names are matched without
    types, so a private name a package defines itself is never reported."""
    defined: dict[str, set[str]] = {}
    uses: list[tuple[Path, str, ast.Attribute]] = []
    for file in files:
        package = _dotted(file, root)[0]
        names = defined.setdefault(package, set())
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.attr if isinstance(node, ast.Attribute) else node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # ``__slots__`` entries, ``getattr`` names
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                uses.append((file, package, node))
    for file, package, node in uses:
        if node.attr not in defined[package] and node.attr not in STDLIB_PRIVATE:
            yield (
                f"{file.relative_to(root.parents[1])}:{node.lineno}: {package} uses "
                f"{ast.unparse(node)} (rule: no access to another package's private names)"
            )


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_import_follows_the_layer_table() -> None:
    found = [v for file in SOURCES for v in violations(file)]
    assert found == [], "layering violations:\n" + "\n".join(found)


def test_no_package_reaches_into_another_packages_private_attributes() -> None:
    found = list(private_attribute_uses(SOURCES))
    assert found == [], "private access across packages:\n" + "\n".join(found)


def test_a_private_attribute_of_another_package_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "src" / PACKAGE
    (root / "runtime").mkdir(parents=True)
    (root / "runtime" / "server.py").write_text(
        "class Server:\n"
        "    def go(self):\n"
        "        self._mine = 1\n"
        "        return self.manager._create_run(self._mine)\n"
    )
    (root / "manager.py").write_text("class M:\n    async def _create_run(self): ...\n")
    assert list(private_attribute_uses(sorted(root.rglob("*.py")), root)) == [
        "src/agent_session_manager/runtime/server.py:4: runtime uses self.manager._create_run "
        "(rule: no access to another package's private names)"
    ]


def test_every_rule_names_a_package_that_exists() -> None:
    packages = {_dotted(file, SRC)[0] for file in SOURCES}
    named = {rule.split(".")[0] for rules in RULES.values() if rules for rule in rules}
    assert set(RULES) <= packages
    assert named <= packages
    assert {pair[1].split(".")[0] for pair in PRIVATE_EXCEPTIONS} <= packages


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "core/x.py",
            "from agent_session_manager.store.protocol import SessionStore\n",
            "src/agent_session_manager/core/x.py:1: core imports store.protocol "
            "(rule: core may import nothing of ours)",
        ),
        (
            "artifacts/x.py",
            "import agent_session_manager.maintenance.storage\n",
            "src/agent_session_manager/artifacts/x.py:1: artifacts imports maintenance.storage "
            "(rule: artifacts may import core, store.protocol)",
        ),
        (
            "pipeline.py",
            "\n\nfrom agent_session_manager.store import memory\n",
            "src/agent_session_manager/pipeline.py:3: pipeline imports store (rule: pipeline may "
            "import core)",
        ),
        (
            "testing/x.py",
            "from agent_session_manager.store._urls import hide_password\n",
            "src/agent_session_manager/testing/x.py:1: testing imports store._urls, a private "
            "module of store (rule: no import of another package's private modules)",
        ),
        (
            "runtime/x.py",
            "from agent_session_manager.manager import _create_run\n",
            "src/agent_session_manager/runtime/x.py:1: runtime imports the private name "
            "_create_run of manager (rule: no import of another package's private names)",
        ),
        (
            "core/y.py",
            "from agent_session_manager import SessionManager\n",
            "src/agent_session_manager/core/y.py:1: core imports the package root "
            "(rule: only cli, testing and the root may)",
        ),
        (
            "newthing/x.py",
            "import os\n",
            "src/agent_session_manager/newthing/x.py: package 'newthing' has no row in RULES",
        ),
    ],
)
def test_a_violation_names_the_file_the_line_and_the_rule(
    tmp_path: Path, path: str, source: str, expected: str
) -> None:
    root = tmp_path / "src" / PACKAGE
    file = root / path
    file.parent.mkdir(parents=True)
    file.write_text(source)
    assert list(violations(file, root)) == [expected]


def test_relative_imports_are_resolved_and_a_package_may_use_its_own_private_modules(
    tmp_path: Path,
) -> None:
    root = tmp_path / "src" / PACKAGE
    file = root / "store" / "sqlite" / "_writer.py"
    file.parent.mkdir(parents=True)
    file.write_text("from .._common import x\nfrom ...manager import SessionManager\n")
    assert [i.target for i in imports_of(file, root)] == ["store._common", "manager"]
    assert list(violations(file, root)) == [
        "src/agent_session_manager/store/sqlite/_writer.py:2: store imports manager "
        "(rule: store may import core)"
    ]
