"""Shared fixtures: the public reference fixtures in ../shared/testdata and the bundled sample projects."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """``../shared/testdata`` (COCO and VOC reference cases with known answers)."""
    if not SHARED_TESTDATA.is_dir():
        pytest.fail(f"reference fixtures not found at {SHARED_TESTDATA}: clone the repo with ../shared beside it")
    return SHARED_TESTDATA


@pytest.fixture(scope="session")
def explorer_home(tmp_path_factory) -> Path:
    """A private EXPLORER_HOME for the session, so tests never touch the user's cache."""
    home = tmp_path_factory.mktemp("explorer_home")
    os.environ["EXPLORER_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def sample_projects(explorer_home) -> dict[str, Path]:
    """Every bundled sample built into a project (with data metrics), by sample name."""
    from explorer.samples import build_sample, list_samples

    return {spec["name"]: build_sample(spec, progress=False) for spec in list_samples()}


@pytest.fixture(scope="session")
def detection_project(sample_projects) -> Path:
    """The bundled detection sample, built into a project folder."""
    return sample_projects["detection"]
