"""Fixtures of the end-to-end tests: one Meltano install per session, one sandbox per test."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_sandbox.testing import Sandbox, launch

from tests.dataverse_reader import DataverseReader
from tests.harness import MeltanoProject, Pipeline

CONTACTS = 2000  # seeded contacts; accounts, projects and tasks follow from it
PAGE_SIZE = 250  # small pages: several checkpoints per table


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """This repository's meltano.yml with private plugin venvs, installed once."""
    project = MeltanoProject(tmp_path_factory.mktemp("meltano"))
    seconds = project.install()
    print(f"\nmeltano install (tap-dynamics365, target-jsonl): {seconds:.1f} s")
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
