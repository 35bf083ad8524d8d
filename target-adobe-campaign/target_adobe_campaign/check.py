"""`target-adobe-campaign-check`: can this configuration write where `resources` routes?

    target-adobe-campaign-check --config config.json [--json]
    target-adobe-campaign-check --config ENV [--json]      # TARGET_ADOBE_CAMPAIGN_* (Meltano)

Steps (the vendor steps of tap-adobe-campaign's check, one Campaign client): token, then for
every resource the `resources` setting routes to, its metadata (it exists on this tenant) and
its first page (read access). With `backend: v8`: logon, then for every routed schema
(`nms:recipient`, `cus:*`) its schema (it is built on this instance) and its first page, over
the SOAP router. One line per step, `ok|FAIL <step>: <detail> (<ms> ms)`; exit 0 when all are
ok, 1 otherwise, 2 on a config error. Nothing is written.
"""

from __future__ import annotations

import sys
import typing as t

from campaign_client.checks import metadata_step, page_step, token_step
from campaign_client.client import CampaignClient
from campaign_client.settings import V8
from campaign_client.soap_checks import logon_step
from campaign_client.soap_checks import page_step as soap_page_step
from campaign_client.soap_checks import schema_step as soap_schema_step
from campaign_client.soap_session import SoapSession
from sync_support.checks import CheckStep, cli_config, parse_args, print_report, run_checks
from sync_support.settings_check import ConfigError

from target_adobe_campaign.routing import parse_routes
from target_adobe_campaign.v8_schema import schema_id

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def target_steps(client: CampaignClient, config: Mapping[str, t.Any]) -> list[CheckStep]:
    """Token, then metadata and first page of each routed resource (once per resource)."""
    routes = parse_routes(config.get("resources") or {})[0]
    paths = dict.fromkeys(route.path for route in routes.values())
    steps = [token_step(client)]
    for path in paths:
        resource = path.rsplit("/", 1)[-1]
        steps.append(CheckStep(f"metadata {resource}", metadata_step(client, path).run))
        steps.append(CheckStep(f"page {resource}", page_step(client, path).run))
    return steps


def v8_steps(session: SoapSession, config: Mapping[str, t.Any]) -> list[CheckStep]:
    """Logon, then schema and first page of each routed schema (once per schema)."""
    routes = parse_routes(config.get("resources") or {})[0]
    steps = [logon_step(session)]
    for schema in dict.fromkeys(schema_id(route) for route in routes.values()):
        steps += [soap_schema_step(session, schema), soap_page_step(session, schema)]
    return steps


DESCRIPTION = (
    "Check the connection to Adobe Campaign: IMS token, and the metadata and "
    "first page of every resource the resources setting routes to (backend v8: logon, and "
    "the schema and first page of every routed schema). Writes nothing."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `target-adobe-campaign-check`; returns the exit status."""
    from target_adobe_campaign.target import TargetAdobeCampaign

    args = parse_args(TargetAdobeCampaign, DESCRIPTION, argv)
    try:
        target = TargetAdobeCampaign(
            config=cli_config(TargetAdobeCampaign, args.config or ["ENV"]),
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
    # one try per request: a check reports what Campaign answers now, without backoff
    config = {**target.config, "max_retries": 0}
    if config.get("backend") == V8:
        steps = v8_steps(SoapSession.from_config(config, logger=target.logger), config)
    else:
        steps = target_steps(CampaignClient.from_config(config, logger=target.logger), config)
    return print_report(run_checks(steps), as_json=args.json)


def cli() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
