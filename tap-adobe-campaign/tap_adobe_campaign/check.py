"""Connection checks against Adobe Campaign: `tap-adobe-campaign-check` and reusable steps.

    tap-adobe-campaign-check --config config.json [--json]
    tap-adobe-campaign-check [--config ENV] [--json]      # TAP_ADOBE_CAMPAIGN_* (Meltano)

Each step runs timed and isolated (an exception becomes a failed result, never escapes) and is
reported as one line `ok|FAIL <step>: <detail> (<ms> ms)`. Exit status: 0 when every step is
ok, 1 otherwise, 2 on a config error (one line, `<plugin>: config error: ...`, before any
request). Steps: token (IMS), metadata (the profile resource's
`resourceType`), page (the first page of profiles), plus journal (one event, when
`events_journal_url` is set) and sftp (the export folder's listing, when `sftp_host` is set).
target-adobe-campaign builds its check from the same steps and `run_checks` / `print_report`.

Requests are sent once, without the retry policy: a check reports what the service answers
now instead of waiting through backoff.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import typing as t
from dataclasses import asdict, dataclass
from http import HTTPStatus
from pathlib import Path

from singer_sdk.configuration._dict_config import parse_environment_config

from tap_adobe_campaign.client import CampaignClient
from tap_adobe_campaign.optout_export import is_export_file
from tap_adobe_campaign.settings_check import ConfigError
from tap_adobe_campaign.sftp import ExportFolder, SFTPSettings

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from singer_sdk.plugin_base import PluginBase

#: Records asked for by the page step: proves read access, costs nothing.
CHECK_PAGE_SIZE = 5
DEFAULT_PROFILE_RESOURCE = "profileAndServicesExt/profile"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one step: its name, ok or not, a one-line detail, duration in ms."""

    step: str
    ok: bool
    detail: str
    ms: int

    def line(self) -> str:
        """Return the report line, e.g. `ok token: acquired; expires in 86399 s (84 ms)`."""
        return f"{'ok' if self.ok else 'FAIL'} {self.step}: {self.detail} ({self.ms} ms)"


class CheckStep(t.NamedTuple):
    """A named step; `run` returns the detail of success and raises on failure."""

    step: str
    run: Callable[[], str]


def run_checks(steps: Iterable[CheckStep]) -> list[CheckResult]:
    """Run every step in order, timing each; a step's exception becomes a FAIL result."""
    results = []
    for step in steps:
        started = time.perf_counter()
        try:
            detail, ok = step.run(), True
        except Exception as exc:  # a check reports every failure, whatever it is
            detail, ok = " ".join(str(exc).split()) or type(exc).__name__, False
        ms = round((time.perf_counter() - started) * 1000)
        results.append(CheckResult(step.step, ok, detail, ms))
    return results


def print_report(results: Sequence[CheckResult], *, as_json: bool = False) -> int:
    """Print the results (lines, or one JSON document) and return the exit status (0 or 1)."""
    ok = all(result.ok for result in results)
    if as_json:
        print(json.dumps({"ok": ok, "steps": [asdict(r) for r in results]}, indent=2))
    else:
        for result in results:
            print(result.line())
    return 0 if ok else 1


def _split(resource: str) -> tuple[str, str]:
    """`profileAndServicesExt/profile` → (`profileAndServicesExt`, `profile`)."""
    api, _, name = resource.strip("/").rpartition("/")
    return api, name


def token_step(client: CampaignClient) -> CheckStep:
    """Fetch a new IMS token (the cached one is dropped); report its lifetime, never it."""

    def run() -> str:
        client.authenticator.invalidate()
        return f"acquired; expires in {client.authenticator.expires_in()} s"

    return CheckStep("token", run)


def metadata_step(client: CampaignClient, resource: str = DEFAULT_PROFILE_RESOURCE) -> CheckStep:
    """Read a resource's metadata: `GET <api>/resourceType/<name>`."""

    def run() -> str:
        api, name = _split(resource)
        meta = client.get_json(f"{api}/resourceType/{name}")
        content = meta.get("content") or {}
        return f"{resource}: {len(content)} fields"

    return CheckStep("metadata", run)


