"""Concurrent users of the audit app: a bounded load test of the real Streamlit server on 127.0.0.1.

    .venv/bin/python -m bench.app_load [--sessions 20] [--seconds 60] [--http 2] [--warm] [--out DIR]

1. Builds a small release with the CLI (`apertura run data/sample --out <tmp>/r`, a subprocess) inside a
   temporary data root (never in the repository).
2. Starts the server as `apertura app` does: `streamlit run audit_app/app.py --server.headless true
   --server.address 127.0.0.1 --server.port <free> -- --release <r>` with APERTURA_DATA_ROOT set.
3. For `--seconds`, `--sessions` simulated users speak Streamlit's own websocket protocol
   (`/_stcore/stream`, subprotocol `streamlit`, binary protobuf `BackMsg`/`ForwardMsg`), as a browser tab
   does: each session connects once and keeps asking for script runs (`rerun_script`) of the pages in turn:
   every page of the navigation, deep links to documents (`?doc=<id>`) and typed input (the search page's
   domain box and the "Am I in" URL box: the widget ids come from the page's first render, the values are
   sent as widget state). A render is timed from the request to `script_finished`; it is an error when it
   does not finish within 30 s, finishes other than successfully, or shows an exception element. Beside
   them, `--http` clients GET `/_stcore/health` and `/` in a loop. The server starts cold (its first page runs
   import polars, DuckDB, altair, pandas concurrently, as after a deploy); `--warm` first renders every page once
   from one session, to measure the steady state apart from start-up effects.
4. RSS of the server process and of this process are sampled every second; the slope (least squares over
   the run's second half, after warm-up) says whether memory stays flat.

Found with it (November 2026, 2 cores, 20 sessions, 60 s): on a cold server 1-2 first renders of the overview or
dedup page fail with "partially initialized module 'pandas' has no attribute 'Timestamp'" in altair (pandas is
first imported inside a page run while another session draws a chart; xfail test in
tests/hardening/test_app_hostile.py); with `--warm`, 0 errors.

Prints one JSON line per figure on stdout ({name, value, unit, baseline, baseline_value, ratio, peak_rss_mb,
command, ...}, as bench/spine.py), then a table on stderr. Exit 1 when any error happened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RENDER_TIMEOUT_S = 30.0
PAGES = ("overview", "search", "document", "am_i_in", "removals", "compliance", "dedup", "releases", "rights_holder")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Current VmRSS of one process in MB (10^6 B); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return 0.0


def slope_per_min(series: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per minute; 0 with fewer than 2 points."""
    if len(series) < 2:
        return 0.0
    n = len(series)
    mx = sum(t for t, _ in series) / n
    my = sum(v for _, v in series) / n
    var = sum((t - mx) ** 2 for t, _ in series)
    return 0.0 if var == 0 else 60 * sum((t - mx) * (v - my) for t, v in series) / var


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


# --------------------------------------------------------------------------------------------- set-up


def build_release(root: Path) -> Path:
    release = root / "r"
    cmd = [sys.executable, "-m", "pipeline.cli", "run", str(REPO / "data" / "sample"), "--out", str(release)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise SystemExit(f"building the release failed:\n{done.stderr[-2000:]}")
    return release


def sample_ids(release: Path) -> dict[str, list[str]]:
    """A few document ids, ledger ids, domains and URLs of the release, for deep links and typed input."""
    import duckdb

    def column(table: str, name: str, n: int) -> list[str]:
        files = [str(p) for p in sorted((release / table).glob("*.parquet"))]
        if not files:
            return []
        rows = duckdb.sql(f"select distinct {name} from read_parquet($f) where {name} is not null order by 1 limit {n}",
                          params={"f": files}).fetchall()  # fmt: skip
        return [r[0] for r in rows]

    return {
        "doc": column("documents", "id", 10) + column("ledger", "id", 5),
        "domain": column("documents", "domain", 5),
        "url": column("documents", "url", 5) + column("ledger", "url", 3),
    }


def start_server(root: Path, release: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "APERTURA_DATA_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "audit_app" / "app.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--", "--release", str(release),
    ]  # fmt: skip
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(port: int, server: subprocess.Popen, timeout: float = 60) -> float:
    import httpx

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was healthy")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).text == "ok":
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not healthy after {timeout} s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # the server we started (its own session), nothing else
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --------------------------------------------------------------------------------------------- sessions


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    shown: dict[str, str] = field(default_factory=dict)  # action -> heading and first alert of its first render

    def error(self, what: str, detail: str) -> None:
        self.errors[what].append(detail[:1000])


@dataclass(frozen=True)
class Action:
    """One script run a user asks for: a page, a query string, and typed values by widget label."""

    name: str
    page: str
    query: str = ""
    typed: tuple[tuple[str, str], ...] = ()


def actions(samples: dict[str, list[str]]) -> list[Action]:
    out = [Action(f"page:{p}", p) for p in PAGES]
    out += [Action("deep_link:document", "document", f"doc={d}") for d in samples["doc"][:4]]
    out += [Action("typed:search_domain", "search", typed=(("Domain", d),)) for d in samples["domain"][:3]]
    out += [Action("typed:am_i_in_url", "am_i_in", typed=(("URL", u),)) for u in samples["url"][:3]]
    return out


class Session:
    """One browser tab: a websocket to /_stcore/stream, script runs requested one after another."""

    def __init__(self, port: int, stats: Stats):
        self.port = port
        self.stats = stats
        self.ws: Any = None
        self.widget_ids: dict[tuple[str, str], str] = {}  # (page, label) -> widget id, from a render

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/_stcore/stream", subprotocols=["streamlit"], max_size=None,
            open_timeout=RENDER_TIMEOUT_S,
        )  # fmt: skip

    async def run(self, action: Action) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        back = BackMsg()
        state = back.rerun_script
        state.query_string = action.query
        state.page_name = "" if action.page == "overview" else action.page
        for label, value in action.typed:
            wid = self.widget_ids.get((action.page, label))
            if wid is None:  # the page has not been rendered by this session yet: render it first
                await self.run(Action(f"page:{action.page}", action.page))
                wid = self.widget_ids.get((action.page, label))
            if wid is None:
                self.stats.error(action.name, f"no widget labelled {label!r} on {action.page}")
                return
            widget = state.widget_states.widgets.add()
            widget.id = wid
            widget.string_value = value
        start = time.perf_counter()
        await self.ws.send(back.SerializeToString())
        exceptions: list[str] = []
        seen: list[str] = []
        async with asyncio.timeout(RENDER_TIMEOUT_S):
            while True:
                msg = ForwardMsg()
                msg.ParseFromString(await self.ws.recv())
                kind = msg.WhichOneof("type")
                if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    which = element.WhichOneof("type")
                    if which == "exception":
                        trace = [f.split("\n")[0].strip() for f in element.exception.stack_trace if "File " in f]
                        frames = [f for f in trace if "audit_app" in f][-2:] + trace[-1:]  # app frames, then the last
                        exceptions.append(
                            f"{element.exception.type}: {element.exception.message} at {' <- '.join(reversed(frames))}"
                        )
                    elif which == "heading" or (which == "alert" and len(seen) < 2):
                        seen.append(getattr(element, which).body[:120])
                    elif which == "markdown" and "matching documents" in element.markdown.body:
                        seen.append(element.markdown.body[:120])  # the search page's result line
                    elif which in ("text_input", "text_area"):
                        widget = getattr(element, which)
                        self.widget_ids[(action.page, widget.label)] = widget.id
                elif kind == "page_not_found":
                    exceptions.append(f"page not found: {action.page}")
                elif kind == "script_finished":
                    status = msg.script_finished
                    if status in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                        break
                    if status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        exceptions.append(f"script finished with status {status}")
                        break
        elapsed = time.perf_counter() - start
        if exceptions:
            self.stats.error(action.name, "; ".join(exceptions))
        else:
            self.stats.latency[action.name].append(elapsed)
            self.stats.shown.setdefault(action.name, " | ".join(seen))


async def user(port: int, plan: list[Action], stop_at: float, stats: Stats, seed: int) -> None:
    rng = random.Random(seed)
    order = plan[:]
    rng.shuffle(order)  # users are not in lock step
    session = Session(port, stats)
    try:
        await session.connect()
    except Exception as err:  # counted, not raised: the figure is the error count
        stats.error("connect", repr(err))
        return
    i = 0
    try:
        while time.monotonic() < stop_at:
            action = order[i % len(order)]
            i += 1
            try:
                await session.run(action)
            except TimeoutError:
                stats.error(action.name, f"no script_finished within {RENDER_TIMEOUT_S} s")
                break  # the socket is in an unknown state
            except Exception as err:
                stats.error(action.name, repr(err))
                break
    finally:
        await session.ws.close()


async def http_client(port: int, stop_at: float, stats: Stats) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=RENDER_TIMEOUT_S) as client:
        while time.monotonic() < stop_at:
            for path, name in (("/_stcore/health", "http:health"), ("/", "http:index")):
                start = time.perf_counter()
                try:
                    response = await client.get(path)
                except Exception as err:
                    stats.error(name, repr(err))
                    continue
                if response.status_code != 200 or (path == "/_stcore/health" and response.text != "ok"):
                    stats.error(name, f"HTTP {response.status_code}")
                else:
                    stats.latency[name].append(time.perf_counter() - start)
            await asyncio.sleep(0.05)


async def sampler(pids: dict[str, int], stop_at: float, series: dict[str, list[tuple[float, float]]]) -> None:
    t0 = time.monotonic()
    while True:
        now = time.monotonic()
        for who, pid in pids.items():
            series[who].append((now - t0, rss_mb(pid)))
        if now >= stop_at:
            return
        await asyncio.sleep(1.0)


async def warm_up(port: int, stats: Stats) -> None:
    """One session renders every page once, alone: the server's first imports happen before the load."""
    session = Session(port, stats)
    await session.connect()
    try:
        for page in PAGES:
            await session.run(Action(f"warm:{page}", page))
    finally:
        await session.ws.close()


async def load(port: int, plan: list[Action], sessions: int, seconds: float, http: int, server_pid: int, warm: bool):
    stats = Stats()
    if warm:
        await warm_up(port, stats)
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    stop_at = time.monotonic() + seconds
    tasks = [sampler({"server": server_pid, "client": os.getpid()}, stop_at, series)]
    tasks += [user(port, plan, stop_at, stats, seed) for seed in range(sessions)]
    tasks += [http_client(port, stop_at, stats) for _ in range(http)]
    started = time.monotonic()
    await asyncio.gather(*tasks)
    return stats, series, time.monotonic() - started


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent websocket sessions (browser tabs)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load lasts")
    parser.add_argument("--http", type=int, default=2, help="concurrent plain HTTP clients (health and /)")
    parser.add_argument(
        "--warm", action="store_true", help="render every page once from one session before the concurrent load"
    )
    parser.add_argument("--out", help="data root to build in (kept); default: a temporary directory")
    args = parser.parse_args(argv)
    command = ".venv/bin/python -m bench.app_load " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise SystemExit("bench.app_load needs the `websockets` package (pip install websockets)") from None
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="apertura-app-load-"))
    root.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    server = None
    try:
        t = time.monotonic()
        release = build_release(root)
        build_s = time.monotonic() - t
        plan = actions(sample_ids(release))
        port = free_port()
        server = start_server(root, release, port)
        ready_s = wait_healthy(port, server)
        stats, series, wall = asyncio.run(
            load(port, plan, args.sessions, args.seconds, args.http, server.pid, args.warm)
        )
        alive = server.poll() is None
    finally:
        if server is not None:
            stop_server(server)
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)

    def row(name: str, value: float, unit: str, **extra: Any) -> None:
        rows.append({"name": name, "value": round(value, 3) if abs(value) < 10 else round(value, 1), "unit": unit,
                     "baseline": None, "baseline_value": None, "ratio": None,
                     "peak_rss_mb": round(max((v for _, v in series["server"]), default=0), 1),
                     "command": command, **extra})  # fmt: skip

    renders = sum(len(v) for k, v in stats.latency.items() if not k.startswith(("http:", "warm:")))
    requests = sum(len(v) for k, v in stats.latency.items() if k.startswith("http:"))
    errors = sum(len(v) for v in stats.errors.values())
    mode = "websocket sessions (Streamlit BackMsg/ForwardMsg protocol) + HTTP GETs" + (
        "; pages rendered once by one session first (--warm)" if args.warm else "; cold server"
    )
    row("app_load_setup_build", build_s, "s", what="apertura run data/sample (subprocess)")
    row("app_load_setup_server_ready", ready_s, "s", what="streamlit run to /_stcore/health = ok")
    row(
        "app_load_renders",
        renders,
        "script runs",
        sessions=args.sessions,
        seconds=round(wall, 1),
        mode=mode,
        per_s=round(renders / wall, 2),
    )
    row("app_load_http_requests", requests, "requests", clients=args.http, per_s=round(requests / wall, 2))
    row("app_load_errors", errors, "errors", ok=errors == 0 and alive, server_alive=alive,
        by_action={k: len(v) for k, v in stats.errors.items()},
        examples={k: v[:2] for k, v in stats.errors.items()})  # fmt: skip
    for name in sorted(stats.latency):
        values = stats.latency[name]
        row(f"app_load_latency[{name}]", percentile(values, 50), "s", n=len(values),
            p50=round(percentile(values, 50), 3), p95=round(percentile(values, 95), 3),
            p99=round(percentile(values, 99), 3), max=round(max(values), 3),
            shown=stats.shown.get(name))  # fmt: skip
    for who in ("server", "client"):
        points = [(t, v) for t, v in series[who] if v > 0]
        half = [(t, v) for t, v in points if t >= wall / 2]
        if not points:
            continue
        row(f"app_load_rss_{who}_slope", slope_per_min(half), "MB/min", start_mb=round(points[0][1], 1),
            half_mb=round(half[0][1], 1) if half else None, end_mb=round(points[-1][1], 1),
            max_mb=round(max(v for _, v in points), 1),
            slope_all_mb_per_min=round(slope_per_min(points), 2), samples=len(points),
            note="least squares over the second half of the run (after warm-up)")  # fmt: skip
    for r in rows:
        print(json.dumps(r), flush=True)
    width = max(len(r["name"]) for r in rows)
    print(f"\n{'figure':<{width}}  {'value':>9}  unit", file=sys.stderr)
    for r in rows:
        extra = f"  p95 {r['p95']} p99 {r['p99']} n={r['n']}" if "p95" in r else ""
        if "start_mb" in r:
            extra = f"  {r['start_mb']} (start) -> {r['half_mb']} (half-time) -> {r['end_mb']} MB"
        print(f"{r['name']:<{width}}  {r['value']:>9}  {r['unit']}{extra}", file=sys.stderr)
    ok = errors == 0 and alive
    print(f"\n{'PASS' if ok else 'FAIL'}: {errors} errors", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
