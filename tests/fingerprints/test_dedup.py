"""Dedup: signatures equal datasketch's, and clusters match a corpus whose Jaccard values we know.

Ground truth comes from construction and from exact shingle-set Jaccard computed here with plain sets.
"""

from __future__ import annotations

import importlib
import itertools
import random
import re
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from datasketch import MinHash, MinHashLSH

from pipeline.config import DedupConfig
from pipeline.fingerprints import (
    SIGNATURE_SPEC,
    add_dedup_keys,
    as_datasketch,
    band_keys,
    bucket_edges,
    cluster,
    find_duplicates,
    norm_keys,
    normalise,
    shingle_hash,
    signature_matrix,
    signature_spec,
)
from pipeline.fingerprints.lsh import _agreement
from pipeline.fingerprints.minhash import POLY
from tests.helpers.text_identity import reference_normalise

CFG = DedupConfig()
NUM_PERM = CFG.bands * CFG.rows_per_band
N = CFG.ngram_size
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def make_vocab(rng: random.Random, size: int = 20_000) -> list[str]:
    """Random 5-9 letter words: two random documents share no 5-gram, so Jaccard is set by our edits."""
    return sorted({"".join(rng.choices(LETTERS, k=rng.randint(5, 9))) for _ in range(size)})


def shingles(text: str) -> set[str]:
    """Word n-gram shingles of an already normalised text, written independently of the module."""
    words = text.split()
    if not words:
        return set()
    if len(words) < N:
        return {" ".join(words)}
    return {" ".join(words[i : i + N]) for i in range(len(words) - N + 1)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(" ".join(a.split()).lower()), shingles(" ".join(b.split()).lower())
    return len(sa & sb) / len(sa | sb)


def reference_minhash(normalised: str) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=CFG.seed, hashfunc=shingle_hash, scheme="affine32")
    m.update_batch([s.encode() for s in shingles(normalised)])
    return m


def replace_runs(rng: random.Random, words: list[str], vocab: list[str], starts: list[int], run: int) -> list[str]:
    out = list(words)
    for s in starts:
        out[s : s + run] = rng.choices(vocab, k=run)
    return out


def test_normalise_nfkc_case_punctuation_whitespace() -> None:
    texts = pl.Series(["Ｈｅｌｌｏ,  WORLD!!\tﬁne\u00a0day — it’s\n\n OK.", "  ", None, "Ça «va» $5 + 3"])
    assert normalise(texts).to_list() == ["hello world fine day its ok", "", None, "ça va 5 3"]


def test_normalise_removes_format_characters() -> None:
    texts = pl.Series(["Zero\u200bwidth, soft\u00adhyphen \ufeffand jo\u200dined", "Ca\u200bfé \u200e"])
    assert normalise(texts).to_list() == ["zerowidth softhyphen and joined", "café"]


def test_signatures_equal_datasketch_elementwise() -> None:
    rng = random.Random(7)
    vocab = [*make_vocab(rng, 3000), "Café,", "naïve!", "ﬁnal", "“quoted”", "TAB\t"]
    vocab += ["zero\u200bwidth", "Bundes\u00adregierung", "\ufeffbom", "jo\u200dined", "caf\u200cé"]
    texts = ["", "   ", "one", "two words", "four little words here", "exactly five words in doc"]
    texts += [" ".join(rng.choices(vocab, k=rng.randint(1, 900))) for _ in range(42)]
    texts.append(" ".join(rng.choices(vocab, k=40_000)))  # spans several permutation blocks
    texts.append(texts[10])  # a repeat in the same batch
    out = add_dedup_keys(pl.DataFrame({"text": texts}), CFG)
    assert out.schema["minhash"] == pl.List(pl.UInt32) and out.schema["norm_sha256"] == pl.String
    normalised = reference_normalise(texts)  # the definition, not our code: the signatures of what it defines
    assert normalise(pl.Series(texts)).to_list() == normalised
    for text, sig in zip(normalised, out["minhash"].to_list(), strict=True):
        assert len(sig) == NUM_PERM
        np.testing.assert_array_equal(np.asarray(sig, dtype=np.uint32), reference_minhash(text).hashvalues)
    assert out["minhash"][0].to_list() == [0xFFFFFFFF] * NUM_PERM  # empty document
    assert out["norm_sha256"][0] == out["norm_sha256"][1]  # "" and "   " normalise alike
    assert out["norm_sha256"][10] == out["norm_sha256"][-1]


