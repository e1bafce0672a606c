"""``asm config show``: the effective configuration and the layer each value came from.

Layers, lowest first: defaults, the config file, ``ASM_*`` environment variables, explicit
arguments (see ``agent_session_manager.config``). Knows the config module and the CLI's output
helpers; nothing about stores or runs.
"""

from __future__ import annotations

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption
from agent_session_manager.cli._runtime import UsageError, state

__all__ = ["app", "show"]

app = typer.Typer(
    name="config",
    help="Show the effective configuration.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("show")
def show(as_json: JsonOption = False) -> None:
    """Print every setting, its value and where it came from (default, file, env, argument).

    The config file is `asm --config FILE`, else $ASM_CONFIG, else config.toml in the user
    config folder; each key `k` is also read from $ASM_<K>.

    Examples:
      asm config show
      ASM_TIMEOUT=60 asm config show --json
      asm --config ./ci.toml config show
    """
    from agent_session_manager.config import default_config_file, explain
    from agent_session_manager.core.errors import ValidationError

    try:
        settings, sources = explain(state.config_file)
    except ValidationError as exc:
        raise UsageError(exc.message) from None
    values = settings.model_dump(mode="json")
    if as_json:
        _output.print_json(
            {
                name: {"value": value, "source": sources[name].layer, "where": sources[name].where}
                for name, value in values.items()
            }
        )
        return
    rows = [
        [name, "" if value is None else str(value), f"{sources[name].layer} {sources[name].where}"]
        for name, value in values.items()
    ]
    _output.print_table(["SETTING", "VALUE", "SOURCE"], rows)
    file = state.config_file or default_config_file()
    _output.err(f"config file: {file}")
