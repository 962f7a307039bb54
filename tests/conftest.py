"""Shared fixtures: the planted corpus and one release built from it (built once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from pipeline.config import RunConfig
from tests.helpers.corpus import write_planted_corpus

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

if os.environ.get("APERTURA_HYPOTHESIS") == "mutation":
    # `make mutate`: one failing example kills a mutant; shrinking it (up to minutes per mutant) would only cost time
    settings.register_profile("mutation", phases=(Phase.explicit, Phase.reuse, Phase.generate), database=None)
    settings.load_profile("mutation")


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


def pytest_collection_finish(session):
    if os.environ.get("APERTURA_HYPOTHESIS") == "mutation":
        _load_kernels()


def pytest_runtest_logreport(report):
    """`make mutate`: the test that killed a mutant, appended to $APERTURA_MUTATE_KILLS, so the next mutants of the
    same function run it first (`tests/mutation/widen.py`)."""
    kills, mutant = os.environ.get("APERTURA_MUTATE_KILLS"), os.environ.get("MUTANT_UNDER_TEST", "")
    if report.failed and kills and "__mutmut_" in mutant:
        with open(kills, "a", encoding="utf-8") as out:
            out.write(f"{mutant}\t{report.nodeid}\n")


def _load_kernels() -> None:
    """`make mutate` forks each mutant's tests from a process that has only collected them: the compiled kernels
    loaded there once (numba's import and its compiler's set-up, ~0.8 s) are not loaded again by every mutant.
    numpy only: a Polars or DuckDB thread pool started before the fork would hang the forks."""
    import numpy as np

    from pipeline.fingerprints.normalisation import compiled

    def read_only(values: list[int], dtype: type) -> np.ndarray:  # the arrays `utf8_buffers` hands the kernels
        return np.frombuffer(np.asarray(values, dtype).tobytes(), dtype)

    compiled().normalise_ascii(read_only([97], np.uint8), read_only([0, 1], np.int64))