def page_step(
    client: CampaignClient, resource: str = DEFAULT_PROFILE_RESOURCE, size: int = CHECK_PAGE_SIZE
) -> CheckStep:
    """Read the first page (`size` records) of a resource."""

    def run() -> str:
        page = client.get_json(resource, {"_lineCount": size, "_forcePagination": "true"})
        more = ", more pages" if page.get("next") else ""
        return f"{resource}: first page, {len(page.get('content', ()))} records{more}"

    return CheckStep("page", run)


def journal_step(client: CampaignClient, journal_url: str, ims_org_id: str) -> CheckStep:
    """Read one event of the Adobe I/O Events journal (`limit=1`); 204 = reachable, empty."""

    def run() -> str:
        response = client.session.get(
            journal_url,
            params={"limit": 1},
            headers={"x-ims-org-id": ims_org_id},
            timeout=client.timeout,
            verify=client.session.verify,
        )
        if response.status_code == HTTPStatus.NO_CONTENT:
            return "reachable, no events retained"
        client.retry.validate(response)
        events = response.json().get("events", [])
        return f"reachable, {len(events)} event(s) on a limit=1 page"

    return CheckStep("journal", run)


def sftp_step(open_folder: Callable[[], ExportFolder]) -> CheckStep:
    """Log in to the SFTP storage (configured host key only) and list the export folder."""

    def run() -> str:
        with open_folder() as folder:
            names = folder.list_files(is_export_file)
            where = f"{folder.settings.known_hosts_name}:{folder.settings.directory}"
        latest = f", latest {names[-1]}" if names else ""
        return f"{where}: {len(names)} opt-out export file(s){latest}"

    return CheckStep("sftp", run)


def tap_steps(client: CampaignClient, config: Mapping[str, t.Any]) -> list[CheckStep]:
    """Build the tap's checks: token, metadata, page, then journal and sftp if configured."""
    resource = config.get("profile_resource") or DEFAULT_PROFILE_RESOURCE
    steps = [token_step(client), metadata_step(client, resource), page_step(client, resource)]
    if config.get("events_journal_url") and config.get("ims_org_id"):
        steps.append(journal_step(client, config["events_journal_url"], config["ims_org_id"]))
    if config.get("sftp_host"):
        settings = SFTPSettings.from_config({**config, "max_retries": 0})
        steps.append(sftp_step(lambda: ExportFolder(settings)))
    return steps


def cli_config(plugin: type[PluginBase], sources: Sequence[str]) -> dict[str, t.Any]:
    """Merge `--config` sources in order: JSON files, and `ENV` for the plugin's variables.

    Meltano hands a command an object setting as JSON whose nested keys are flattened
    (`{"contact.resource": "profile"}`); they are nested again here. Read errors raise
    OSError or ValueError.
    """
    config: dict[str, t.Any] = {}
    for source in sources:
        if source != "ENV":
            config.update(json.loads(Path(source).read_text(encoding="utf-8")))
            continue
        schema = plugin.config_jsonschema
        plugin.append_builtin_config(schema)
        env = parse_environment_config(schema, f"{plugin.name.upper().replace('-', '_')}_")
        config.update({k: _nested(v) if isinstance(v, dict) else v for k, v in env.items()})
    return config


def _nested(flat: dict[str, t.Any]) -> dict[str, t.Any]:
    """`{"a.b": 1}` → `{"a": {"b": 1}}`."""
    out: dict[str, t.Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="tap-adobe-campaign-check",
        description="Check the connection to Adobe Campaign: IMS token, profile metadata, one "
        "page of profiles, the events journal and the SFTP export folder when configured.",
    )
    parser.add_argument(
        "--config",
        action="append",
        help="tap-adobe-campaign settings file, or ENV for TAP_ADOBE_CAMPAIGN_* variables "
        "(repeatable, later ones win; default: ENV)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tap-adobe-campaign-check`; returns the exit status."""
    from tap_adobe_campaign.tap import TapAdobeCampaign

    args = parse_args(argv)
    try:
        tap = TapAdobeCampaign(
            config=cli_config(TapAdobeCampaign, args.config or ["ENV"]),
            parse_env_config=False,
            validate_config=True,
            setup_mapper=False,
        )
    except ConfigError as exc:
        exc.show()
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the config: {exc}", file=sys.stderr)
        return 2
    client = CampaignClient.from_config({**tap.config, "max_retries": 0}, logger=tap.logger)
    return print_report(run_checks(tap_steps(client, tap.config)), as_json=args.json)


def cli() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
