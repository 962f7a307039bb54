"""`make mutate`: mutation testing of the proof code, one module at a time, with the tests that cover it.

The modules whose answers people rely on (`verify`, the opt-out decisions, the registry, URL and text identity,
dedup clustering and PII redaction, `derive`, the membership index and the one answer) are mutated by mutmut, each
run only against the tests mapped to it in `TARGETS` (all the tests would take days; these take minutes to hours).
Every run happens in a scratch copy of the tree under `.mutate/<target>/`, so the work tree is never touched.

    python -m tests.mutation.run                  # every target; report in .mutate/report.md, exit 1 below a floor
    python -m tests.mutation.run verify robots    # some targets
    python -m tests.mutation.run --report-only    # rebuild the report from the recorded runs
    python -m tests.mutation.run --resume verify  # go on with a stopped run, here or from its record (any clone)
    python -m tests.mutation.run --recheck robots # only the last run's survivors, against the tests as they are now
    python -m tests.mutation.run --update verify  # after a change: the changed functions' mutants, the rest kept
    python -m tests.mutation.run --run-equivalent robots  # the mutants listed as equivalent run too (skipped else)

A surviving mutant is either a missing test (write it) or equivalent: it cannot change any answer. Equivalent
ones are listed, each with its reason, in `tests/mutation/equivalent.toml` and leave the score's denominator.
Score per target = killed / (mutants - equivalent); a timeout counts as killed, "no tests" as survived.

Each run is recorded in `tests/mutation/results/<target>.json` (committed): every mutant's exit code, the hash of
each mutated function and the diff of every mutant not killed. The report is built from the records, and a run
stopped on one machine goes on from its record on another (a fresh clone keeps nothing of `.mutate/`): mutmut keeps
the result of every mutant whose function's code is unchanged and tests the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutate"
RESULTS = Path(__file__).with_name("results")  # one record per target, committed
KILLS = "kills.tsv"  # in a scratch tree: each killed mutant and the test that killed it
EQUIVALENT = Path(__file__).with_name("equivalent.toml")
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
UNCHECKED = {"not checked", "check was interrupted by user", "skipped"}
# the test runner raised in the fork (pytest's usage error among others), so no test ran: mutmut calls it a timeout,
# i.e. killed; here it is neither killed nor unchecked, so it lowers the score and `--recheck` runs it again
RUNNER_FAILED = 255
SKIPPED = 34  # mutmut's exit code for "skipped": what `widen` marks a mutant listed as equivalent with, unrun


@dataclass(frozen=True)
class Target:
    modules: tuple[str, ...]  # files mutated
    tests: tuple[str, ...]  # pytest selection run against each mutant (mutmut narrows it to tests that reach it)
    floor: float | None  # minimum score (%) after equivalents, set from the first honest run; None: not yet run
    env: tuple[str, ...] = ()  # variables set to a fresh directory in the scratch tree (fixtures shared by mutants)


TARGETS: dict[str, Target] = {
    "verify": Target(
        ("pipeline/verify.py", "pipeline/index/verify.py"),
        ("tests/test_verify_checks.py",
         *(f"tests/test_remote_release.py::{test}" for test in (  # a remote release: what verify fetched and refused
             "test_verify_reads_a_published_release_from_s3",
             "test_a_tampered_object_fails_verify_even_after_a_good_copy_was_cached",
             "test_a_described_object_larger_than_recorded_is_never_downloaded",
             "test_many_undescribed_objects_are_refused_over_the_limit",
             "test_a_huge_undescribed_object_is_refused_over_the_byte_limit",
             "test_a_listed_file_missing_from_the_store_is_refused",
             "test_a_malformed_remote_manifest_is_named_by_its_uri",
         )),
         # a format 2 and a format 3 release: which index entries verify compares, and which it marks not checked
         "tests/test_older_formats.py::test_an_index_of_a_format_2_release_is_marked_not_checked_where_format_3_is_compared"),
        99.0,  # 2026-12-07: 3,015 of 3,015 killed (100 %), 93 equivalent; first pass (2026-12-05) 87.9 %
        ("APERTURA_VERIFY_CHECKS_RELEASE",),  # the release every check's tampering starts from, built once
    ),
    "robots": Target(
        ("pipeline/optout/robots.py",),
        ("tests/optout/test_robots.py", "tests/optout/test_aipref.py"),
        99.0,  # 2026-12-06 full run: 905 of 905 killed (100 %), 27 equivalent; 85.5 % before the day's tests
    ),
    "tdmrep": Target(
        ("pipeline/optout/tdmrep.py",),
        ("tests/optout/test_tdmrep.py",),
        99.0,  # 2026-12-06: 371 of 371 killed (100 %), 10 equivalent; first full run 76.4 %, survivors rechecked
    ),
    "signals": Target(
        ("pipeline/optout/noai.py", "pipeline/optout/aitxt.py", "pipeline/optout/aipref.py",
         "pipeline/optout/agents.py", "pipeline/optout/base.py"),
        ("tests/optout/test_noai_aitxt_agents.py", "tests/optout/test_aipref.py", "tests/optout/test_robots.py",
         "tests/optout/test_tdmrep.py"),
        99.0,  # 2026-12-06: 440 of 440 killed (100 %), 22 equivalent; first full run 65.2 % (46 of it "no tests":
        # the agent-list tests skipped without the shared fixtures), survivors rechecked
    ),
    "policies": Target(
        ("pipeline/optout/policies.py", "pipeline/optout/explain.py", "pipeline/optout/families.py"),
        ("tests/optout/test_policy_index.py", "tests/optout/test_families.py", "tests/test_reasons.py",
         "tests/optout/test_optout_step.py", "tests/sources/test_split_scan.py",
         "tests/optout/test_explain_sample_web.py", "tests/optout/test_new_family.py",
         "tests/hardening/test_policy_files.py", "tests/test_consent_everywhere.py"),
        99.0,  # 2026-12-07 whole run with families.py: 94.5 %, survivors rechecked against test_families.py: 530
        # of 530 killed, 7 equivalent; first run 66.1 % (too narrow a test list)
    ),
    "registry": Target(
        ("pipeline/optout/registry.py",),
        ("tests/optout/test_registry_match.py", "tests/test_registry_requests.py", "tests/test_registry_consent.py"),
        99.0,  # 2026-12-07, a whole run in a fresh clone: 996 of 996 killed (100 %), 74 equivalent; 95.8 % before
        # its 43 survivors (nearly all in `match`) were rechecked against tests/optout/test_registry_match.py
    ),
    "url_identity": Target(
        ("pipeline/url_identity.py",),
        ("tests/test_url_identity.py", "tests/index/test_check.py"),  # the SQL conditions: lookups by domain/URL
        99.0,  # 2026-12-07, a whole run in a fresh clone, survivors rechecked: 402 of 402 killed (100 %), 42
        # equivalent; first full run 69.8 %
    ),
    "text_identity": Target(
        ("pipeline/text_identity.py", "pipeline/steps/pii.py"),
        ("tests/test_text_identity.py", "tests/steps/test_language_pii.py"),
        99.0,  # 2026-12-06: 247 of 247 killed (100 %), 7 equivalent; first full run 94.1 %, survivors rechecked
    ),
    "dedup": Target(
        ("pipeline/fingerprints/lsh.py",),
        ("tests/fingerprints/test_dedup.py",),
        99.0,  # 2026-12-07 whole run, survivors rechecked: 519 of 519 killed, 18 equivalent; first full run 89.4 %
        # (the corpus verdicts were a module fixture, so mutmut ran only the first test using them)
    ),
    "derive": Target(
        ("pipeline/derive.py",),
        ("tests/test_derive.py", "tests/test_derive_snapshots.py", "tests/test_registry_consent.py",
         "tests/test_relocation.py", "tests/optout/test_new_family.py", "tests/test_older_formats.py",
         "tests/proofs/test_release_proofs.py", "tests/test_consent_everywhere.py"),  # snapshots, older and signed
        # parents: derive's other paths
        99.0,  # 2026-12-07, a whole run in a fresh clone: 592 of 592 killed (100 %), 34 equivalent; the run before
        # left 5 alive, killed by a test of a derived release's child and verify's opt-out figures and sidecar id
    ),
    "membership": Target(
        ("pipeline/index/query.py", "pipeline/index/compare.py"),
        ("tests/index/test_check.py", "tests/index/test_reports.py", "tests/index/test_text_identity.py",
         "tests/index/test_search.py", "tests/index/test_cli.py", "tests/index/test_compare.py",
         "tests/index/test_text_reports.py", "tests/index/test_answer_edges.py", "tests/index/test_text_counts.py"),
        98.0,  # 2026-12-07: whole run on its code 99.4 %, then updated after the text checks' counts changed and
        # after the full phrase search: 99.0 % (1966 killed, 83 equivalent, 19 alive); 2026-12-08, the lower bound's
        # edges tested: 99.6 % (1975 killed, 86 equivalent, 7 alive); first run 67.7 %
        ("APERTURA_INDEX_RELEASE", "APERTURA_REPORTS_RELEASE", "APERTURA_EDGES_RELEASE",
         "APERTURA_COUNTS_RELEASE"),  # releases built once
    ),
    "answer": Target(  # the one place deciding the domain / URL / text verdicts of the app's pages and `check`
        ("pipeline/index/answer.py",),
        ("tests/index/test_answer.py", "tests/index/test_answer_edges.py", "tests/app/test_one_answer.py",
         "tests/app/test_queries.py", "tests/app/test_rights_releases.py", "tests/app/test_background_scans.py",
         "tests/hardening/test_cli_hostile.py", "tests/index/test_cli.py", "tests/index/test_reports.py",
         "tests/index/test_text_reports.py", "tests/index/test_text_identity.py", "tests/test_reasons.py",
         "tests/test_consent_everywhere.py"),  # the app's other page tests (rendering, hostile boxes) left out: a
        # survivor cost them all (~2 min a mutant), and the pages' verdicts are the one-answer tests'
        99.0,  # 2026-12-08: 995 of 995 killed (100 %), 33 equivalent; its first whole run's 94.7 % was false (792
        # mutants had run no test: widen.py's selection by node id), then 93.0 % with the runner fixed; its last two
        # survivors died once the tests with escaped ids ran in the forks (widen.py: test modules imported afresh)
        ("APERTURA_INDEX_RELEASE", "APERTURA_REPORTS_RELEASE", "APERTURA_EDGES_RELEASE", "APERTURA_THIN_RELEASE",
         "APERTURA_TEXTLESS_RELEASE"),
    ),
}

# copied into each scratch tree; mutmut copies `tests/` and pyproject.toml itself
ALSO_COPY = ["schemas/", "audit_app/", "data/", "bench/"]
IGNORE = shutil.ignore_patterns(".git", ".venv*", ".mutate", "mutants", "releases", "crawls", "registry",
                                "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.egg-info")  # fmt: skip


def scratch(name: str, target: Target) -> Path:
    """A fresh copy of the tree whose pyproject.toml tells mutmut what to mutate and which tests to run."""
    where = WORK / name
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(ROOT, where, ignore=IGNORE)
    configure(where, target)
    return where


def configure(where: Path, target: Target) -> None:
    """The work tree's pyproject.toml with mutmut's settings for `target` appended, into the scratch tree."""
    config = {
        "source_paths": ["pipeline/"],
        "only_mutate": list(target.modules),
        "pytest_add_cli_args_test_selection": list(target.tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-x"],
        "also_copy": ALSO_COPY,
        "timeout_multiplier": 5.0,  # mutmut's default 15x the tests' own time mostly waits on endless loops
        # each mutant's tests run in a fork of a process that has only collected them: forking the process that
        # already ran them would inherit Polars' and DuckDB's thread pools (a fork then hangs) and warm caches
        # (`lru_cache` answers computed by unmutated code would hide the mutant)
        "process_isolation": "forkserver",
        "forkserver_warmup": "collect",
    }
    lines = ["", "[tool.mutmut]", *(f"{k} = {json.dumps(v)}" for k, v in config.items()), ""]
    (where / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8") + "\n".join(lines),
                                          encoding="utf-8")  # fmt: skip


def run_target(name: str, target: Target, *, resume: bool = False, jobs: int = 1) -> None:
    """A whole run in a fresh scratch tree; with `resume`, the stopped run here goes on, or, if there is none, the
    recorded one (its results kept for every function whose code is unchanged)."""
    if resume and (WORK / name / "mutants").is_dir():
        where = WORK / name
    else:
        where = scratch(name, target)
        if resume:
            seed(where, name)
    _mutmut(name, target, where, [], jobs)


def seed(where: Path, name: str) -> None:
    """mutmut's per-module state in a fresh scratch tree, from the target's record: mutmut then regenerates the
    mutants and keeps each recorded result whose function hashes as recorded."""
    source = RESULTS / f"{name}.json"
    if not source.exists():
        raise SystemExit(f"{name} has no run here and no record ({source}): run it whole first")
    record = json.loads(source.read_text(encoding="utf-8"))
    for module, state in record["modules"].items():
        meta = where / "mutants" / f"{module}.meta"
        meta.parent.mkdir(parents=True, exist_ok=True)
        kept = {key: state[key] for key in ("hash_by_function_name", "exit_code_by_key")}
        meta.write_text(json.dumps({**kept, "type_check_error_by_key": {}, "durations_by_key": {},
                                    "estimated_durations_by_key": {}}))  # fmt: skip
    with (where / KILLS).open("w", encoding="utf-8") as kills:  # as widen.py reads them: a mutant's name, a test
        for function, tests in record.get("killers", {}).items():
            kills.writelines(f"{function}__mutmut_0\t{test}\n" for test, n in tests.items() for _ in range(n))


def recheck_target(name: str, target: Target, jobs: int = 1) -> None:
    """Run again only the mutants that survived the last run of `name` (and those that timed out), against the work
    tree's tests and its other code as they are now (copied into its scratch tree, with the target's test list as it is
    now): the quick loop while writing tests for survivors, or a check that another module's stricter answer now
    kills them (`--resume` checks the ones a stopped run did not reach). Survivors listed as equivalent are not run
    again. The mutated modules must be as they were. A test that was only added cannot revive a killed mutant; after
    a test was changed or removed, run the whole target again."""
    where, results = WORK / name, RESULTS / f"{name}.json"
    if not (where / "mutants").is_dir() or not results.exists():
        raise SystemExit(f"{name} has no earlier run here to recheck: run it whole first (or --resume it)")
    changed = [m for m in target.modules if (ROOT / m).read_bytes() != (where / m).read_bytes()]
    if changed:
        raise SystemExit(f"{', '.join(changed)} changed since {name}'s run: run {name} whole again")
    equivalent = load_equivalent()  # listed ones cannot die: each would cost its whole widened test list
    # a timeout too: mutmut counts it as killed (an endless loop), but a fork can hang on its own (verify's run,
    # 2026-12-07: two mutants timed out that their tests killed in seconds when run again)
    names = [r["mutant"] for r in mutants(results) if r["status"] == "timeout"
             or (r["status"] not in KILLED | UNCHECKED and key_of(r) not in equivalent)]  # fmt: skip
    if not names:  # mutmut given no names would run every mutant not yet checked
        print(f"{name}: no survivor or timeout to recheck", flush=True)
        return
    _refresh(where, target, modules=False)
    _mutmut(name, target, where, names, jobs)


def update_target(name: str, target: Target, jobs: int = 1) -> None:
    """Bring a finished or stopped run up to the work tree: its modules, other code and tests as they are now are
    copied into its scratch tree, and mutmut, which keeps the result of every mutant of a function whose code did not
    change (it hashes each function), tests the mutants of changed and new functions and those not yet checked.
    Hours of a whole run become minutes after a small change. Valid while tests were only added since the run (as
    for `--recheck`), and as long as an unchanged function's mutants do not depend on a changed function's answers
    (a killed mutant is not tested again): a whole run settles both."""
    if not (WORK / name / "mutants").is_dir():  # a fresh clone: the recorded run, with today's code and tests
        run_target(name, target, resume=True, jobs=jobs)
        return
    _refresh(WORK / name, target, modules=True)
    _mutmut(name, target, WORK / name, [], jobs)


def _refresh(where: Path, target: Target, *, modules: bool) -> None:
    """The scratch tree's tests, code and data as the work tree's now; the target's modules too with `modules`
    (mutmut regenerates their mutants, as their copy is newer than its mutated one)."""
    shutil.copytree(ROOT / "tests", where / "tests", ignore=IGNORE, dirs_exist_ok=True)
    for module in (ROOT / "pipeline").rglob("*.py"):
        rel = module.relative_to(ROOT)
        mutated = rel.as_posix() in target.modules
        if mutated and not modules:
            continue
        for tree in [where] if mutated else [where, where / "mutants"]:  # the code the mutants run with, as now
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(module, tree / rel)
    for tree in (where, where / "mutants"):
        for also in ALSO_COPY:
            shutil.copytree(ROOT / also, tree / also, ignore=IGNORE, dirs_exist_ok=True)
    shutil.rmtree(where / ".shared", ignore_errors=True)  # the tests' shared builds, as the tests now build them
    configure(where, target)  # the target's tests as they are listed now (a test file added to it since counts)
    # which tests reach which function is collected again: mutmut does it by itself for new tests only, and a
    # changed test may now reach a function it did not
    (where / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)


def _mutmut(name: str, target: Target, where: Path, mutants: list[str], jobs: int) -> None:
    """`mutmut run` in the scratch tree `where` (all mutants not yet checked, or those named), then the results."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"APERTURA_HYPOTHESIS": "mutation"}
    env |= {name: str(where / ".shared" / name.lower()) for name in target.env}
    env["APERTURA_MUTATE_KILLS"] = str(where / KILLS)  # which test killed which mutant (widen.py reads it)
    log = WORK / f"{name}.log"
    # tests/conftest.py finds the shared fixtures two levels above tests/ (/work/shared/fixtures for a work tree);
    # mutmut runs the tests from `<where>/mutants/tests`, so without this link every test needing them skipped and
    # their functions counted as "no tests" (all of agents.py's generator in the first signals run)
    shared, link = ROOT.parent / "shared", where / "shared"
    if shared.is_dir() and not link.exists():
        link.symlink_to(shared, target_is_directory=True)
    print(f"mutate {name}: {', '.join(target.modules)} against {', '.join(target.tests)} (log {log})", flush=True)
    with log.open("w") as out:
        command = [sys.executable, "-m", "tests.mutation.widen", "run", "--max-children", str(jobs), *mutants]
        try:
            code = subprocess.call(command, cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT)
        finally:  # Ctrl-C included: the mutants checked so far are recorded, and a later --resume goes on from them
            record(name, where, env)
    if code != 0:
        raise SystemExit(f"mutmut failed on {name} (exit {code}); see {log}")


