"""`python -m tests.mutation.widen run ...`: mutmut's command line, with the tests of each mutated function widened
to every test of the test files that reach it.

mutmut runs a mutant only against the tests during which its function ran. A module- or session-scoped fixture (a
release built once for a file's tests) runs in the first test's setup, so mutmut credits the code it runs to that
one test and never runs the file's other tests, the ones that check what the fixture built: their mutants survive
unseen (the first dedup run, 2026-12-06: 50 survivors, most of them caught once the verdicts were computed per
test). Widening costs time for survivors only (a mutant stops at its first failing test, `-x`); a fixture shared
across files (session scope) can still hide a mutant from the other files' tests.

mutmut orders a mutant's tests by their own duration, fixtures not counted, so the tests of several files
interleave and every file's module-scoped fixtures are built again each time its turn comes back (derive's first
run, 2026-12-06: about a minute per killed mutant). Each file's tests are run together instead, the files in the
order the target lists them (its own tests first: a file whose fixtures start a server or build a release, but
whose tests look fast once fixtures are not counted, goes last), so a fixture is built at most once per mutant and
most mutants die before the costly files' turn.

A mutant listed as equivalent (`equivalent.toml`, matched by module, function and diff) cannot die, so it would
cost every test of its files each run (about an hour of verify's run): it is marked skipped before the run
(`APERTURA_MUTATE_EQUIVALENT=skip`, what `tests.mutation.run` sets unless asked to run them) and reported as
equivalent, not run. Running them (`--run-equivalent`) finds entries a later test kills: stale ones.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

import mutmut.__main__ as mutmut_main
import pytest
from mutmut.configuration import config
from mutmut.runners.harness import PytestRunner, change_cwd

_collect = mutmut_main.run_stats_collection


def _widened_stats_collection(runner: Any, tests: Any = None) -> None:
    _collect(runner, tests)
    state = mutmut_main.state()
    by_file: dict[str, set[str]] = {}
    for test in state.duration_by_test:
        by_file.setdefault(test.split("::")[0], set()).add(test)
    for name, reached in state.tests_by_mangled_function_name.items():
        state.tests_by_mangled_function_name[name] = set(reached).union(
            *(by_file.get(test.split("::")[0], ()) for test in reached)
        )
    mutmut_main.save_stats()


mutmut_main.run_stats_collection = _widened_stats_collection


def _by_file(tests: Any) -> list[str]:
    """`tests` (fastest first) with each file's tests together, the files in the order of the target's list (a
    file it does not name, after those it does, in the order of its fastest test)."""
    listed = [entry.split("::")[0] for entry in config().pytest_add_cli_args_test_selection]
    files: dict[str, list[str]] = {}
    for test in tests:
        files.setdefault(test.split("::")[0], []).append(test)
    order = sorted(files, key=lambda file: listed.index(file) if file in listed else len(listed))
    return [test for file in order for test in files[file]]


_run_tests = PytestRunner.run_tests


def _run_tests_by_file(self: PytestRunner, *, mutant_name: str | None, tests: Any) -> int:
    if not tests:  # mutmut's forced-fail run: the target's whole selection
        return _run_tests(self, mutant_name=mutant_name, tests=tests)
    wanted = _killers_first(mutant_name, _by_file(tests))
    files = list(dict.fromkeys(test.split("::")[0] for test in wanted))
    # the fork server collected the tests once already (its warm-up), and pytest keeps the ids it generated for a
    # parametrized test on the test's mark, then escapes them again when the same module is collected a second time
    # (`[\\]` becomes `[\\\\]`): imported afresh, the test modules are collected as mutmut's stats named them
    _forget_tests()
    with change_cwd("mutants"):
        return int(self.execute_pytest(self._pytest_args_regular_run(files), plugins=[_Select(wanted)]))


class _Select:
    """Keeps of the collected tests those named, in the order named. The files are given to pytest, not the tests:
    pytest escapes a test id's backslashes and non-ASCII characters (`[\\xe9]`) and cannot select a test by that
    id, so a command line naming one is a usage error, which mutmut records as a timeout, i.e. killed (the answer
    target's first run, 2026-12-07: every mutant of the functions the hostile-input tests reach, untested).

    A named test that was not collected is a usage error too (exit code 4: mutmut's runner raises, the fork exits
    255, "runner failed" in tests.mutation.run), never a silent pass: the second collection's ids (above) dropped
    the hostile-input tests from every mutant's run, and `_clean`'s two mutants that only they kill "survived"
    (the answer target, 2026-12-08)."""

    def __init__(self, tests: list[str]) -> None:
        self.rank = {test: n for n, test in enumerate(tests)}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        missing = self.rank.keys() - {item.nodeid for item in items}
        if missing:
            raise pytest.UsageError(f"{len(missing)} of the tests to run were not collected: {sorted(missing)[:3]}")
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in self.rank])
        items[:] = sorted((item for item in items if item.nodeid in self.rank), key=lambda item: self.rank[item.nodeid])


def _killers_first(mutant: str | None, tests: list[str]) -> list[str]:
    """`tests` with those that killed other mutants of the same function first, the most kills first: a function's
    mutants mostly die in the same few tests, which file order can put last (verify's run, 2026-12-07: a mutant of
    `_check_optout` ran a hundred tests before the one that checks its answer, ~20 s a mutant). The kills are what
    tests/conftest.py appends to $APERTURA_MUTATE_KILLS as each mutant dies."""
    kills, killed_by = os.environ.get("APERTURA_MUTATE_KILLS"), Counter()
    if mutant and kills and os.path.exists(kills):
        function = mutant.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]  # as tests.mutation.run.function_of
        with open(kills, encoding="utf-8") as lines:
            killed_by = Counter(test for killed, _, test in (line.rstrip("\n").partition("\t") for line in lines)
                                if killed.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0] == function)  # fmt: skip
    if not killed_by:  # a function's first mutants: the tests of a whole, untampered result check most answers
        killed_by = Counter(test for test in tests if "untouched" in test)
    first = sorted((test for test in tests if test in killed_by), key=lambda test: -killed_by[test])
    return first + [test for test in tests if test not in killed_by]


PytestRunner.run_tests = _run_tests_by_file

_create_mutants = mutmut_main.create_mutants


def _create_mutants_skipping_equivalent(max_children: int) -> Any:
    stats = _create_mutants(max_children)
    if os.environ.get("APERTURA_MUTATE_EQUIVALENT") == "skip":
        _skip_listed_equivalent()
        _forget_tests()  # imported from the scratch tree for the list: the forks must import their own
    return stats


def _skip_listed_equivalent() -> None:
    """Mark each mutant not yet checked that `equivalent.toml` lists as skipped (mutmut's exit code 34): mutmut
    then leaves it, as it leaves any mutant with a result. Only the diffs of functions with a listed entry are made."""
    from mutmut.mutation.data import SourceFileMutationData

    from tests.mutation.run import SKIPPED, change_of, function_of, load_equivalent

    listed = load_equivalent()
    functions = {(module, function) for module, function, _ in listed}
    for path in mutmut_main.walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        skipped = [key for key, code in data.exit_code_by_key.items() if code is None
                   and (str(path), function_of(key)) in functions
                   and (str(path), function_of(key), change_of(key, path)) in listed]  # fmt: skip
        for key in skipped:
            data.exit_code_by_key[key] = SKIPPED
        if skipped:
            data.save()
            print(f"    {path}: {len(skipped)} listed as equivalent, not run", flush=True)


mutmut_main.create_mutants = _create_mutants_skipping_equivalent

_collect_or_load_stats = mutmut_main.collect_or_load_stats


def _collect_stats_skipping_equivalent(*args: Any, **kwargs: Any) -> None:
    """mutmut resets results after making the mutants (those of a function whose callees or tests changed): the
    listed equivalents among them are skipped again (verify's update of 2026-12-07 ran about twenty of them, each
    with the whole test list)."""
    _collect_or_load_stats(*args, **kwargs)
    if os.environ.get("APERTURA_MUTATE_EQUIVALENT") == "skip":
        _skip_listed_equivalent()
        _forget_tests()


mutmut_main.collect_or_load_stats = _collect_stats_skipping_equivalent


def _forget_tests() -> None:
    """This module was imported as `tests.mutation.widen` from the scratch tree; pytest, run by mutmut inside
    `mutants/`, must import `tests` (and its conftest) from there: a forked child inherits the modules loaded here
    (a resumed run failed with ImportPathMismatchError on tests.conftest)."""
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        del sys.modules[name]


if __name__ == "__main__":
    _forget_tests()
    mutmut_main.cli()