def test_stored_signature_round_trips_into_datasketch_lsh() -> None:
    rng = random.Random(11)
    vocab = make_vocab(rng, 5000)
    base = rng.choices(vocab, k=300)
    texts = [" ".join(base)] + [" ".join(rng.choices(vocab, k=300)) for _ in range(20)]
    out = add_dedup_keys(pl.DataFrame({"id": [f"d{i}" for i in range(21)], "text": texts}), CFG)
    lsh = MinHashLSH(num_perm=SIGNATURE_SPEC["num_perm"], params=(CFG.bands, CFG.rows_per_band))
    for doc_id, sig in zip(out["id"], out["minhash"].to_list(), strict=True):
        lsh.insert(doc_id, as_datasketch(sig, CFG))
    query = " ".join(replace_runs(rng, base, vocab, [150], 3)).upper() + "!"  # J ~ 0.95 with d0
    assert lsh.query(reference_minhash(reference_normalise([query])[0])) == ["d0"]
    assert SIGNATURE_SPEC["scheme"] == "affine32" and SIGNATURE_SPEC["seed"] == CFG.seed
    assert signature_spec(DedupConfig(seed=3))["seed"] == 3


def test_the_hashfunc_a_manifest_names_is_the_one_that_made_the_signatures() -> None:
    """Manifests record `hashfunc` as 'module:name' (release format 3: `pipeline.steps.dedup:shingle_hash`); a
    reader rebuilding MinHashes from that name must get the function the signatures were made with."""
    assert SIGNATURE_SPEC["hashfunc"] == "pipeline.steps.dedup:shingle_hash"  # recorded in every release so far
    module, name = SIGNATURE_SPEC["hashfunc"].split(":")
    named = getattr(importlib.import_module(module), name)
    text = "the named function hashes each shingle exactly as the stored signatures did"
    rebuilt = MinHash(num_perm=NUM_PERM, seed=CFG.seed, hashfunc=named, scheme=SIGNATURE_SPEC["scheme"])
    rebuilt.update_batch([s.encode() for s in shingles(text)])
    stored = add_dedup_keys(pl.DataFrame({"text": [text]}), CFG)["minhash"][0].to_list()
    assert rebuilt.hashvalues.tolist() == stored


def test_jaccard_estimates_agree_with_datasketch() -> None:
    rng = random.Random(5)
    vocab = make_vocab(rng, 8000)
    pairs = []
    for run in (2, 8, 20, 60, 120, 200):
        base = rng.choices(vocab, k=400)
        pairs.append((" ".join(base), " ".join(replace_runs(rng, base, vocab, [100], run))))
    out = add_dedup_keys(pl.DataFrame({"text": [t for p in pairs for t in p]}), CFG)
    sigs = np.asarray(out["minhash"].to_list(), dtype=np.uint32)
    errors = []
    for i, (a, b) in enumerate(pairs):
        ours = float((sigs[2 * i] == sigs[2 * i + 1]).mean())
        assert ours == reference_minhash(a).jaccard(reference_minhash(b))
        errors.append(abs(ours - jaccard(a, b)))
    assert max(errors) < 0.15  # sd of a 112-permutation estimate is <= 0.05
    assert float(np.mean(errors)) < 0.06


@pytest.fixture(scope="module")
def corpus() -> dict:
    """A corpus with planted structure; `order` is a shuffled permutation so keepers are not just row 0."""
    rng = random.Random(20251125)
    vocab = make_vocab(rng)
    docs: list[str] = []
    truth: dict[str, list] = {"high": [], "low": [], "exact": [], "chain": [], "unique": []}

    def add(text: str) -> int:
        docs.append(text)
        return len(docs) - 1

    for run in (1, 2, 3, 4, 6, 8, 10, 10, 5, 7):  # changes run+4 of 296 shingles: J >= 0.909
        base = rng.choices(vocab, k=300)
        a, b = add(" ".join(base)), add(" ".join(replace_runs(rng, base, vocab, [rng.randint(10, 280)], run)))
        truth["high"].append((a, b))
    for run in (96, 100, 110, 130, 150, 160, 120, 140):  # J between ~0.3 and ~0.5
        base = rng.choices(vocab, k=300)
        a, b = add(" ".join(base)), add(" ".join(replace_runs(rng, base, vocab, [100], run)))
        truth["low"].append((a, b))
    for _ in range(3):  # same text up to case, punctuation and whitespace
        base = " ".join(rng.choices(vocab, k=200))
        noisy = "  " + base.upper().replace(" ", " ,\t", 20).replace(" ", "!\n", 5) + " ..."
        truth["exact"].append((add(base), add(noisy)))
    words = rng.choices(vocab, k=300)  # a chain: each link edits a new region, J(link) ~0.93
    chain = [add(" ".join(words))]
    for k in range(7):
        words = replace_runs(rng, words, vocab, [10 + 40 * k], 6)
        chain.append(add(" ".join(words)))
    chain_copy = add(docs[chain[3]].title().replace(" ", ";  ", 30))  # exact copy of a chain member
    truth["chain"] = [chain, chain_copy]
    truth["unique"] = [add(" ".join(rng.choices(vocab, k=rng.randint(3, 400)))) for _ in range(30)]
    truth["unique"].append(add(""))
    order = list(range(len(docs)))
    rng.shuffle(order)
    frame = pl.DataFrame(
        {"id": [f"doc-{i:03d}" for i in range(len(docs))], "order": order, "text": docs},
        schema={"id": pl.String, "order": pl.Int64, "text": pl.String},
    )
    return {"docs": docs, "truth": truth, "keyed": add_dedup_keys(frame, CFG)}


