"""`target-adobe-campaign-wizard`: generate (and optionally build) Campaign schemas from D365.

    target-adobe-campaign-wizard --tables account,salesorder [--out campaign-schemas]
        [--d365-config FILE|ENV ...] [--config FILE|ENV ...] [--apply]

- `--d365-config`: tap-dynamics365's connection settings (`dataverse_client`'s
  CONNECTION_SETTINGS): a JSON file, or ENV for the `TAP_DYNAMICS365_*` variables (default
  ENV; repeatable, later ones win).
- `--config`: target-adobe-campaign's settings, only read with `--apply` (the IMS credential
  and `soap_url`, `soap_auth`, ...): a JSON file, or ENV for `TARGET_ADOBE_CAMPAIGN_*`
  (default ENV; Meltano's `wizard` command passes ENV).

Exit status: 0 done; 2 a usage or configuration error (one line on stderr, before any write);
1 Dynamics 365 or Campaign refused a call (one line).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing as t
from pathlib import Path

from campaign_client.auth import AuthenticationError as CampaignAuthError
from campaign_client.client import AmbiguousWriteError
from campaign_client.settings import (
    CONNECTION_SETTINGS as CAMPAIGN_SETTINGS,
)
from campaign_client.settings import (
    SOAP_AUTH_MODES,
    SOAP_SETTINGS,
    soap_errors,
)
from dataverse_client.auth import AuthenticationError as D365AuthError
from dataverse_client.client import DataverseClient, connection_errors
from dataverse_client.settings import CONNECTION_SETTINGS as D365_SETTINGS
from requests import RequestException
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from sync_support.http_settings import ca_bundle_errors

from target_adobe_campaign.wizard.apply import apply
from target_adobe_campaign.wizard.d365 import TableNotFoundError, read_table
from target_adobe_campaign.wizard.mapping import MappingError, plan_tables
from target_adobe_campaign.wizard.render import render_all

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from target_adobe_campaign.wizard.mapping import TablePlan

PROG = "target-adobe-campaign-wizard"
D365_PREFIX = "TAP_DYNAMICS365_"
CAMPAIGN_PREFIX = "TARGET_ADOBE_CAMPAIGN_"
DEFAULT_OUT = "campaign-schemas"
_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_D365_REQUIRED = ("tenant_id", "client_id", "resource_url")


class UsageError(Exception):
    """A usage or configuration error: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> t.NoReturn:
        """One line, exit 2 (argparse prints the usage first)."""
        raise UsageError(message)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = _Parser(
        prog=PROG,
        description="Generate Campaign schemas from Dynamics 365 tables, as Campaign's CRM "
        "connector wizard does: the v8 source schema, the Standard custom resource, the "
        "target's resources/enumerations/stream_maps entries and a report, per table.",
    )
    parser.add_argument(
        "--tables",
        required=True,
        help="comma-separated D365 table logical names, e.g. account,salesorder",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--d365-config",
        action="append",
        help=f"tap-dynamics365 connection settings file, or ENV for {D365_PREFIX}* variables "
        "(repeatable, later ones win; default: ENV)",
    )
    parser.add_argument(
        "--config",
        action="append",
        help=f"target-adobe-campaign settings file, or ENV for {CAMPAIGN_PREFIX}* variables "
        "(repeatable, later ones win; default: ENV); read with --apply only",
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="also write and build the source schemas on the Campaign v8 instance",
    )
    return parser.parse_args(argv)


def read_config(sources: Sequence[str], schema: dict[str, t.Any], prefix: str) -> dict[str, t.Any]:
    """Merge JSON files and `ENV` (the schema's properties as `<prefix><NAME>` variables)."""
    config: dict[str, t.Any] = {}
    for source in sources:
        if source == "ENV":
            config.update(parse_environment_config(schema, prefix))
            continue
        try:
            loaded = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot read the config {source}: {exc}"
            raise UsageError(msg) from None
        if not isinstance(loaded, dict):
            msg = f"the config {source} must hold a JSON object"
            raise UsageError(msg)
        config.update(loaded)
    return config


def d365_config(sources: Sequence[str]) -> dict[str, t.Any]:
    """tap-dynamics365's connection settings, checked."""
    config = read_config(sources, D365_SETTINGS.to_dict(), D365_PREFIX)
    errors = [f"{key} is required" for key in _D365_REQUIRED if not config.get(key)]
    errors += connection_errors(config)
    if errors:
        msg = f"Dynamics 365 config: {'; '.join(errors)}"
        raise UsageError(msg)
    return config


def campaign_config(sources: Sequence[str]) -> dict[str, t.Any]:
    """target-adobe-campaign's connection and SOAP settings, checked for `--apply`."""
    schema = CAMPAIGN_SETTINGS.to_dict()
    schema["properties"].update(SOAP_SETTINGS.to_dict()["properties"])
    config = read_config(sources, schema, CAMPAIGN_PREFIX)
    errors = []
    mode = config.get("soap_auth") or "ims_bearer"
    if mode not in SOAP_AUTH_MODES:
        errors.append(f"soap_auth must be one of {', '.join(SOAP_AUTH_MODES)}, got '{mode}'")
    elif mode != "login_password":
        errors += [
            f"{key} is required with soap_auth={mode}"
            for key in ("client_id", "client_secret")
            if not config.get(key)
        ]
    errors += soap_errors(config)
    errors += ca_bundle_errors(config)
    if errors:
        msg = f"Campaign config: {'; '.join(errors)}"
        raise UsageError(msg)
    return config


def table_names(text: str) -> list[str]:
    """`account, salesorder` → ["account", "salesorder"] (in order, once each)."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        msg = "--tables: give at least one table logical name"
        raise UsageError(msg)
    bad = [n for n in names if not _TABLE.match(n)]
    if bad:
        msg = f"--tables: not a table logical name: {', '.join(bad)}"
        raise UsageError(msg)
    return names


def write_files(out: Path, plans: Sequence[TablePlan]) -> list[Path]:
    """Write every file of every table (only when its content changed); return the paths."""
    written = []
    for plan in plans:
        folder = out / plan.table
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in render_all(plan).items():
            path = folder / name
            data = content.encode("utf-8")
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)
            written.append(path)
    return written


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Read the tables, write the files, apply; errors raise."""
    names = table_names(args.tables)
    d365 = d365_config(args.d365_config or ["ENV"])
    campaign = campaign_config(args.config or ["ENV"]) if args.apply else None
    client = DataverseClient.from_config(d365)
    try:
        tables = [read_table(client, name) for name in names]
    except TableNotFoundError as exc:
        raise UsageError(str(exc)) from None
    try:
        plans = plan_tables(tables)
    except MappingError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    written = write_files(out, plans)
    for plan in plans:
        print(
            f"{plan.table}: {plan.schema_id} / {plan.resource}: {len(plan.fields) + 1} fields, "
            f"{len(plan.links)} links, "
            f"{sum(1 for f in plan.fields if f.enum_values)} enumerations, "
            f"{len(plan.skipped)} columns skipped (see {out / plan.table / 'report.md'})"
        )
    print(f"wrote {len(written)} files under {out}")
    if campaign is not None:
        from campaign_client.soap_session import SoapSession

        apply(SoapSession.from_config(campaign), plans)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    try:
        return run(parse_args(argv))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (
        FatalAPIError,  # DataverseAPIError, CampaignAPIError, SoapFaultError
        RetriableAPIError,  # retries exhausted
        AmbiguousWriteError,
        CampaignAuthError,
        D365AuthError,
        RequestException,
        OSError,
    ) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {detail}", file=sys.stderr)
        return 1


def cli() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
