"""The `resources` setting: which Campaign resource each stream is written to, and how."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from singer_sdk import typing as th

from target_adobe_campaign.options import (
    OPTION_PROPERTIES,
    WriteOptions,
    parse_options,
    unknown_option_errors,
)

if t.TYPE_CHECKING:
    from collections.abc import Mapping

PROFILE = "profile"
PROFILE_KEY = "externalId"
DEFAULT_ENDPOINT = "profileAndServicesExt"
ENDPOINTS = ("profileAndServicesExt", "profileAndServices", "customResources")


@dataclass(frozen=True)
class Link:
    """A link to a parent record, resolved from the parent's CRM id to its PKey."""

    name: str  # the Campaign link, written as {"<name>": {"PKey": "<parent PKey>"}}
    stream: str  # the parent's stream (its route gives the parent resource and key)
    field: str  # the record field holding the parent's CRM id


@dataclass(frozen=True)
class KeyFilter:
    """A Campaign filter finding records by key: `GET <resource>/<name>?<param>=<key>`."""

    name: str
    param: str


@dataclass(frozen=True)
class Route:
    """Where one stream's records go."""

    stream: str
    resource: str  # `profile` or `cus<Name>`
    endpoint: str  # `profileAndServicesExt`, ...
    key: str  # the Campaign field holding the CRM id
    links: tuple[Link, ...] = ()
    key_filter: KeyFilter | None = None
    options: WriteOptions = field(default_factory=WriteOptions)
    import_workflow: str | None = None  # the tenant's import workflow (bulk creates)

    @property
    def path(self) -> str:
        """The resource's path under the API root, e.g. `profileAndServicesExt/profile`."""
        return f"{self.endpoint}/{self.resource}"


RESOURCES_SETTING = th.Property(
    "resources",
    th.ObjectType(
        additional_properties=th.ObjectType(
            th.Property(
                "resource",
                th.StringType,
                required=True,
                description="'profile' or a custom resource 'cus<Name>'",
            ),
            th.Property(
                "key",
                th.StringType,
                description="Campaign field holding the CRM id (default externalId for "
                "profile; required for custom resources)",
            ),
            th.Property(
                "endpoint",
                th.StringType,
                allowed_values=list(ENDPOINTS),
                description=f"API family of the resource (default {DEFAULT_ENDPOINT})",
            ),
            th.Property(
                "links",
                th.ObjectType(
                    additional_properties=th.ObjectType(
                        th.Property("stream", th.StringType, required=True),
                        th.Property("field", th.StringType, required=True),
                    )
                ),
                description="Campaign link name -> {stream: parent stream, field: record "
                "field holding the parent's CRM id}",
            ),
            th.Property(
                "key_filter",
                th.ObjectType(
                    th.Property("name", th.StringType, required=True),
                    th.Property("param", th.StringType, required=True),
                ),
                description="Filter that finds a record by key (the resource's "
                "identification key filter, e.g. {name: byExternalId, param: externalId}); "
                "without it, an ambiguous create is checked by re-reading the resource",
            ),
            th.Property(
                "import_workflow",
                th.StringType,
                description="Internal name (or PKey) of the tenant's import workflow of this "
                "resource (External signal with a fileName parameter, Load file, "
                "Reconciliation on the key, Update data insert-or-update), e.g. "
                "WKF_IMPORT_PROFILE; without it the stream's creates always go by REST "
                "(see bulk)",
            ),
            *OPTION_PROPERTIES,
        )
    ),
    required=True,
    description="Stream name -> Campaign resource routing; streams not listed are refused",
)
#: The options a `resources` entry may have.
ENTRY_OPTIONS = frozenset(
    RESOURCES_SETTING.to_dict()["resources"]["additionalProperties"]["properties"]
)


def parse_routes(resources: Mapping[str, t.Any]) -> tuple[dict[str, Route], list[str]]:
    """Turn the `resources` setting into routes, with every configuration error found."""
    routes: dict[str, Route] = {}
    errors: list[str] = []
    for stream, spec in resources.items():
        errors += unknown_option_errors(stream, spec, ENTRY_OPTIONS)
        resource = spec.get("resource", "")
        if resource != PROFILE and not resource.startswith("cus"):
            errors.append(
                f"resources.{stream}.resource must be 'profile' or 'cus<Name>', got '{resource}'"
            )
            continue
        key = spec.get("key") or (PROFILE_KEY if resource == PROFILE else None)
        if not key:
            errors.append(f"resources.{stream}.key is required for custom resource '{resource}'")
            continue
        links = tuple(
            Link(name=name, stream=link["stream"], field=link["field"])
            for name, link in (spec.get("links") or {}).items()
        )
        key_filter = spec.get("key_filter")
        options, option_errors = parse_options(
            stream, spec, key=key, link_fields={link.field: link.name for link in links}
        )
        errors += option_errors
        routes[stream] = Route(
            stream=stream,
            resource=resource,
            endpoint=spec.get("endpoint") or DEFAULT_ENDPOINT,
            key=key,
            links=links,
            key_filter=KeyFilter(**key_filter) if key_filter else None,
            options=options,
            import_workflow=spec.get("import_workflow") or None,
        )
    for route in routes.values():
        errors.extend(
            f"resources.{route.stream}.links.{link.name}: parent stream '{link.stream}' is "
            "not in resources"
            for link in route.links
            if link.stream not in routes
        )
    errors.extend(_cycles(routes))
    return routes, errors


def _cycles(routes: Mapping[str, Route]) -> list[str]:
    """Parents are written before children, so links must not form a cycle."""
    errors = []
    for start in routes:
        seen = {start}
        frontier = [start]
        while frontier:
            route = routes.get(frontier.pop())
            for link in route.links if route else ():
                if link.stream == start:
                    errors.append(f"resources: stream '{start}' is its own ancestor via links")
                    frontier = []
                    break
                if link.stream not in seen:
                    seen.add(link.stream)
                    frontier.append(link.stream)
    return errors
