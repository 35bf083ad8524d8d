"""Connection checks against Adobe Campaign: `tap-adobe-campaign-check` and reusable steps.

    tap-adobe-campaign-check --config config.json [--json]
    tap-adobe-campaign-check [--config ENV] [--json]      # TAP_ADOBE_CAMPAIGN_* (Meltano)

Each step runs timed and isolated (an exception becomes a failed result, never escapes) and is
reported as one line `ok|FAIL <step>: <detail> (<ms> ms)`. Exit status: 0 when every step is
ok, 1 otherwise, 2 on a config error (one line, `<plugin>: config error: ...`, before any
request). Steps: token (IMS), metadata (the profile resource's
`resourceType`), page (the first page of profiles), plus journal (one event, when
`events_journal_url` is set) and sftp (the export folder's listing, when `sftp_host` is set).
The token, metadata and page steps are `campaign_client.checks`' (target-adobe-campaign uses them
too). With `backend: v8`: logon, schema (`nms:recipient`) and page (one page of recipients) on
the SOAP router (`tap_adobe_campaign.v8.check`): v8's streams need no journal and no SFTP.

Requests are sent once, without the retry policy: a check reports what the service answers
now instead of waiting through backoff.
"""

from __future__ import annotations

import sys
import typing as t
from http import HTTPStatus

from campaign_client.checks import DEFAULT_PROFILE_RESOURCE, metadata_step, page_step, token_step
from campaign_client.client import CampaignClient
from campaign_client.sftp import RemoteFolder, SFTPSettings
from campaign_client.soap_session import SoapSession
from sync_support.checks import CheckStep, cli_config, parse_args, print_report, run_checks
from sync_support.settings_check import ConfigError

from tap_adobe_campaign.optout_export import exports_dir, is_export_file
from tap_adobe_campaign.v8.check import v8_steps

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

DESCRIPTION = (
    "Check the connection to Adobe Campaign: IMS token, profile metadata, one page of "
    "profiles, the events journal and the SFTP export folder when configured."
)


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


def sftp_step(open_folder: Callable[[], RemoteFolder]) -> CheckStep:
    """Log in to the SFTP storage (configured host key only) and list the export folder."""

    def run() -> str:
        with open_folder() as folder:
            names = folder.list_files(is_export_file)
            where = folder.where
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
        steps.append(sftp_step(lambda: RemoteFolder(settings, exports_dir(config))))
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tap-adobe-campaign-check`; returns the exit status."""
    from tap_adobe_campaign.tap import TapAdobeCampaign

    args = parse_args(TapAdobeCampaign, DESCRIPTION, argv)
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
    config = {**tap.config, "max_retries": 0}
    if tap.is_v8:
        session = SoapSession.from_config(config, logger=tap.logger)
        steps = v8_steps(session)
    else:
        client = CampaignClient.from_config(config, logger=tap.logger)
        steps = tap_steps(client, tap.config)
    return print_report(run_checks(steps), as_json=args.json)


def cli() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
