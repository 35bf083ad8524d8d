"""Fixtures of the end-to-end tests: one Meltano install per session, one sandbox per test."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_sandbox.testing import Sandbox, launch

from tests.campaign_reader import CampaignReader
from tests.dataverse_reader import DataverseReader
from tests.harness import (
    CAMPAIGN_JOB,
    CAMPAIGN_JOB_V8,
    CAMPAIGN_LOADER,
    CAMPAIGN_LOADER_V8,
    CAMPAIGN_TAP,
    CAMPAIGN_V8_PREFIX,
    EVENTS_JOB,
    EVENTS_JOB_V8,
    EVENTS_LOADER,
    EVENTS_TAP,
    EVENTS_TAP_V8,
    EVENTS_V8_PREFIX,
    WIZARD_GOLDEN,
    WIZARD_TABLES,
    MeltanoProject,
    Pipeline,
)

# tests/target-jsonl is a package with unit tests of its own (`make test-unit` runs them).
collect_ignore = ["target-jsonl"]

CONTACTS = 2000  # seeded contacts; accounts, projects and tasks follow from it
PAGE_SIZE = 250  # small pages: several checkpoints per table
# d365-to-campaign: D365 contacts (projects = contacts / 4) and the Campaign profiles seeded
# beside them; some of those carry the externalId of a D365 contact (an earlier sync), most
# do not (profiles created in Campaign, which the integration must leave alone).
CAMPAIGN_CONTACTS = 600
CAMPAIGN_PROFILES = 300
#: Campaign's two APIs: Standard's REST (the default jobs) and a v8 instance's SOAP router (the
#: `-v8` jobs). A test takes `backend` as a parameter to run on both (`BACKENDS`).
BACKENDS = ("standard", "v8")
#: The tables of meltano.yml's account and salesorder entries, and the schema wizard's output
#: for them, which those entries are (target-adobe-campaign/tests/wizard_golden).


@pytest.fixture
def backend() -> str:
    """The Campaign API the test's jobs use; `@pytest.mark.parametrize("backend", BACKENDS)`."""
    return "standard"


