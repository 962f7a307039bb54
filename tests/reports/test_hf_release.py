"""A release as dataset tools read it: Hugging Face `datasets` through the release's dataset card, mlcroissant
through its own Croissant (in place) and through a copy written outside it, and a FineWeb-shaped Parquet input
whose own provenance (dump, file_path, id, date, token_count) survives into the documents and the EU summary.

The input is built here with known values; every expected count comes from the construction or the manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

import schemas
from pipeline.cli import app, build
from pipeline.config import RunConfig
from pipeline.synthetic import make_page
from pipeline.verify import verify_release

DUMPS = ["CC-MAIN-2024-10", "CC-MAIN-2023-50", "CC-MAIN-2024-10", "CC-MAIN-2024-10", "CC-MAIN-2023-50"]


@pytest.fixture(scope="module")
def fineweb(tmp_path_factory) -> tuple[Path, pl.DataFrame, Path, dict]:
    """(input, its rows, release, manifest): five distinct pages kept, one exact copy and one empty text removed."""
    root = tmp_path_factory.mktemp("hf")
    pages = [make_page(i, f"http://fw{i}.test/page", lang) for i, lang in enumerate(["en", "de", "fr", "en", "it"])]
    texts = [p.text for p in pages] + [pages[0].text, ""]
    n = len(texts)
    rows = pl.DataFrame(
        {
            "text": texts,
            "id": [f"<urn:uuid:0000-{i}>" for i in range(n)],
            "dump": [*DUMPS, DUMPS[0], DUMPS[1]],
            "url": [p.url for p in pages] + ["http://copy.test/a", "http://empty.test/b"],
            "date": [f"2024-02-2{i}T10:00:00Z" for i in range(n)],
            "file_path": [f"s3://commoncrawl/crawl-data/{d}/segments/1/warc/{i}.warc.gz"
                          for i, d in enumerate([*DUMPS, DUMPS[0], DUMPS[1]])],
            "language": ["en", "de", "fr", "en", "it", "en", "en"],
            "token_count": [1000 + i for i in range(n)],
        }
    )
    path = root / "fineweb.parquet"
    rows.write_parquet(path)
    release = root / "release"
    manifest = build([str(path)], RunConfig(), release)
    return path, rows, release, manifest


def _rows(manifest: dict, table: str) -> int:
    return sum(f["rows"] for f in manifest["files"] if f["table"] == table)


def test_the_release_verifies_with_its_card_and_croissant_listed(fineweb):
    _, _, release, manifest = fineweb
    assert manifest["format_version"] == schemas.FORMAT_VERSION >= 5  # format 5 brought the descriptions
    assert {d["path"]: d["kind"] for d in manifest["descriptions"]} == {
        "README.md": "dataset_card",
        "croissant.json": "croissant",
    }
    report = verify_release(release)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert "dataset card and Croissant describe the tables" in [c.name for c in report.checks]


def test_the_card_says_what_the_data_is(fineweb):
    _, _, release, manifest = fineweb
    text = (release / "README.md").read_text()
    head = text.split("---\n")[1]
    meta = yaml.safe_load(head)
    assert meta["license"] == "unknown"  # web pages carry no licence the release could know
    assert set(meta["language"]) == {"en", "de", "fr", "it"}
    assert meta["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["documents"]
    assert {c["config_name"] for c in meta["configs"]} == {"documents", "ledger", "signatures"}  # no evidence rows
    assert "CC-MAIN-2024-10" in text and "CC-MAIN-2023-50" in text  # the upstream datasets, in prose
    assert "estimated (words × 1.3)" in text  # no tokenizer configured: the token figure says it is an estimate
    assert manifest["counts"]["kept"] == 5 and manifest["counts"]["removed"] == 2


def test_datasets_loads_the_documents_by_default_and_each_table_by_name(fineweb, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _, _, release, manifest = fineweb
    documents = datasets.load_dataset(str(release), split="train", cache_dir=str(tmp_path / "cache"))
    assert documents.num_rows == manifest["counts"]["kept"] == 5
    assert "upstream_dump" in documents.column_names and "text" in documents.column_names
    ledger = datasets.load_dataset(str(release), "ledger", split="train", cache_dir=str(tmp_path / "cache"))
    assert ledger.num_rows == manifest["counts"]["removed"] == 2
    assert "reason" in ledger.column_names
    signatures = datasets.load_dataset(str(release), "signatures", split="train", cache_dir=str(tmp_path / "cache"))
    assert signatures.num_rows == _rows(manifest, "signatures") == 5


def test_a_fineweb_input_keeps_its_own_provenance(fineweb):
    _, rows, release, _ = fineweb
    docs = duckdb.sql(
        f"select url, upstream_id, upstream_date, upstream_dump, upstream_file_path, upstream_token_count, "
        f"token_count from read_parquet('{release}/documents/*.parquet')"
    ).pl()
    expected = rows.head(5).select(
        "url",
        pl.col("id").alias("upstream_id"),
        pl.col("date").alias("upstream_date"),
        pl.col("dump").alias("upstream_dump"),
        pl.col("file_path").alias("upstream_file_path"),
        pl.col("token_count").cast(pl.Int64).alias("upstream_token_count"),
    )
    assert docs.drop("token_count").sort("url").equals(expected.sort("url"))
    assert docs["token_count"].null_count() == docs.height  # no tokenizer configured


def test_a_jsonl_input_keeps_its_own_provenance_too(tmp_path):
    page = make_page(7, "http://j.test/a", "en")
    line = {"text": page.text, "id": 42, "url": page.url, "dump": "CC-MAIN-2022-05", "date": "2022-01-20T03:04:05Z",
            "file_path": "s3://x/y.warc.gz", "token_count": 321}  # fmt: skip
    (tmp_path / "in.jsonl").write_text(json.dumps(line) + "\n")
    build([str(tmp_path / "in.jsonl")], RunConfig(), tmp_path / "r")
    got = pl.read_parquet(tmp_path / "r/documents/*.parquet").select(pl.col("^upstream_.*$")).row(0)
    assert got == ("42", "2022-01-20T03:04:05Z", "CC-MAIN-2022-05", "s3://x/y.warc.gz", 321)


def test_the_eu_summary_lists_the_upstream_dumps_as_public_datasets(fineweb):
    from pipeline.reports.eu_summary import build_summary

    path, _, release, _ = fineweb
    summary = build_summary(release)
    public = next(s for s in summary.sources if s.category == "public")
    (source,) = public.inputs
    assert source.path == str(path)
    assert source.dataset.startswith("CC-MAIN-2023-50, CC-MAIN-2024-10 ")


def _records(jsonld: Path) -> dict[str, int]:
    import mlcroissant as mlc

    ds = mlc.Dataset(jsonld=str(jsonld))
    return {rs: sum(1 for _ in ds.records(rs)) for rs in ("documents", "ledger", "signatures", "optout_evidence")}


def test_mlcroissant_loads_every_record_set_in_place_and_from_a_copy_elsewhere(fineweb, tmp_path):
    pytest.importorskip("mlcroissant")
    _, _, release, manifest = fineweb
    expected = {t: _rows(manifest, t) for t in ("documents", "ledger", "signatures", "optout_evidence")}
    assert expected["documents"] == 5 and expected["ledger"] == 2
    assert _records(release / "croissant.json") == expected
    # the release moved: its own Croissant still loads (references are relative to it)
    moved = tmp_path / "moved"
    shutil.copytree(release, moved)
    assert _records(moved / "croissant.json") == expected
    # a copy written elsewhere loads from there
    elsewhere = tmp_path / "elsewhere" / "c.json"
    result = CliRunner().invoke(app, ["report", "croissant", str(release), "--out", str(elsewhere)])
    assert result.exit_code == 0, result.output
    assert _records(elsewhere) == expected


def test_report_croissant_defaults_to_the_releases_own_copy(fineweb, tmp_path, monkeypatch):
    _, _, release, _ = fineweb
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "croissant", str(release)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(release / "croissant.json")
    assert not (tmp_path / "croissant.json").exists()
    refused = CliRunner().invoke(app, ["report", "croissant", str(release), "--license", "CC-BY-4.0"])
    assert refused.exit_code == 2 and "--out" in refused.output


def test_the_card_and_croissant_are_the_same_bytes_on_a_rerun_elsewhere(fineweb, tmp_path):
    path, _, _, manifest = fineweb
    again = build([str(path)], RunConfig(), tmp_path / "other-name")
    assert again["descriptions"] == manifest["descriptions"]


def _whitespace_tokenizer(path: Path, vocabulary: set[str]) -> Path:
    """A tiny tokenizer.json: whitespace-split words, each known word one token and any other word one [UNK], so
    that a text's count is `len(text.split())` (str.split is the independent reference)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit

    vocab = {"[UNK]": 0} | {word: i + 1 for i, word in enumerate(sorted(vocabulary))}
    tokenizer = tokenizers.Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    tokenizer.save(str(path))
    return path


def test_a_configured_tokenizer_counts_every_documents_tokens(fineweb, tmp_path):
    from pipeline.reports.eu_summary import build_summary, write_summary

    path, _, _, _ = fineweb
    tokenizer = _whitespace_tokenizer(tmp_path / "tokenizer.json", {"the", "and", "of"})
    config = RunConfig(tokenizer=str(tokenizer))
    manifest = build([str(path)], config, tmp_path / "r")
    docs = pl.read_parquet(tmp_path / "r/documents/*.parquet").select("url", "text", "token_count")
    assert docs.height == 5
    assert docs["token_count"].to_list() == [len(t.split()) for t in docs["text"]]
    assert manifest["software"]["tokenizer"].startswith("tokenizer.json sha256:")
    assert manifest["config"]["tokenizer"] == str(tokenizer)
    assert verify_release(tmp_path / "r").ok
    total = sum(len(t.split()) for t in docs["text"])
    summary = build_summary(tmp_path / "r")
    assert summary.general.totals.tokens == total
    (md,) = write_summary(summary, tmp_path / "s.md", ("md",))
    assert f"{total:,} tokens (counted with the tokenizer" in md.read_text()
    card = (tmp_path / "r" / "README.md").read_text()
    assert f"{total:,} tokens (counted with the configured tokenizer" in card