@pytest.fixture
def result(corpus: dict) -> pl.DataFrame:
    """The corpus' verdicts, computed in each test that checks them (not once per module): mutation testing
    runs against a mutant only the tests that reached its function, and a module fixture reaches it in one."""
    return find_duplicates(corpus["keyed"].lazy(), CFG)


def _row(result: pl.DataFrame, i: int) -> dict:
    return result.filter(pl.col("id") == f"doc-{i:03d}").row(0, named=True)


def _order(corpus: dict, i: int) -> int:
    return corpus["keyed"]["order"][i]


def test_output_shape_and_order(corpus: dict, result: pl.DataFrame) -> None:
    keyed = corpus["keyed"]
    assert result.schema == pl.Schema(
        {
            "id": pl.String,
            "duplicate_of": pl.String,
            "reason": pl.String,
            "detail": pl.String,
            "cluster_id": pl.String,
            "cluster_size": pl.Int32,
        }
    )
    assert result["id"].to_list() == keyed.sort("order")["id"].to_list()  # one row per id, by order
    assert set(result["reason"].drop_nulls().unique()) == {"dedup_exact", "dedup_near"}


def test_high_jaccard_pairs_are_found(corpus: dict, result: pl.DataFrame) -> None:
    for a, b in corpus["truth"]["high"]:
        true_j = jaccard(corpus["docs"][a], corpus["docs"][b])
        assert true_j >= 0.9
        keeper, dup = sorted((a, b), key=lambda i: _order(corpus, i))
        row = _row(result, dup)
        assert row["reason"] == "dedup_near" and row["duplicate_of"] == f"doc-{keeper:03d}"
        assert row["cluster_id"] == f"doc-{keeper:03d}" and row["cluster_size"] == 2
        found = re.fullmatch(r"estimated jaccard (\d\.\d\d) with doc-(\d{3})", row["detail"])
        assert found and int(found[2]) == keeper and abs(float(found[1]) - true_j) < 0.15
        keeper_row = _row(result, keeper)
        assert keeper_row["reason"] is None and keeper_row["duplicate_of"] is None
        assert keeper_row["cluster_id"] == f"doc-{keeper:03d}" and keeper_row["cluster_size"] == 2


def test_low_jaccard_pairs_are_not_merged(corpus: dict, result: pl.DataFrame) -> None:
    # With 14 x 8 LSH a pair at J=0.5 collides with probability 1-(1-0.5^8)^14 ~ 5%, at J=0.4 ~ 0.9%;
    # the corpus seed is fixed, so this is deterministic.
    for a, b in corpus["truth"]["low"]:
        assert 0.25 <= jaccard(corpus["docs"][a], corpus["docs"][b]) <= 0.5
        for i in (a, b):
            row = _row(result, i)
            assert row["reason"] is None and row["cluster_id"] is None and row["cluster_size"] == 1


def test_exact_duplicates_up_to_case_punctuation_whitespace(corpus: dict, result: pl.DataFrame) -> None:
    for a, b in corpus["truth"]["exact"]:
        assert corpus["keyed"]["norm_sha256"][a] == corpus["keyed"]["norm_sha256"][b]
        keeper, dup = sorted((a, b), key=lambda i: _order(corpus, i))
        row = _row(result, dup)
        assert row["reason"] == "dedup_exact" and row["duplicate_of"] == f"doc-{keeper:03d}"
        assert row["detail"] == f"same normalised text as doc-{keeper:03d}"
        assert row["cluster_id"] == f"doc-{keeper:03d}" and row["cluster_size"] == 2


