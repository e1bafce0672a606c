from __future__ import annotations

import json

from tests.support.asm_cli import CLI


def test_config_show_reports_each_layer(cli: CLI) -> None:
    path = cli.tmp_path / "asm.toml"
    path.write_text('timeout = 60\nmodel = "from-file"\n')
    cli.env["ASM_MODEL"] = "from-env"
    result = cli.run("--config", str(path), "config", "show", "--json")
    assert result.code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["timeout"] == {"value": 60.0, "source": "file", "where": str(path)}
    assert shown["model"] == {"value": "from-env", "source": "env", "where": "ASM_MODEL"}
    assert shown["store"]["source"] == "env"  # the test's ASM_STORE
    assert shown["provider"] == {"value": "scripted", "source": "default", "where": ""}


def test_config_show_table_and_bad_file(cli: CLI) -> None:
    table = cli.run("config", "show")
    assert table.code == 0, table.stderr
    assert "SOURCE" in table.stdout
    assert "timeout" in table.stdout
    bad = cli.tmp_path / "bad.toml"
    bad.write_text("nope = 1\n")
    result = cli.run("--config", str(bad), "config", "show")
    assert result.code == 2
    result.assert_one_error_line("unknown key(s): nope")


def test_store_from_the_config_file(cli: CLI) -> None:
    other = cli.tmp_path / "from-config.db"
    path = cli.tmp_path / "asm.toml"
    path.write_text(f'store = "sqlite:///{other}"\n')
    del cli.env["ASM_STORE"]
    result = cli.run("--config", str(path), "run", "hello")
    assert result.code == 0, result.stderr
    assert other.exists()
    listed = cli.run("--config", str(path), "sessions", "list", "--json")
    assert len(json.loads(listed.stdout)) == 1
