"""The one table of plain reason texts (pipeline/reasons.py): every reason code the pipeline's source can write
has its own sentence, opt-out reasons come from the family declarations, and the table imports nothing the app
may not import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from pipeline import reasons
from pipeline.optout.families import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
# A snake_case string starting with a stage's or a rule set's prefix: how every ledger reason is spelt.
REASON_LIKE = re.compile(r"^(read|extract|language|gopher|c4|fineweb|pii|dedup|optout)_[a-z0-9_]*[a-z0-9]$")
# Strings of that shape in the pipeline's source that are not reasons: column, field and function names.
NOT_REASONS = {
    "c4_curly_at", "c4_lines", "c4_lines_kept", "c4_lorem_at", "c4_sentences", "c4_text",  # quality's columns
    "dedup_cluster_id", "dedup_cluster_size",  # documents columns
    "extract_links", "read_url_list",  # crawler functions
    "language_model", "language_score",  # manifest field, documents column
    "optout_evidence", "optout_snapshots",  # a release table, a CLI option
    "optout_removed", "optout_rows",  # fields of a membership answer (pipeline/index/answer.py)
    "pii_email", "pii_iban", "pii_ip",  # documents columns (counts of replaced personal data)
    "read_detail", "read_error", "read_stopped",  # source columns, manifest field
}  # fmt: skip


def _strings_in_pipeline() -> tuple[set[str], set[str]]:
    """(string constants shaped like a reason, f-string templates shaped like one with '{}' for each field)."""
    constants, templates = set(), set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        if path.name == "reasons.py":
            continue  # the table itself proves nothing
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and REASON_LIKE.match(node.value):
                constants.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
                if "{}" in text and REASON_LIKE.match(text.replace("{}", "7")):
                    templates.add(text)
    return constants, templates


def test_every_reason_the_pipeline_can_write_has_a_plain_sentence():
    constants, templates = _strings_in_pipeline()
    assert {"gopher_few_stop_words", "read_unparsable", "dedup_near", "optout_registry"} <= constants  # the scan works
    missing = sorted(c for c in constants - NOT_REASONS if not reasons.known(c))
    assert not missing, f"reason codes without a plain sentence in pipeline/reasons.py: {missing}"
    stale = sorted(n for n in NOT_REASONS if n not in constants)
    assert not stale, f"NOT_REASONS names strings the pipeline no longer has: {stale}"
    for template in templates:
        if template.startswith(("gopher_", "c4_", "fineweb_")):  # rule names built per n (quality.py)
            assert reasons.known(template.replace("{}", "3")), template
            assert "3-word" in reasons.reason_text(template.replace("{}", "3")), template


def test_every_opt_out_signal_has_its_reason_and_says_excluded_as_asked():
    for family in FAMILIES:
        for signal in family.signals:
            assert reasons.known(signal.reason)
            text = reasons.reason_text(signal.reason)
            assert "rights holder asked" in text and signal.text in text


def test_sentences_are_plain_and_never_empty():
    for code, text in reasons.REASON_TEXT.items():
        assert text and text[0].isupper() and text.endswith("."), code
        assert "_" not in text and code not in text, f"{code}: the sentence must not be the code again"
    unknown = reasons.reason_text("quality_rule_from_the_future", "quality")
    assert "quality filter" in unknown  # an unknown code still says what its stage removes
    assert reasons.reason_text("gopher_brand_new_rule") == reasons.reason_text("x", "quality")  # prefix -> stage


def test_the_funnel_and_the_removals_name_a_registry_removal_the_same_way():
    # the manifest's funnel calls it stage 'registry'; its ledger rows say stage 'optout', reason 'optout_registry'
    assert reasons.step_name("registry") == reasons.step_name("optout", "optout_registry")
    assert reasons.step_name("optout", "optout_robots") != reasons.step_name("registry")
    assert set(reasons.STAGE_NAME) == set(reasons.STAGE_TEXT)


def test_the_table_imports_nothing_the_app_may_not_import():
    code = (
        "import sys, pipeline.reasons; "
        "bad = [m for m in sys.modules if m.startswith(('pipeline.steps', 'pipeline.sources', 'pipeline.executors', "
        "'pipeline.crawl', 'pipeline.cli'))]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout
