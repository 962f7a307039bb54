"""`python -m tests.mutation.widen run ...`: mutmut's command line, with the tests of each mutated function widened
to every test of the test files that reach it.

mutmut runs a mutant only against the tests during which its function ran. A module- or session-scoped fixture (a
release built once for a file's tests) runs in the first test's setup, so mutmut credits the code it runs to that
one test and never runs the file's other tests, the ones that check what the fixture built: their mutants survive
unseen (the first dedup run, 2026-12-06: 50 survivors, most of them caught once the verdicts were computed per
test). Widening costs time for survivors only (a mutant stops at its first failing test, `-x`); a fixture shared
across files (session scope) can still hide a mutant from the other files' tests.
"""

from __future__ import annotations

from typing import Any

import mutmut.__main__ as mutmut_main

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

if __name__ == "__main__":
    mutmut_main.cli()