def test_chain_is_one_cluster_with_lowest_order_keeper(corpus: dict, result: pl.DataFrame) -> None:
    chain, copy = corpus["truth"]["chain"]
    docs = corpus["docs"]
    assert all(jaccard(docs[x], docs[y]) >= 0.9 for x, y in itertools.pairwise(chain))
    assert jaccard(docs[chain[0]], docs[chain[-1]]) < 0.7  # the ends are linked only through the chain
    members = [*chain, copy]
    keeper = min(members, key=lambda i: _order(corpus, i))  # the exact copy may be the earliest
    rows = [_row(result, i) for i in members]
    assert {r["cluster_id"] for r in rows} == {f"doc-{keeper:03d}"}
    assert {r["cluster_size"] for r in rows} == {len(members)}
    for i, r in zip(members, rows, strict=True):
        if i == keeper:
            assert r["reason"] is None and r["duplicate_of"] is None
        else:
            assert r["duplicate_of"] == f"doc-{keeper:03d}"
    exact_pair = sorted((chain[3], copy), key=lambda i: _order(corpus, i))
    dup_row = _row(result, exact_pair[1])
    assert dup_row["reason"] == "dedup_exact"
    assert dup_row["detail"].startswith(f"same normalised text as doc-{exact_pair[0]:03d}")


def test_unique_documents(corpus: dict, result: pl.DataFrame) -> None:
    for i in corpus["truth"]["unique"]:
        row = _row(result, i)
        assert row == {
            "id": f"doc-{i:03d}",
            "duplicate_of": None,
            "reason": None,
            "detail": None,
            "cluster_id": None,
            "cluster_size": 1,
        }


def test_deterministic_under_shuffled_input(corpus: dict, result: pl.DataFrame) -> None:
    keyed = corpus["keyed"].drop("text")
    for seed in (1, 2):
        shuffled = keyed.sample(fraction=1.0, shuffle=True, seed=seed)
        assert shuffled["id"].to_list() != keyed["id"].to_list()
        assert find_duplicates(shuffled, CFG).equals(result)


def test_exact_and_near_switches(corpus: dict) -> None:
    keyed = corpus["keyed"]
    only_exact = find_duplicates(keyed, DedupConfig(near=False))
    assert set(only_exact["reason"].drop_nulls()) == {"dedup_exact"}
    only_near = find_duplicates(keyed, DedupConfig(exact=False))
    a, b = corpus["truth"]["exact"][0]
    dup = max((a, b), key=lambda i: _order(corpus, i))
    row = _row(only_near, dup)
    assert row["reason"] == "dedup_near" and row["detail"].startswith("estimated jaccard 1.00 with")


def test_rejects_wrong_signature_length(corpus: dict) -> None:
    with pytest.raises(ValueError, match="list of 80 values"):
        find_duplicates(corpus["keyed"], DedupConfig(bands=10))


def test_exact_copy_of_a_near_duplicate_joins_the_final_keepers_cluster() -> None:
    rng = random.Random(3)
    vocab = make_vocab(rng, 5000)
    a = rng.choices(vocab, k=300)
    b = " ".join(replace_runs(rng, a, vocab, [50], 3))
    frame = pl.DataFrame(
        {"id": ["a", "b", "b-copy", "other"], "order": [5, 7, 9, 1], "text": [" ".join(a), b, b.upper(), "x y"]}
    )
    result = find_duplicates(add_dedup_keys(frame, CFG).drop("text"), CFG)
    assert result.rows() == [
        ("other", None, None, None, None, 1),
        ("a", None, None, None, "a", 3),
        ("b", "a", "dedup_near", result["detail"][2], "a", 3),
        ("b-copy", "a", "dedup_exact", "same normalised text as b, a near-duplicate of a", "a", 3),
    ]
    assert re.fullmatch(r"estimated jaccard 0\.9\d with a|estimated jaccard 1\.00 with a", result["detail"][2])


def test_texts_differing_only_by_format_characters_are_exact_duplicates() -> None:
    """A zero-width space or soft hyphen inside every word changes every shingle: unless removed, the copy
    would not even be a near duplicate."""
    rng = random.Random(13)
    words = rng.choices(make_vocab(rng, 5000), k=200)
    hidden = [w[:2] + "\u200b" + w[2:] if i % 2 else w[:3] + "\u00ad" + w[3:] for i, w in enumerate(words)]
    texts = [" ".join(words), "\ufeff" + " ".join(hidden), "\u200d" + " \u2060".join(words)]
    frame = pl.DataFrame({"id": ["plain", "hidden", "joined"], "order": [1, 2, 3], "text": texts})
    keyed = add_dedup_keys(frame, CFG)
    assert keyed["norm_sha256"].n_unique() == 1 and keyed["minhash"].n_unique() == 1
    assert find_duplicates(keyed.drop("text"), CFG).rows() == [
        ("plain", None, None, None, "plain", 3),
        ("hidden", "plain", "dedup_exact", "same normalised text as plain", "plain", 3),
        ("joined", "plain", "dedup_exact", "same normalised text as plain", "plain", 3),
    ]


def test_empty_input() -> None:
    schema = {"id": pl.String, "order": pl.UInt64, "text": pl.String}
    keyed = add_dedup_keys(pl.DataFrame(schema=schema), CFG)
    assert keyed.schema["minhash"] == pl.List(pl.UInt32)
    result = find_duplicates(keyed, CFG)
    assert result.height == 0 and result.schema["cluster_size"] == pl.Int32


def test_norm_keys_group_equal_hashes_only_and_never_group_nulls() -> None:
    same_prefix = ["0" * 63 + "1", "0" * 63 + "2", "0" * 63 + "1", None, None, "not hex at all"]
    keys = norm_keys(pl.Series(same_prefix, dtype=pl.String))
    assert keys.shape == (6, 2) and keys.dtype == np.uint64
    assert (keys[0] == keys[2]).all() and not (keys[0] == keys[1]).all()  # the whole value counts
    frame = pl.DataFrame({"id": list("abcdef"), "order": range(6), "norm_sha256": same_prefix})
    frame = frame.with_columns(minhash=pl.lit([1] * 112, dtype=pl.List(pl.UInt32)))
    result = find_duplicates(frame, DedupConfig(near=False))
    assert result["reason"].to_list() == [None, None, "dedup_exact", None, None, None]  # nulls stay apart


def test_the_fineweb_minhash_defaults_are_pinned() -> None:
    """FineWeb (Penedo et al. 2024): word 5-grams, 14 bands x 8 rows = 112 permutations (LSH threshold about
    (1/14)^(1/8) ~ 0.72). A release records these and its copies are judged by them: changing one silently
    changes what counts as a duplicate, so a change must be deliberate (and change this test)."""
    cfg = DedupConfig()
    assert (cfg.ngram_size, cfg.bands, cfg.rows_per_band, cfg.seed) == (5, 14, 8, 1)
    assert cfg.min_signature_agreement == 0.7
    assert (SIGNATURE_SPEC["num_perm"], SIGNATURE_SPEC["bands"], SIGNATURE_SPEC["rows_per_band"]) == (112, 14, 8)


def _pair_agreeing_on(agreeing: int) -> pl.DataFrame:
    """Two candidates whose signatures agree on their first `agreeing` of 112 values and differ on the rest:
    by construction they collide in the first agreeing // 8 bands and their estimated Jaccard is agreeing / 112."""
    rng = np.random.default_rng(agreeing)
    a = rng.integers(0, 2**32 - 1, NUM_PERM, dtype=np.uint32)
    b = a.copy()
    b[agreeing:] += 1  # differ everywhere after the agreeing prefix
    return pl.DataFrame(
        {"id": ["a", "b"], "order": [0, 1], "norm_sha256": ["a" * 64, "b" * 64], "minhash": [a.tolist(), b.tolist()]},
        schema_overrides={"minhash": pl.List(pl.UInt32)},
    )


@pytest.mark.parametrize(
    ("agreeing", "merged"),
    [(56, False), (67, False), (78, False), (79, True), (100, True)],  # 50 %, 60 %, 69.6 %, 70.5 %, 89 %
)
def test_a_band_collision_merges_only_from_seventy_percent_signature_agreement(agreeing: int, merged: bool) -> None:
    candidates = _pair_agreeing_on(agreeing)
    assert agreeing // CFG.rows_per_band >= 7  # they do collide, in 7 or more of the 14 bands
    fineweb = find_duplicates(candidates, DedupConfig(min_signature_agreement=None))
    assert fineweb["duplicate_of"].to_list() == [None, "a"]  # FineWeb's rule: any collision merges
    result = find_duplicates(candidates, CFG)
    assert result["duplicate_of"].to_list() == ([None, "a"] if merged else [None, None])


def _planted(sigs: np.ndarray, ids: list[str] | None = None, orders: list[int] | None = None) -> pl.DataFrame:
    """Candidates with the given (n, num_perm) signatures and distinct texts: only near-duplicate links apply."""
    n = len(sigs)
    return pl.DataFrame(
        {
            "id": ids or [f"d{i:05d}" for i in range(n)],
            "order": orders or list(range(n)),
            "norm_sha256": [f"{i:064x}" for i in range(n)],
            "minhash": sigs.tolist(),
        },
        schema_overrides={"minhash": pl.List(pl.UInt32), "order": pl.Int64},
    )


