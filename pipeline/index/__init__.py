"""The membership index behind "am I in the training data?": a sidecar `R/index/` inside a release.

`build_index(release)` writes it; `open_index(release)` answers `check_text` / `check_url` /
`check_domain` / `check` (a `Report`) and `search` (a `SearchReport`); `verify_index(release)` gives
the checks for `apertura verify`. See `build.py` for the layout and `query.py` for how answers are proven.
"""

from pipeline.index.answers import Match, Report, SearchReport, Span
from pipeline.index.build import MembershipIndexError, build_index
from pipeline.index.config import IndexConfig
from pipeline.index.query import MembershipIndex, open_index
from pipeline.index.verify import verify_index

__all__ = [
    "IndexConfig",
    "Match",
    "MembershipIndex",
    "MembershipIndexError",
    "Report",
    "SearchReport",
    "Span",
    "build_index",
    "open_index",
    "verify_index",
]