def record(name: str, where: Path, env: dict[str, str] | None = None) -> None:
    """The scratch tree's results, finished or not, as the target's record (written whole, then renamed)."""
    # this file, not the scratch tree's copy of it (as old as the run): mutmut's settings are read from `where`
    results = subprocess.run([sys.executable, __file__, "--collect"], cwd=where, env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    temporary = RESULTS / f".{name}.json.tmp"
    temporary.write_text(results, encoding="utf-8")
    temporary.replace(RESULTS / f"{name}.json")


def collect() -> None:
    """Inside a scratch tree: mutmut's state of each mutated module (function hashes, exit codes) and the diff of
    every mutant checked and not killed (JSON, an entry a line, so that a record's changes read well in a diff)."""
    from mutmut import __version__
    from mutmut.__main__ import SourceFileMutationData, walk_mutatable_files

    modules = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        if not data.exit_code_by_key:
            continue
        changes = {key: change_of(key, path) for key, code in data.exit_code_by_key.items()
                   if status(code) not in KILLED | {"not checked"}}  # fmt: skip
        modules[str(path)] = {"hash_by_function_name": data.hash_by_function_name,
                              "exit_code_by_key": data.exit_code_by_key, "changes": changes}  # fmt: skip
    killers: dict[str, Counter[str]] = {}  # per function, the tests that killed its mutants (widen.py runs them first)
    if Path(KILLS).exists():
        for line in Path(KILLS).read_text(encoding="utf-8").splitlines():
            mutant, _, test = line.partition("\t")
            killers.setdefault(function_of(mutant), Counter())[test] += 1
    record = {"mutmut": __version__, "modules": modules, "killers": killers}
    json.dump(record, sys.stdout, indent=0, ensure_ascii=False, sort_keys=True)


def change_of(mutant: str, path: Path | str) -> str:
    """The mutant's diff, its changed lines only (what `equivalent.toml` lists); inside a scratch tree."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(mutant, path=path).splitlines()[2:]
    return "\n".join(line.rstrip() for line in diff if line[:1] in "+-")


def status(exit_code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return "runner failed" if exit_code == RUNNER_FAILED else status_by_exit_code[exit_code]


def mutants(record: Path) -> list[dict[str, str]]:
    """Every mutant of a record: its module, name, status and, if checked and not killed, its diff."""
    modules = json.loads(record.read_text(encoding="utf-8"))["modules"]
    return [{"module": module, "mutant": key, "status": status(code), "change": state["changes"].get(key, "")}
            for module, state in modules.items() for key, code in state["exit_code_by_key"].items()]  # fmt: skip


def function_of(mutant: str) -> str:
    """`pipeline.verify.x__check_counts__mutmut_12` -> `x__check_counts` (stable while the function's code is)."""
    return mutant.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]


def key_of(row: dict[str, str]) -> tuple[str, str, str]:
    """A mutant's row as `equivalent.toml` keys it: module, function, diff."""
    return row["module"], function_of(row["mutant"]), row["change"].strip()


def load_equivalent() -> dict[tuple[str, str, str], str]:
    entries = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")).get("equivalent", []) if EQUIVALENT.exists() else []
    keys = [(e["module"], e["function"], e["change"].strip()) for e in entries]
    if twice := sorted({key[1] for key in keys if keys.count(key) > 1}):  # a copy outlives its original as stale
        raise SystemExit(f"{EQUIVALENT.name} lists a mutant twice (in {', '.join(twice)}): remove the copy")
    return {key: e["reason"] for key, e in zip(keys, entries, strict=True)}


def report(names: list[str]) -> bool:
    """Write .mutate/report.md (scores, equivalent mutants with reasons, survivors with diffs); True if every
    target is at or above its floor."""
    equivalent = load_equivalent()
    ok, used = True, set()
    lines = ["# Mutation testing report", "", "| target | mutants | killed | equivalent | survived | score | floor |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    details: list[str] = []
    for name in names:
        source = RESULTS / f"{name}.json"
        if not source.exists():
            lines.append(f"| {name} | not run | | | | | {TARGETS[name].floor or 'no floor yet'} |")
            continue
        rows, unchecked = [], []  # a run stopped early: unchecked ones are reported, not scored
        for r in mutants(source):  # a mutant skipped as listed equivalent is scored as one
            scored = r["status"] not in UNCHECKED or (r["status"] == "skipped" and key_of(r) in equivalent)
            (rows if scored else unchecked).append(r)
        killed = [r for r in rows if r["status"] in KILLED]
        rest = [r for r in rows if r["status"] not in KILLED]
        same = []
        alive = []
        for r in rest:
            (same if key_of(r) in equivalent else alive).append(r)
            if key_of(r) in equivalent:
                used.add(key_of(r))
        counted = len(rows) - len(same)
        score = 100.0 * len(killed) / counted if counted else 100.0
        floor = TARGETS[name].floor
        ok &= floor is None or score >= floor
        checked = f"{len(rows)}" + (f" (+{len(unchecked)} not checked)" if unchecked else "")
        lines.append(f"| {name} | {checked} | {len(killed)} | {len(same)} | {len(alive)} | {score:.1f} % | "
                     f"{'no floor yet' if floor is None else f'{floor} %'} |")  # fmt: skip
        details += [f"## {name}: {len(alive)} surviving", ""]
        for r in alive:
            details += [f"### {r['mutant']} ({r['status']})", "```diff", r["change"], "```", ""]
        if same:
            details += [f"## {name}: equivalent", ""]
            details += [f"- `{r['mutant']}`{' (not run)' if r['status'] == 'skipped' else ''}: {equivalent[key_of(r)]}"
                        for r in same] + [""]  # fmt: skip
    stale = set(equivalent) - used
    if stale and set(names) == set(TARGETS):
        details += ["## equivalent entries that matched no surviving mutant (stale: remove them)", ""]
        details += [f"- {m} {f}: {c.splitlines()[0] if c else ''}" for m, f, c in sorted(stale)]
    WORK.mkdir(exist_ok=True)
    (WORK / "report.md").write_text("\n".join([*lines, "", *details]) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"report: {WORK / 'report.md'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], help="default: all")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report from the records (a "
                        "stopped run here recorded first)")
    parser.add_argument("--resume", action="store_true", help="go on with a stopped run: the one here (same tree, "
                        "same tests) or, in a fresh clone, the recorded one")
    parser.add_argument("--recheck", action="store_true", help="only the last survivors, against the tests now")
    parser.add_argument("--update", action="store_true", help="a run brought up to the code and tests now: only "
                        "the mutants of changed functions (and those not yet checked) are tested")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1: the tests' own "
                        "thread pools use the other core)")
    parser.add_argument("--run-equivalent", action="store_true", help="also run the mutants listed as equivalent "
                        "(skipped by default: they cannot die, and cost every test of their files; run, a killed one "
                        "shows its entry is stale)")  # fmt: skip
    parser.add_argument("--collect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["APERTURA_MUTATE_EQUIVALENT"] = "run" if args.run_equivalent else "skip"  # read by widen.py
    if args.collect:
        collect()
        return
    names = args.targets or list(TARGETS)
    if args.report_only:  # a run stopped here (Ctrl-C, a machine given back) counts as far as it went
        for name in names:
            if (WORK / name / "mutants").is_dir():
                record(name, WORK / name)
    else:
        for name in names:
            if args.recheck:
                recheck_target(name, TARGETS[name], args.jobs)
            elif args.update:
                update_target(name, TARGETS[name], args.jobs)
            else:
                run_target(name, TARGETS[name], resume=args.resume, jobs=args.jobs)
    if not report(names):
        raise SystemExit("mutation score below the floor (see .mutate/report.md)")


if __name__ == "__main__":
    main()