def _reference_band_key(values: list[int]) -> int:
    """The band key as the index format defines it, in plain integers mod 2^64."""
    key = 0
    for v in values:
        key = (key * POLY + v + 1) % 2**64
        key ^= key >> 29
    return key


def test_band_keys_are_the_membership_index_format() -> None:
    """The membership index stores every entry's band keys (index/lsh_keys.npy) and a check recomputes the
    query's: a changed formula would silently make every index built before it find no near copies. So the keys
    are pinned to their definition (changing it means a new index format), each from its own band's rows."""
    rng = np.random.default_rng(22)
    for bands, rows in ((14, 8), (5, 8), (3, 2)):
        sig = rng.integers(0, 2**32, (40, bands * rows), dtype=np.uint32)
        sig[0] = 2**32 - 1  # the empty document's signature
        keys = band_keys(sig, bands, rows)
        assert keys.dtype == np.uint64 and keys.shape == (bands, len(sig))
        for i, s in enumerate(sig.tolist()):
            assert [int(k) for k in keys[:, i]] == [
                _reference_band_key(s[b * rows : (b + 1) * rows]) for b in range(bands)
            ]
    first = band_keys(np.arange(112, dtype=np.uint32)[None, :], 14, 8)[:3, 0]
    assert [hex(int(k)) for k in first] == ["0x9521831a3347533a", "0x42e26d87f03af59c", "0x32d2e420967cdb54"]


def test_a_collision_in_the_last_band_alone_links_a_pair_and_one_differing_row_per_band_none() -> None:
    """FineWeb's rule (no agreement check): two documents are linked iff some band of 8 rows agrees entirely."""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2**32 - 1, (3, NUM_PERM), dtype=np.uint32)
    last_band = a[0] + 1
    last_band[-CFG.rows_per_band :] = a[0, -CFG.rows_per_band :]  # only rows 104-111 agree
    one_off = a[1].copy()
    one_off[:: CFG.rows_per_band] += 1  # 98 of 112 agree, but every band has one differing row
    sigs = np.vstack([a[0], last_band, a[1], one_off, a[2]])
    result = find_duplicates(_planted(sigs), DedupConfig(min_signature_agreement=None))
    assert result["duplicate_of"].to_list() == [None, "d00000", None, None, None]


def test_bucket_edges_link_every_member_to_the_lowest_row_of_its_bucket() -> None:
    """The contract an executor's own shuffle must meet (`bucket_edges`): with the agreement check, which row a
    member is compared with decides the verdict, so it must be the bucket's lowest row, in buckets of any size."""
    rng = np.random.default_rng(9)
    keys = rng.integers(0, 25, (3, 3000)).astype(np.uint64)  # buckets of ~120 rows, far past a small-sort cutoff
    expected = set()
    for band in keys.tolist():
        lowest: dict[int, int] = {}
        for row, key in enumerate(band):
            lowest.setdefault(key, row)
            if lowest[key] != row:
                expected.add((row, lowest[key]))
    u, v = bucket_edges(keys)
    assert list(zip(u.tolist(), v.tolist(), strict=True)) == sorted(expected)


def test_a_path_of_single_links_is_one_cluster_kept_by_its_first_row() -> None:
    """Ten documents each sharing one band with the next only (FineWeb's rule, no agreement check): every link
    joins the cluster, however many hops the last is from the keeper."""
    rng = np.random.default_rng(10)
    sigs = rng.integers(0, 2**32 - 1, (10, NUM_PERM), dtype=np.uint32)
    rows = CFG.rows_per_band
    for i in range(9):
        sigs[i + 1, i * rows : (i + 1) * rows] = sigs[i, i * rows : (i + 1) * rows]
    for order in (list(range(10)), list(range(10))[::-1]):
        result = find_duplicates(_planted(sigs, orders=order), DedupConfig(min_signature_agreement=None))
        keeper = "d00000" if order[0] == 0 else "d00009"
        assert result.filter(pl.col("id") != keeper)["duplicate_of"].to_list() == [keeper] * 9
        assert result["cluster_id"].to_list() == [keeper] * 10 and result["cluster_size"].to_list() == [10] * 10


