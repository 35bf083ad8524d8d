"""Settings checks every plugin of this vendor runs at start-up, before any network call.

The tap and `target-dynamics365` call `validate_settings` from their `_validate_config`: the
SDK's JSON Schema check, the plugin's own rules and unknown (misspelt) setting names. A
config error raises `ConfigError`, which the plugin's command line shows as one line,
`<plugin>: config error: <problems>`, with exit status 2 (click prints a `ClickException`
that way in every mode: sync, `--discover`, `--test`).
"""

from __future__ import annotations

import difflib
import typing as t

import click
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from singer_sdk.plugin_base import PluginBase

#: Declare this in a plugin's settings to let users refuse unknown settings.
STRICT_SETTINGS = th.Property(
    "strict_settings",
    th.BooleanType,
    default=False,
    description="Refuse unknown settings (e.g. a misspelt name) at start-up instead of "
    "warning about each",
)


class ConfigError(click.ClickException):
    """Settings a plugin cannot run with: one line on stderr, exit status 2."""

    exit_code = 2

    def __init__(self, plugin: str, errors: Sequence[str]) -> None:
        """Name the plugin and every problem found."""
        super().__init__("; ".join(errors))
        self.plugin = plugin
        self.errors = list(errors)

    def line(self) -> str:
        """Return the line shown, e.g. `tap-x: config error: resource_url must be ...`."""
        return f"{self.plugin}: config error: {self.message}"

    def show(self, file: t.IO[t.Any] | None = None) -> None:
        """Print the one line (click calls this before exiting with `exit_code`)."""
        click.echo(self.line(), file=file, err=True)


def unknown_settings(config: Mapping[str, t.Any], schema: Mapping[str, t.Any]) -> list[str]:
    """Name each top-level setting of `config` that `schema` does not declare, with a hint."""
    known = list(schema.get("properties", {}))
    found = []
    for name in sorted(set(config) - set(known)):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        found.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return found


def validate_settings(
    plugin: PluginBase,
    sdk_validate: Callable[..., list[str]],
    rules: Callable[[Mapping[str, t.Any]], list[str]],
    *,
    raise_errors: bool,
) -> list[str]:
    """Check `plugin.config`; raise `ConfigError` (if `raise_errors`) or log the problems.

    `sdk_validate` is the SDK's schema check (`super()._validate_config`, which also fills in
    defaults); `rules` are the plugin's own checks. Unknown settings are warned about, or
    are errors when `strict_settings` is on.
    """
    try:
        errors = sdk_validate(raise_errors=True)
    except ConfigValidationError as exc:
        errors = list(exc.errors)
    errors += rules(plugin.config)
    schema = plugin.config_jsonschema
    plugin.append_builtin_config(schema)
    for unknown in unknown_settings(plugin.config, schema):
        if plugin.config.get("strict_settings"):
            errors.append(f"unknown setting {unknown} (strict_settings is on)")
        else:
            plugin.logger.warning("Unknown setting %s is ignored", unknown)
    if errors and raise_errors:
        raise ConfigError(plugin.name, errors)
    for error in errors:
        plugin.logger.warning("config error: %s", error)
    return errors
