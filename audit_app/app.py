"""Entrypoint of the audit app: release selection, shared sidebar, and the page router.

    streamlit run audit_app/app.py -- --release releases/r1      (or: apertura app releases/r1)

The release comes from `--release`, else $APERTURA_RELEASE; it must lie inside the data root
($APERTURA_DATA_ROOT, default: the working directory). Other releases found under the root can be picked
in the sidebar. Each page is one file in `views/`. (Not `pages/`: Streamlit 1.67 treats a `pages/` directory
beside the main script as old-style multipage routing, and a deep link that is the first page opened on a fresh
server then runs the page without this entrypoint: no release, no sidebar. tests/app/test_browser.py checks it.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import altair  # noqa: F401  imported here, once: concurrent first page runs raced on a half-imported pandas
import pandas  # noqa: F401
import streamlit as st

try:
    from audit_app import common, queries
except ModuleNotFoundError:  # started as a script from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from audit_app import common, queries

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Apertura audit", page_icon=":material/fact_check:", layout="wide")
common.warm_kernels()

PAGES = {
    "overview": st.Page(HERE / "views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    "search": st.Page(HERE / "views/search.py", title="Search & browse", icon=":material/search:"),
    "document": st.Page(HERE / "views/document.py", title="Document", icon=":material/description:"),
    "am_i_in": st.Page(HERE / "views/am_i_in.py", title="Am I in the training data?", icon=":material/person_search:"),
    "removals": st.Page(HERE / "views/removals.py", title="Removals", icon=":material/delete_sweep:"),
    "compliance": st.Page(HERE / "views/compliance.py", title="Opt-out compliance", icon=":material/gpp_good:"),
    "dedup": st.Page(HERE / "views/dedup.py", title="Dedup explorer", icon=":material/content_copy:"),
    "releases": st.Page(HERE / "views/releases.py", title="Releases", icon=":material/account_tree:"),
    "reports": st.Page(HERE / "views/reports.py", title="Reports", icon=":material/summarize:"),
    "rights_holder": st.Page(
        HERE / "views/rights_holder.py", title="Rights holders: opt out", icon=":material/front_hand:"
    ),
}
common.PAGES.clear()
common.PAGES.update(PAGES)


def _release_picker() -> None:
    """The release to audit: the one in the page URL (`?release=`), else the one given at start-up, or another one
    found under the data root. The choice is written back into the URL, so links and new tabs keep it."""
    given = common.startup_release(sys.argv[1:])
    root = queries.data_root()  # a remote release's local copy, when the server was started on one
    options: list[str] = []
    if given:
        try:
            options.append(str(queries.resolve_release(given, root).relative_to(root)) or ".")
        except queries.ReleaseAccessError:
            options.append(given)  # shown as given; opening it reports why it is refused
    for name in common.releases_under(str(root)):
        if name not in options:
            options.append(name)
    if not options:
        return
    linked = st.query_params.get(common.RELEASE_PARAM)
    linked = common.named_release(linked, root) if linked else linked
    if linked and common.release_problem(linked, root) is None:
        linked = common.relative_release(queries.resolve_release(linked, root), root)
        if linked not in options:
            options.append(linked)
        st.session_state[common.RELEASE_KEY] = linked
    elif linked:
        return  # the page says why this release cannot be opened; no picker value may hide that
    if st.session_state.get(common.RELEASE_KEY) not in options:
        st.session_state[common.RELEASE_KEY] = options[0]
    st.query_params[common.RELEASE_PARAM] = st.session_state[common.RELEASE_KEY]

    def picked() -> None:
        st.query_params[common.RELEASE_PARAM] = st.session_state[common.RELEASE_KEY]

    st.sidebar.selectbox(
        "Release", options, key=common.RELEASE_KEY, on_change=picked, help="Release directories under the data root"
    )


def _sidebar() -> None:
    _release_picker()
    if common.release_or_none() is None:
        return  # the page itself says why
    info = common.query("release_info")
    side = st.sidebar
    if fetched := st.session_state.get(common.FETCHED_KEY):
        side.caption(f"Fetched from {common.plain(fetched)} (every file's sha256 checked against its manifest)")
    side.caption("Release id")
    side.code(info["release_id"], language=None)
    side.caption("Config hash")
    side.code(info["config_hash"], language=None, wrap_lines=True)
    side.caption(
        f"apertura {common.plain(info['pipeline_version'])} · format v{common.plain(info['format_version'])} · "
        f"{info['inputs']:,} input files · {info['kept']:,} documents · {info['removed']:,} removed"
    )
    if side.button("Check file hashes", key="verify_files", help="Re-hash every Parquet file against the manifest"):
        result = queries.verify_files(common.release())  # not cached: a check must look at the files now
        if result["ok"]:
            side.badge(
                f"verified: {result['files']} files match the manifest", icon=":material/verified:", color="green"
            )
        else:
            side.badge("NOT verified", icon=":material/error:", color="red")
            for problem in result["problems"]:
                side.code(problem, language=None, wrap_lines=True)


_sidebar()
st.navigation(list(PAGES.values())).run()
