"""The mutation runner's test selection (`widen.py`), on a throw-away project: a test whose id pytest escapes (a
backslash, a non-ASCII character) must run in every mutant's fork, and a named test that is not collected must
stop the run, never pass unseen. Needs mutmut (the `mutate` extra): skipped without it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mutmut")

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import pytest
sys.path.insert(0, sys.argv[1])
from tests.mutation import widen  # the repository's `tests` package, as `python -m tests.mutation.widen` has it
widen._forget_tests()

class Seen:
    def __init__(self):
        self.collected, self.passed = [], 0
    def pytest_collection_modifyitems(self, items):
        self.collected = [item.nodeid for item in items]
    def pytest_runtest_logreport(self, report):
        self.passed += report.when == "call" and report.passed

def run(*plugins, collect=False):
    args = ["-q", "-p", "no:cacheprovider", *(["--collect-only"] if collect else []), "tests/test_ids.py"]
    return int(pytest.main(args, plugins=list(plugins)))

first = Seen(); run(first, collect=True)  # what mutmut's stats name: the fork server's warm-up collection
again = Seen(); stale = run(widen._Select(first.collected), again)  # the same modules collected a second time
widen._forget_tests()
fresh = Seen(); code = run(widen._Select(first.collected), fresh)  # imported afresh, as each mutant's run does
print(json.dumps({"names": first.collected, "stale": stale, "code": code, "passed": fresh.passed}))
"""


def test_escaped_ids_run_in_a_second_collection_and_a_lost_test_stops_the_run(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["tests/"]\n')  # mutmut's settings
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_ids.py").write_text(  # ids from a callable, as the hostile-input tests give them
        'import pytest\n\n\n@pytest.mark.parametrize("value", ["\\\\", "\\u00e9", "plain"], ids=lambda v: v)\n'
        "def test_ids(value):\n    assert value\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert any("\\" in name for name in out["names"]) and len(out["names"]) == 3  # ids pytest escapes
    assert out["stale"] == pytest.ExitCode.USAGE_ERROR  # re-escaped ids match no name: the run stops, loudly
    assert (out["code"], out["passed"]) == (pytest.ExitCode.OK, 3)  # every named test ran