def _release_verdicts(frame: pl.DataFrame, cfg: DedupConfig, part_rows: int) -> pl.DataFrame:
    """What `pipeline.release` does: verdicts part by part, looking up only the ids of `named_rows()`."""
    df = frame.sort("order", "id")
    sig = signature_matrix(df["minhash"], cfg)
    clusters = cluster(norm_keys(df["norm_sha256"]), band_keys(sig, cfg.bands, cfg.rows_per_band), cfg,
                       lambda rows: sig[rows])  # fmt: skip
    named = clusters.named_rows()
    ids = df["id"]
    names = (named, ids.gather(named))
    mentioned = set(ids.gather(named))
    parts = []
    for start in range(0, df.height, part_rows):
        rows = np.arange(start, min(start + part_rows, df.height))
        parts.append(clusters.verdicts(ids.gather(rows), rows, names))
    out = pl.concat(parts)
    originals = out["detail"].str.extract(r"^same normalised text as ([^,]+)").drop_nulls()
    assert mentioned == set(out["duplicate_of"].drop_nulls()) | set(originals)  # named: exactly the ids needed
    return out


def test_verdicts_looking_up_only_the_named_ids_equal_those_with_every_id(corpus: dict, result: pl.DataFrame) -> None:
    """The release holds ids only for the rows a verdict names (keepers of others, exact originals): its verdicts
    must be the in-memory ones, in parts of any size, including a highest named row and rows after every named one."""
    keyed = corpus["keyed"].drop("text")
    for part_rows in (1, 7, keyed.height):
        assert _release_verdicts(keyed, CFG, part_rows).equals(result)
    sig = np.random.default_rng(3).integers(0, 2**32 - 1, (4, NUM_PERM), dtype=np.uint32)
    texts = pl.Series(["e" * 64, "1" * 64, "e" * 64, "2" * 64])
    for frame in (
        _planted(sig),  # nothing named at all
        _planted(sig[[0, 1, 0, 2]]).with_columns(norm_sha256=texts),  # an exact pair, then a singleton
        _planted(sig[[0, 1, 0, 2, 2, 3]]),  # two named rows, the last one referenced, a singleton after it
        _planted(sig[[0, 0, 1]]),  # one named row, then a singleton
    ):
        assert _release_verdicts(frame, CFG, 2).equals(find_duplicates(frame, CFG))


def test_exact_groups_need_both_halves_of_the_norm_key_and_are_led_by_their_lowest_row() -> None:
    """128-bit keys: rows agreeing in one 64-bit half only are different texts (at 10^9 documents a 64-bit
    collision is a few per cent likely); a group's keeper is its lowest row wherever its members are."""
    norm = np.array([[7, 5], [2, 5], [7, 6], [7, 5], [2, 6], [2, 5], [7, 5]], dtype=np.uint64)
    clusters = cluster(norm, np.zeros((0, 7), np.uint64), DedupConfig(near=False), lambda rows: None)
    assert clusters.exact.tolist() == [0, 1, 2, 0, 4, 1, 0]
    assert clusters.size.tolist() == [3, 2, 1, 3, 1, 2, 3]


def test_norm_keys_are_two_different_hashes() -> None:
    """The two halves are independently seeded hashes; the same hash twice would leave 64 bits of key."""
    values = pl.Series([f"{i:064x}" for i in range(10_000)])
    keys = norm_keys(values)
    assert not (keys[:, 0] == keys[:, 1]).any()
    assert len({tuple(k) for k in keys.tolist()}) == len(values)


@pytest.mark.parametrize(
    ("bands", "rows", "threshold", "agreeing", "merged"),
    [
        (14, 8, 0.75, 84, True),  # exactly 75 %: at the threshold links
        (14, 8, 0.75, 83, False),
        (10, 5, 0.7, 35, True),  # exactly 70 % of 50
        (10, 5, 0.7000000001, 35, False),  # just above 70 %: a float32 estimate would round it down to 0.7
    ],
)
def test_a_pair_agreeing_on_exactly_the_threshold_is_linked_and_just_below_it_not(
    bands: int, rows: int, threshold: float, agreeing: int, merged: bool
) -> None:
    a = np.random.default_rng(agreeing).integers(0, 2**32 - 1, bands * rows, dtype=np.uint32)
    b = a.copy()
    b[agreeing:] += 1
    cfg = DedupConfig(bands=bands, rows_per_band=rows, min_signature_agreement=threshold)
    result = find_duplicates(_planted(np.vstack([a, b])), cfg)
    assert result["duplicate_of"].to_list() == ([None, "d00000"] if merged else [None, None])


