"""``install_hint``: only a missing optional package becomes ``MissingDependency``."""

from __future__ import annotations

import pytest

from agent_session_manager.core.extras import MissingDependency, install_hint


def test_a_missing_optional_package_names_its_extra() -> None:
    with pytest.raises(MissingDependency) as info, install_hint("the S3 artifact store"):
        raise ModuleNotFoundError("No module named 'botocore.session'", name="botocore.session")
    assert info.value.name == "botocore"
    assert info.value.details == {"missing": "botocore", "extra": "s3"}
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_any_other_import_failure_passes_unchanged() -> None:
    with pytest.raises(ModuleNotFoundError) as info, install_hint("anything"):
        import agent_session_manager_no_such_module  # type: ignore[import-not-found]  # noqa: F401
    assert type(info.value) is ModuleNotFoundError
