"""The singer-sdk internals the plugins depend on: still there, and still shaped as we use them.

The plugins use a few private singer-sdk members where the SDK has no public way to do the job.
Each one is listed in INTERNALS with the reason. A new SDK that renames or removes one, or
changes its parameters, fails here, naming the member, before it fails in a user's pipeline:
- every override of a private SDK member is marked `typing_extensions.override` and listed;
- every member marked `override` still exists on an SDK base class, with the same parameters;
- every private SDK module the plugins import from is listed, and exports what they use.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from importlib.metadata import version
from types import ModuleType

import pytest

from tests.harness import REPO_ROOT

SDK_VERSION = version("singer-sdk")
#: Every package of the plugins (import name → folder): the plugins and their shared code.
PACKAGES = {
    "tap_dynamics365": "tap-dynamics365",
    "tap_adobe_campaign": "tap-adobe-campaign",
    "target_adobe_campaign": "target-adobe-campaign",
    "target_dynamics365": "target-dynamics365",
    "dataverse_client": "clients/dataverse",
    "campaign_client": "clients/campaign",
    "sync_support": "support",
}


@dataclass(frozen=True)
class Internal:
    """A private singer-sdk member a plugin overrides or calls, and why."""

    owner: str  # "singer_sdk.Stream", or a module: "singer_sdk.helpers._util"
    member: str
    why: str


INTERNALS = (
    Internal(
        "singer_sdk.Stream",
        "_generate_record_messages",
        "tap-dynamics365 overrides it: records are built typed, the per-record conformance "
        "pass (a third of the tap's time per record) has nothing to do",
    ),
    Internal(
        "singer_sdk.Stream",
        "_increment_stream_state",
        "tap-dynamics365 overrides it: change-tracked streams resume from their links, "
        "their bookmark is the highest modifiedon seen",
    ),
    Internal(
        "singer_sdk.RESTStream",
        "_request",
        "tap-dynamics365 calls it (under request_decorator) for each page it prefetches on a "
        "worker thread: the SDK's own send, with authentication, the request metric and "
        "validate_response, as the SDK's request_records does",
    ),
    Internal(
        "singer_sdk.Stream",
        "_write_state_message",
        "the taps call it after every page (or export file): a checkpoint mid-stream",
    ),
    Internal(
        "singer_sdk.Stream",
        "_write_activate_version_message",
        "sync_support.versions calls it after a read of a whole table (both taps): the SDK "
        "sends ACTIVATE_VERSION only at the start of FULL_TABLE streams, ours are incremental",
    ),
    Internal(
        "singer_sdk.Stream",
        "_stream_version",
        "sync_support.versions sets it for a read of a whole table: the version its RECORD "
        "messages carry and ACTIVATE_VERSION activates",
    ),
    Internal(
        "singer_sdk.Target",
        "_write_state_message",
        "both targets override it: no STATE in a dry run, none past records still waiting, "
        "none twice",
    ),
    Internal(
        "singer_sdk.Target",
        "_handle_termination",
        "all four override it: the SDK's target handler drains the interrupted sink again and "
        "checkpoints unwritten records, its tap handler exits 0 as if the read had completed",
    ),
    Internal(
        "singer_sdk.plugin_base.PluginBase",
        "_validate_config",
        "all four override it: their own settings checks run where the SDK's do, before the "
        "mapper or discovery sends a request, and a problem becomes one line with exit 2",
    ),
    Internal(
        "singer_sdk.configuration._dict_config",
        "parse_environment_config",
        "the taps' check commands read `--config ENV` with it in the order given (the SDK's "
        "own env parsing always wins over files, and leaves Meltano's flattened object keys)",
    ),
    Internal(
        "singer_sdk.sinks.Sink",
        "_validate_and_parse",
        "target-adobe-campaign overrides it: value replacements apply before validation "
        "(there is no public hook before it)",
    ),
)


def _resolve(owner: str) -> object:
    module_name, _, attribute = owner.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        return importlib.import_module(owner)


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda i: f"{i.owner}.{i.member}")
def test_each_listed_internal_still_exists(internal: Internal) -> None:
    owner = _resolve(internal.owner)
    # An instance attribute (`_stream_version`) is found where the SDK's class assigns it.
    assigned = inspect.isclass(owner) and f"self.{internal.member}:" in inspect.getsource(owner)
    assert hasattr(owner, internal.member) or assigned, (
        f"singer-sdk {SDK_VERSION} has no {internal.owner}.{internal.member}, which {internal.why}"
    )


def _plugin_modules() -> list[ModuleType]:
    modules = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules.append(package)
        for info in pkgutil.iter_modules(package.__path__, f"{name}."):
            modules.append(importlib.import_module(info.name))
    return modules


def _sdk_classes_defining(cls: type, name: str) -> list[type]:
    return [
        base
        for base in cls.__mro__[1:]
        if base.__module__.startswith("singer_sdk") and name in vars(base)
    ]


def _plugin_classes() -> list[type]:
    classes = {
        value
        for module in _plugin_modules()
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__
    }
    return sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _function(value: object) -> object:
    return getattr(value, "fget", None) or getattr(value, "__func__", None) or value


def test_every_override_of_a_private_sdk_member_is_marked_and_listed() -> None:
    listed = {i.member for i in INTERNALS}
    problems = []
    for cls in _plugin_classes():
        for name, value in vars(cls).items():
            if not name.startswith("_") or name.startswith("__") or name == "_abc_impl":
                continue
            where = f"{cls.__module__}.{cls.__qualname__}.{name}"
            if _sdk_classes_defining(cls, name):
                if not getattr(_function(value), "__override__", False):
                    problems.append(f"{where} overrides singer-sdk's {name} without @override")
                if name not in listed:
                    problems.append(f"{where} overrides singer-sdk's {name}, not in INTERNALS")
    assert problems == []


def test_every_marked_override_still_matches_the_sdk() -> None:
    problems = []
    for cls in _plugin_classes():
        for name, value in vars(cls).items():
            function = _function(value)
            if not getattr(function, "__override__", False):
                continue
            where = f"{cls.__module__}.{cls.__qualname__}.{name}"
            bases = _sdk_classes_defining(cls, name)
            if not bases and not any(name in vars(b) for b in cls.__mro__[1:]):
                problems.append(
                    f"{where} is marked @override, but singer-sdk {SDK_VERSION} "
                    "has no such member any more"
                )
                continue
            if not bases:
                continue  # overrides a plugin's own class
            sdk = _function(vars(bases[0])[name])
            if callable(function) and callable(sdk):
                ours = list(inspect.signature(function).parameters)
                theirs = list(inspect.signature(sdk).parameters)
                if ours != theirs:
                    problems.append(
                        f"{where}{ours} no longer matches singer-sdk {SDK_VERSION}'s "
                        f"{bases[0].__qualname__}.{name}{theirs}"
                    )
    assert problems == []


def _private_sdk_imports() -> set[tuple[str, str]]:
    """(module, name) of every `from singer_sdk…_private… import name` in the plugins."""
    found: set[tuple[str, str]] = set()
    for package, folder in PACKAGES.items():
        for path in (REPO_ROOT / folder / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    if parts[0] == "singer_sdk" and any(p.startswith("_") for p in parts):
                        found.update((node.module, alias.name) for alias in node.names)
    return found


def test_private_sdk_modules_are_listed_and_export_what_is_used() -> None:
    listed = {(i.owner, i.member) for i in INTERNALS}
    imported = _private_sdk_imports()
    assert imported - listed == set(), "private singer-sdk imports missing from INTERNALS"
