"""Fixtures of the end-to-end tests: one Meltano install per session, one sandbox per test."""

from __future__ import annotations

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
    CAMPAIGN_LOADER,
    CAMPAIGN_TAP,
    EVENTS_JOB,
    EVENTS_LOADER,
    EVENTS_TAP,
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
) -> Iterator[Pipeline]:
    """`meltano run d365-to-campaign` with a state id of its own, against this test's sandbox."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    env = {
        **campaign_sandbox.tap_env(),
        **campaign_sandbox.target_campaign_env(),
        "TAP_DYNAMICS365_PAGE_SIZE": str(PAGE_SIZE),
        # D365 is the truth for what this job writes, opt-outs included (seeded Campaign
        # opt-outs would otherwise be kept, as bidirectional mode does: test_optout_sync).
        "TARGET_ADOBE_CAMPAIGN_OPT_OUT_SYNC": "d365_to_campaign",
    }
    runs = Pipeline(
        meltano_project,
        f"{name}-{time.time_ns()}",
        env,
        tmp_path / "runs",
        tap=CAMPAIGN_TAP,
        loader=CAMPAIGN_LOADER,
        job=CAMPAIGN_JOB,
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
) -> Iterator[Pipeline]:
    """`meltano run campaign-to-d365` with a state id of its own, against this test's sandbox."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    target_env = {
        key.replace("TAP_", "TARGET_", 1): value
        for key, value in campaign_sandbox.tap_env().items()
    }
    runs = Pipeline(
        meltano_project,
        f"{name}-{time.time_ns()}",
        {**campaign_sandbox.tap_campaign_env(), **target_env},
        tmp_path / "runs",
        tap=EVENTS_TAP,
        loader=EVENTS_LOADER,
        job=EVENTS_JOB,
    )
    try:
        yield runs
    finally:
        runs.close()