def prepare_campaign_schemas(
    sb: Sandbox, backend: str, project: MeltanoProject, work_dir: Path
) -> None:
    """Make Campaign ready for account and salesorder, as an administrator would.

    Standard: the wizard's custom resources (`resource.json`) published, cusAccount first (an
    order links to it). v8: the wizard itself, `meltano invoke target-adobe-campaign:wizard
    --tables account,salesorder --apply`, writing and building cus:account and cus:salesorder
    on the instance; its files must be the golden ones meltano.yml's entries come from.
    """
    if backend == "standard":
        for table in WIZARD_TABLES:
            definition = json.loads((WIZARD_GOLDEN / table / "resource.json").read_text())
            sb.campaign.admin.publish_resource(definition)
        return
    out = work_dir / "campaign-schemas"
    env = {**sb.tap_env(), **sb.target_campaign_env(), **sb.v8_env("TARGET_ADOBE_CAMPAIGN")}
    done = project.meltano(
        "invoke",
        "target-adobe-campaign:wizard",
        *("--tables", ",".join(WIZARD_TABLES), "--out", str(out), "--apply"),
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for table in WIZARD_TABLES:
        for name in ("srcSchema.xml", "meltano.v8.yml", "meltano.standard.yml"):
            golden = (WIZARD_GOLDEN / table / name).read_text()
            assert (out / table / name).read_text() == golden, f"{table}/{name}"


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """This repository's meltano.yml with private plugin venvs, installed once."""
    project = MeltanoProject(tmp_path_factory.mktemp("meltano"))
    seconds = project.install()
    print(f"\nmeltano install (both jobs' plugins): {seconds:.1f} s")
    return project


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh Dataverse sandbox on free ports, seeded with the same data every time."""
    sb = launch(state_dir=tmp_path / "sandbox", contacts=CONTACTS, seed=42)
    try:
        yield sb
    finally:
        sb.admin.session.close()  # release our keep-alive connection before the shutdown
        sb.stop()


@pytest.fixture
def reader(sandbox: Sandbox) -> Iterator[DataverseReader]:
    """Plain-HTTP view of the sandbox, independent of the tap."""
    dataverse = DataverseReader(sandbox.tap_env())
    try:
        yield dataverse
    finally:
        dataverse.session.close()


@pytest.fixture
def pipeline(
    request: pytest.FixtureRequest,
    meltano_project: MeltanoProject,
    sandbox: Sandbox,
    tmp_path: Path,
) -> Iterator[Pipeline]:
    """`tap-dynamics365 → target-jsonl` with a state id of its own, against this test's sandbox."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    env = {**sandbox.tap_env(), "TAP_DYNAMICS365_PAGE_SIZE": str(PAGE_SIZE)}
    runs = Pipeline(meltano_project, f"{name}-{time.time_ns()}", env, tmp_path / "runs")
    try:
        yield runs
    finally:
        runs.close()


@pytest.fixture
def campaign_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh Dataverse + Campaign sandbox on free ports, seeded the same way every time."""
    sb = launch(
        state_dir=tmp_path / "sandbox",
        contacts=CAMPAIGN_CONTACTS,
        profiles=CAMPAIGN_PROFILES,
        seed=42,
    )
    try:
        yield sb
    finally:
        sb.admin.session.close()
        sb.campaign.admin.session.close()
        sb.stop()


@pytest.fixture
def d365(campaign_sandbox: Sandbox) -> Iterator[DataverseReader]:
    """Plain-HTTP view of the Dataverse side of `campaign_sandbox`."""
    reader = DataverseReader(campaign_sandbox.tap_env())
    try:
        yield reader
    finally:
        reader.session.close()


@pytest.fixture
def campaign(campaign_sandbox: Sandbox) -> Iterator[CampaignReader]:
    """Plain-HTTP view of the Campaign side of `campaign_sandbox`."""
    reader = CampaignReader(campaign_sandbox.campaign, campaign_sandbox.ca_file)
    try:
        yield reader
    finally:
        reader.session.close()


@pytest.fixture
def campaign_pipeline(
    request: pytest.FixtureRequest,
    meltano_project: MeltanoProject,
    campaign_sandbox: Sandbox,
    tmp_path: Path,
    backend: str,
) -> Iterator[Pipeline]:
    """`meltano run d365-to-campaign` (`-v8` on v8) with a state id of its own, against this
    test's sandbox, Campaign's account and salesorder schemas made first."""
    prepare_campaign_schemas(campaign_sandbox, backend, meltano_project, tmp_path)
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    env = {
        **campaign_sandbox.tap_env(),
        **campaign_sandbox.target_campaign_env(),
        "TAP_DYNAMICS365_PAGE_SIZE": str(PAGE_SIZE),
        # D365 is the truth for what this job writes, opt-outs included (seeded Campaign
        # opt-outs would otherwise be kept, as bidirectional mode does: test_optout_sync).
        "TARGET_ADOBE_CAMPAIGN_OPT_OUT_SYNC": "d365_to_campaign",
    }
    v8 = backend == "v8"
    if v8:
        env.update(campaign_sandbox.v8_env(CAMPAIGN_V8_PREFIX))
    runs = Pipeline(
        meltano_project,
        f"{name}-{time.time_ns()}",
        env,
        tmp_path / "runs",
        tap=CAMPAIGN_TAP,
        loader=CAMPAIGN_LOADER_V8 if v8 else CAMPAIGN_LOADER,
        job=CAMPAIGN_JOB_V8 if v8 else CAMPAIGN_JOB,
    )
    try:
        yield runs
    finally:
        runs.close()


@pytest.fixture
def events_pipeline(
    request: pytest.FixtureRequest,
    meltano_project: MeltanoProject,
    campaign_sandbox: Sandbox,
    tmp_path: Path,
    backend: str,
) -> Iterator[Pipeline]:
    """`meltano run campaign-to-d365` (`-v8` on v8: logs and recipients over SOAP) with a state
    id of its own, against this test's sandbox."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    target_env = {
        key.replace("TAP_", "TARGET_", 1): value
        for key, value in campaign_sandbox.tap_env().items()
    }
    env = {**campaign_sandbox.tap_campaign_env(), **target_env}
    v8 = backend == "v8"
    if v8:
        env.update(campaign_sandbox.v8_env(EVENTS_V8_PREFIX))
    runs = Pipeline(
        meltano_project,
        f"{name}-{time.time_ns()}",
        env,
        tmp_path / "runs",
        tap=EVENTS_TAP_V8 if v8 else EVENTS_TAP,
        loader=EVENTS_LOADER,
        job=EVENTS_JOB_V8 if v8 else EVENTS_JOB,
    )
    try:
        yield runs
    finally:
        runs.close()