def test_without_a_tokenizer_the_summary_says_its_tokens_are_estimated(fineweb, tmp_path):
    from pipeline.reports.eu_summary import build_summary, write_summary

    _, _, release, _ = fineweb
    summary = build_summary(release)
    assert summary.general.totals.tokens is None
    (md,) = write_summary(summary, tmp_path / "s.md", ("md",))
    assert "estimated (words × 1.3)" in md.read_text()
    assert "tokenizer" not in RunConfig().recorded()  # an unset tokenizer leaves earlier config hashes as they were


def test_a_tokenizer_that_is_no_tokenizer_stops_the_run_with_one_line(fineweb, tmp_path):
    path, _, _, _ = fineweb
    (tmp_path / "bad.json").write_text("{}")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "r"), "--config",
                                      str(_config(tmp_path, tokenizer=str(tmp_path / "bad.json")))])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "not a tokenizer.json" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def _config(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(fields))
    return path


def test_show_names_a_documents_upstream_provenance(fineweb):
    _, rows, release, _ = fineweb
    doc_id = duckdb.sql(
        f"select id from read_parquet('{release}/documents/*.parquet') where url = 'http://fw1.test/page'"
    ).fetchall()[0][0]
    result = CliRunner().invoke(app, ["show", str(release), doc_id], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for column in ("dump", "file_path", "id"):
        assert f"upstream_{column}" in result.output and rows[column][1] in result.output


def test_the_apps_overview_shows_counted_tokens_when_every_document_has_them(fineweb, tmp_path):
    from audit_app import queries

    path, _, release, _ = fineweb
    tokenizer = _whitespace_tokenizer(tmp_path / "tokenizer.json", {"the"})
    build([str(path)], RunConfig(tokenizer=str(tokenizer)), tmp_path / "counted")
    texts = pl.read_parquet(tmp_path / "counted/documents/*.parquet")["text"]
    counted = queries.overview(queries.open_release(tmp_path / "counted", root=tmp_path))
    assert counted["tokens"] == sum(len(t.split()) for t in texts) and "counted" in counted["token_formula"]
    estimated = queries.overview(queries.open_release(release, root=release.parent))
    assert estimated["tokens"] is None and estimated["token_formula"].startswith("approx.")


@pytest.mark.parametrize("kept", [False, True], ids=["every record removed", "nothing removed"])
def test_the_cards_loading_example_loads_only_what_the_release_has(tmp_path, monkeypatch, kept):
    """A release with no kept document (one page reserved by its TDM header) or with no removal (one page kept):
    each `load_dataset` line of the card's example runs and loads its rows; none names an empty table."""
    datasets = pytest.importorskip("datasets")
    from tests.helpers.warcs import Page, write_warc

    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    url = "http://only.test/a"
    headers = () if kept else (("tdm-reservation", "1"),)
    write_warc(tmp_path / "in.warc.gz", [Page(url, make_page(81, url, "en").html(), extra_headers=headers)])
    release = tmp_path / "release"
    manifest = build([str(tmp_path / "in.warc.gz")], RunConfig(), release)
    assert manifest["counts"]["kept"] == int(kept) and manifest["counts"]["removed"] == int(not kept)  # construction
    text = (release / "README.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    lines = [line for line in example.splitlines() if "load_dataset(" in line and "import" not in line]
    assert [line.split(" = ")[0] for line in lines] == (["documents"] if kept else ["ledger"])
    for line in lines:
        source = line.split("#")[0].replace('"path/to/release"', repr(str(release)))
        loaded = eval(source.split(" = ", 1)[1], {"load_dataset": datasets.load_dataset})  # the card's own call
        assert loaded.num_rows == 1
