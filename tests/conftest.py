"""Shared fixtures: the planted corpus and one release built from it (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import RunConfig
from tests.helpers.corpus import write_planted_corpus

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture(autouse=True)
def _fresh_request_limits(monkeypatch):
    """The app's per-address limit of opt-out requests lives in its process, as a server's does: each test starts
    with nobody having filed anything (tests that flood it do so inside one test)."""
    from audit_app import registry

    monkeypatch.setattr(registry, "LIMITER", registry.AddressLimiter(registry.MAX_REQUESTS_PER_ADDRESS_PER_HOUR))


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("planted")
    return write_planted_corpus(directory)


@pytest.fixture(scope="session")
def planted_release(planted, tmp_path_factory):
    """(release path, manifest, expectations) for the planted corpus with the default config."""
    from pipeline.cli import build
    from pipeline.sources.inputs import expand_inputs

    paths, expect = planted
    out = tmp_path_factory.mktemp("releases") / "r1"
    manifest = build(expand_inputs([str(p) for p in paths]), RunConfig(), out)
    return out, manifest, expect


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES
