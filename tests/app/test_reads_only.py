"""The app reads releases and never runs the pipeline: in a fresh interpreter, every `audit_app` module imported and
every page rendered on a real release, the Python process holds no module of the pipeline's steps, executors,
sources or crawler (issue 19: the app imports the read-only release package, `schemas/` and the membership index).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "audit_app"
FORBIDDEN = ("pipeline.steps", "pipeline.executors", "pipeline.sources", "pipeline.crawl")

SCRIPT = """
import importlib, json, pathlib, sys
from streamlit.testing.v1 import AppTest

app = pathlib.Path(sys.argv[1])
modules = sorted(
    ".".join(p.relative_to(app.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in app.rglob("*.py") if "views" not in p.parts and p.name != "app.py"
)
for name in modules:
    importlib.import_module(name)
failed = []
for view in sorted((app / "views").glob("*.py")):
    at = AppTest.from_file(str(view), default_timeout=60).run()
    if at.exception:
        failed.append(view.stem)
print(json.dumps({"imported": modules, "pages_failed": failed, "loaded": sorted(sys.modules)}))
"""


def test_every_app_module_and_page_loads_no_pipeline_runner(app_release):
    root, release, _, _ = app_release
    env = dict(os.environ, APERTURA_DATA_ROOT=str(root), APERTURA_RELEASE=str(release.relative_to(root)))
    out = subprocess.run(  # faulthandler: a native crash (seen once, SIGABRT under load) shows its Python stack
        [sys.executable, "-X", "faulthandler", "-c", SCRIPT, str(APP)], capture_output=True, text=True, env=env,
        timeout=600,
    )
    assert out.returncode == 0, f"exit {out.returncode}; stderr ends:\n{out.stderr[-4000:]}"
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "audit_app.verdict" in report["imported"] and len(report["imported"]) > 10
    assert report["pages_failed"] == []
    assert "pipeline.release_read" in report["loaded"]  # the pages did read the release
    assert [m for m in report["loaded"] if m.startswith(FORBIDDEN)] == []