def test_the_estimated_jaccard_is_the_agreeing_share_rounded_half_to_even() -> None:
    """The detail shows k/num_perm to two decimals, ties to even (29 of 40 = 0.725 reads 0.72, 23 of 40 = 0.575
    reads 0.58): the float32 share the clusters hold gives that for every k at 40 (and at 112) permutations, where
    a float64 one would print 0.57."""
    bands, rows = 5, 8
    rng = np.random.default_rng(40)
    sigs = []
    for k in range(rows, bands * rows + 1):
        a = rng.integers(0, 2**32 - 1, bands * rows, dtype=np.uint32)
        b = a.copy()
        b[k:] += 1
        sigs += [a, b]
    result = find_duplicates(_planted(np.vstack(sigs)), DedupConfig(bands=bands, rows_per_band=rows,
                                                                     min_signature_agreement=None))  # fmt: skip
    details = result["detail"].to_list()[1::2]
    for k, detail in zip(range(rows, bands * rows + 1), details, strict=True):
        j100 = round(Fraction(100 * k, bands * rows))
        assert detail == f"estimated jaccard {j100 // 100}.{j100 % 100:02d} with d{2 * (k - rows):05d}"


def test_agreement_is_checked_for_every_candidate_pair_of_a_large_batch() -> None:
    """More candidate pairs than one chunk of the agreement check: pairs on both sides of the threshold,
    interleaved, are each judged on their own signatures."""
    pairs = 17_000
    rng = np.random.default_rng(17)
    a = rng.integers(0, 2**32 - 2, (pairs, NUM_PERM), dtype=np.uint32)
    b = a.copy()
    agreeing = np.where(np.arange(pairs) % 2, 79, 78)  # 70.5 % links, 69.6 % does not
    b[np.arange(NUM_PERM)[None, :] >= agreeing[:, None]] += 1
    sigs = np.empty((2 * pairs, NUM_PERM), dtype=np.uint32)
    sigs[0::2], sigs[1::2] = a, b
    result = find_duplicates(_planted(sigs), CFG)
    linked = result["duplicate_of"].is_not_null().to_numpy()
    assert not linked[0::2].any()
    assert (linked[1::2] == (agreeing == 79)).all()


def test_the_agreement_of_every_pair_is_computed_chunk_after_chunk() -> None:
    """Chunks of 4 pairs over 11 (the last one short): each pair's share of equal values, as numpy computes it
    for all pairs at once."""
    rng = np.random.default_rng(3)
    sig = rng.integers(0, 3, (20, NUM_PERM), dtype=np.uint32)  # few values: agreements spread over 0..1
    a, b = rng.integers(0, 20, 11), rng.integers(0, 20, 11)
    expected = (sig[a] == sig[b]).mean(axis=1)
    assert np.array_equal(_agreement(sig, a, b, chunk=4), expected) and len(set(expected.tolist())) > 5


def test_equal_orders_are_ranked_by_id_whatever_the_input_order() -> None:
    frame = pl.DataFrame({"id": ["b", "a", "c"], "order": [3, 3, 1], "norm_sha256": ["f" * 64] * 3})
    frame = frame.with_columns(minhash=pl.lit([5] * NUM_PERM, dtype=pl.List(pl.UInt32)))
    for candidates in (frame, frame.reverse()):
        result = find_duplicates(candidates, CFG)
        assert result.rows() == [
            ("c", None, None, None, "c", 3),
            ("a", "c", "dedup_exact", "same normalised text as c", "c", 3),
            ("b", "c", "dedup_exact", "same normalised text as c", "c", 3),
        ]
    frame = frame.with_columns(norm_sha256=pl.Series(["f" * 64, "f" * 64, "0" * 64]))
    for candidates in (frame, frame.reverse()):
        assert find_duplicates(candidates, DedupConfig(near=False))["duplicate_of"].to_list() == [None, None, "a"]


def test_without_near_duplicates_the_signatures_are_not_read() -> None:
    """Exact dedup alone needs only the text hashes: signatures of another length (or none) do not stop it,
    as in the release, which reads them only for near-duplicates."""
    frame = pl.DataFrame(
        {"id": ["a", "b", "c"], "order": [0, 1, 2], "norm_sha256": ["1" * 64, "2" * 64, "1" * 64],
         "minhash": [[1, 2, 3], None, [4]]},
        schema_overrides={"minhash": pl.List(pl.UInt32)},
    )  # fmt: skip
    result = find_duplicates(frame, DedupConfig(near=False))
    assert result["duplicate_of"].to_list() == [None, None, "a"]
    assert result["cluster_id"].to_list() == ["a", None, "a"] and result["cluster_size"].to_list() == [2, 1, 2]
