"""Every public module says what it exports: an ``__all__`` listing exactly its public names.

A module is public when no part of its dotted path starts with ``_`` (``__init__`` and
``__main__`` aside). Its public names are those it defines at top level without a leading
underscore (its ``logger`` and a stdlib-free ``TYPE_CHECKING`` flag aside); it may also list
names it imports (re-exports), and a package's ``__init__`` the names it resolves lazily. The
package root's lazy names must each be in the ``__all__`` of the module that defines them, so
there is one import path per name.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import agent_session_manager

PACKAGE = Path(agent_session_manager.__file__).parent
#: Top-level names that are not part of a module's surface.
NOT_EXPORTED = {"logger", "TYPE_CHECKING"}
#: Scripts that run when imported (Alembic's env script needs Alembic's context).
NOT_IMPORTABLE = {"agent_session_manager.store.sql.migrations.env"}


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_public(path: Path) -> bool:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return not any(p.startswith("_") and p not in ("__init__", "__main__") for p in parts)


PUBLIC = sorted(p for p in PACKAGE.rglob("*.py") if _is_public(p))


class _TopLevel(ast.NodeVisitor):
    """The names a module binds at top level (also inside ``try``/``with``/``if``, but not
    under ``if TYPE_CHECKING:`` nor ``if __name__ == "__main__":``), and its ``__all__``."""

    def __init__(self, tree: ast.Module) -> None:
        self.defined: set[str] = set()
        self.imported: set[str] = set()
        self.all: list[str] | None = None
        self._body(tree.body)

    def _body(self, body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defined.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id == "__all__":
                        assert node.value is not None
                        self.all = list(ast.literal_eval(node.value))
                        continue
                    names = (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
                    self.defined.update(names)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                self.imported.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.If):
                test = node.test
                if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                    continue
                if isinstance(test, ast.Compare):  # if __name__ == "__main__":
                    continue
                self._body(node.body)
                self._body(node.orelse)
            elif isinstance(node, ast.Try):
                self._body(node.body)
                for handler in node.handlers:
                    self._body(handler.body)
                self._body(node.orelse)
            elif isinstance(node, ast.With):
                self._body(node.body)


def _top_level(path: Path) -> _TopLevel:
    return _TopLevel(ast.parse(path.read_text(encoding="utf-8")))


def test_the_walk_finds_the_modules() -> None:
    names = {_dotted(p) for p in PUBLIC}
    assert {"agent_session_manager", "agent_session_manager.core.errors"} <= names
    assert "agent_session_manager.store.sqlite._ops" not in names
    assert len(names) > 80


@pytest.mark.parametrize("path", PUBLIC, ids=_dotted)
def test_every_public_module_lists_exactly_its_public_names(path: Path) -> None:
    module = _dotted(path)
    found = _top_level(path)
    assert found.all is not None, f"{module} has no __all__"
    listed = set(found.all)
    assert len(listed) == len(found.all), f"{module}.__all__ lists a name twice"
    public = {n for n in found.defined if not n.startswith("_")} - NOT_EXPORTED
    assert sorted(public - listed) == [], f"public names missing from {module}.__all__"
    if path.name != "__init__.py":  # a package may also list names it resolves lazily
        others = listed - public - found.imported  # an imported name listed is a re-export
        assert sorted(others) == [], f"{module}.__all__ lists names it neither defines nor imports"


@pytest.mark.parametrize(
    "path", [p for p in PUBLIC if _dotted(p) not in NOT_IMPORTABLE], ids=_dotted
)
def test_every_listed_name_exists(path: Path) -> None:
    module = importlib.import_module(_dotted(path))
    missing = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert missing == []


def test_every_name_of_the_root_is_in_its_home_modules_all() -> None:
    outside = {
        name: home
        for name, home in agent_session_manager._LAZY.items()
        if name not in getattr(importlib.import_module(home), "__all__", ())
    }
    assert outside == {}
