"""Answers from the membership index: "is this text / URL / site in the training data?", and search.

Every answer is evidence, not a guess: the sketch and the LSH keys only propose candidates; a document is
named only after its real text was compared with the query (exact hash, verified shingle Jaccard, or
verified shared word spans with their offsets). Removed copies are named with the ledger's stage, reason
and rule, and duplicates with the kept document they duplicate.

A text is compared as the release stores texts (`pipeline.text_identity`): its format characters do not
count, and its personal data is replaced by the placeholders the release's pii step used.

The answers' shapes are `answers.py`'s and the text comparison (offsets, shared spans, verified Jaccard)
`compare.py`'s. What stays here, ~700 lines, is one `MembershipIndex`: its checks (text, URL, domain) and
search share the open index (the entries database, the sketch, the LSH keys, the full-text shards) and its
helpers (candidates, entry rows, removed copies and the duplicates they point to), so it is kept whole.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipeline import url_identity
from pipeline.fingerprints import add_dedup_keys, band_keys
from pipeline.index.answers import (
    IN,
    NOT_IN,
    PARTLY,
    SPAN_TEXT_CHARS,
    Match,
    Report,
    SearchHit,
    SearchReport,
    Span,
)
from pipeline.index.build import (
    FORMAT,
    FORMAT_VERSION,
    INDEX_DIR,
    INDEX_JSON,
    MembershipIndexError,
    manifest_sha256,
)
from pipeline.index.compare import jaccard, query_offsets, shared_spans, shingle_sets, word_offsets
from pipeline.index.config import IndexConfig
from pipeline.index.sketch import Sketch
from pipeline.index.tokens import ANALYZER, analyzer, gram_hashes, word_hashes, word_list, words
from pipeline.release_read import ENTRIES_DB, IndexFiles, ReleaseError, index_files, load_manifest, open_database
from pipeline.text_identity import (
    form_digests,
    normalise_text,
    release_form_changes,
    release_redaction,
    released_forms,
    text_sha256,
)

MAX_BUCKET = 2_000  # LSH bucket members examined per band (a huge bucket is boilerplate; its best are kept)
MAX_PHRASES = 12  # sketch hits sent to the full-text index as phrase queries (spread over the text)
MAX_SEARCH_CHARS = 1_000
LISTED = 200  # matches of one URL, or exact copies of one text, a report lists; its counts are of all of them
LISTED_DUPLICATES = 50  # removed duplicates of a text's documents a report lists; it counts all of them
PHRASE_DEPTH = 2  # a phrase search returns up to this many times max_candidates documents
VERIFIED_DEPTH = 3  # candidates a text check verifies on their texts: this many times max_candidates
SNIPPET_CHARS = 240  # characters of a search hit's snippet
SMALL_SITE = 2_000  # records of a site read in one lookup, its examples chosen here; a larger site: two LIMITs


def _stored_text(doc: Any) -> str:
    """A full-text entry's text as the release holds it (`text` is indexed without format characters)."""
    original = doc.get_first("original")
    return original.decode("utf-8") if original is not None else (doc.get_first("text") or "")


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else f"{x:.2%}"


@dataclass
class _Shard:
    """One full-text shard: the entries [first, first + entries) (format 1: one shard holding all)."""

    first: int
    entries: int | None
    index: Any
    searcher: Any

    def holds(self, entry: int) -> bool:
        return self.entries is None or self.first <= entry < self.first + self.entries


class MembershipIndex:
    """An opened `R/index/`: refuses to answer from an index built for another manifest."""

    def __init__(self, release: str | Path) -> None:
        self.release = Path(release)
        directory = self.release / INDEX_DIR
        try:
            manifest = load_manifest(self.release)
            found = index_files(self.release)  # every path index.json names, checked to lie inside index/
        except ReleaseError as err:
            raise MembershipIndexError(str(err)) from None
        except FileNotFoundError:
            raise MembershipIndexError(
                f"{self.release} has no membership index: run `apertura index {self.release}`"
            ) from None
        path = directory / INDEX_JSON
        self.info = found.info
        if self.info.get("format") != FORMAT:
            raise MembershipIndexError(f"{path} is not an apertura index")
        if self.info.get("format_version") != FORMAT_VERSION:
            raise MembershipIndexError(
                f"the index in {directory} is format {self.info.get('format_version')}, this apertura reads format "
                f"{FORMAT_VERSION}: rebuild it with `apertura index {self.release} --force`"
            )
        if self.info["manifest_sha256"] != manifest_sha256(self.release):
            raise MembershipIndexError(
                f"the index in {directory} was built for another manifest.json: rebuild it with "
                f"`apertura index {self.release} --force`"
            )
        for f in self.info["files"]:
            p = found.files[str(f["path"])]
            if not p.is_file() or p.stat().st_size != f["bytes"]:
                raise MembershipIndexError(f"index file {f['path']} is missing or changed: run `apertura verify`")
        self.release_id = manifest.get("release_id", self.release.name)
        self.redaction = release_redaction(manifest)  # what the release's pii step replaced, for queries
        self.config = IndexConfig(**self.info["config"])
        self.dedup = self.info["dedup"]
        # read-only, external access off, configuration locked: a view stored in the file reads nothing else
        self.con = open_database(found.file(ENTRIES_DB))
        try:
            self._open_parts(found)
        except BaseException:  # a refused index leaves no open file behind (a long-lived caller may rebuild it)
            self.con.close()
            raise

    def _open_parts(self, found: IndexFiles) -> None:
        """Everything after the entries file: refused if that file holds code, else the arrays and shards."""
        import tantivy

        stored = self._rows(
            "SELECT view_name AS name FROM duckdb_views() WHERE NOT internal UNION ALL SELECT function_name "
            "FROM duckdb_functions() WHERE NOT internal AND function_type IN ('macro', 'table_macro')"
        )
        if stored:  # the index writes tables only: anything else was put there by someone else
            raise MembershipIndexError(f"{ENTRIES_DB} holds views or macros ({stored[0]['name']!r}), not an index")
        self.signatures = np.load(found.file("signatures.npy"), mmap_mode="r")
        self.lsh_keys = np.load(found.file("lsh_keys.npy"), mmap_mode="r")
        self.lsh_entries = np.load(found.file("lsh_entries.npy"), mmap_mode="r")
        self.sketch = Sketch.load(found.file("ngrams.npy"), self.info["sketch"]["k"])
        # format 1 had one full-text index in text/; format 2 has entry-range shards under text/NNNNN/
        self.shards: list[_Shard] = []
        for shard_dir, shard in found.shards:
            text_index = tantivy.Index.open(str(shard_dir))
            text_index.register_tokenizer(ANALYZER, analyzer())
            self.shards.append(_Shard(shard["first_entry"], shard["entries"], text_index, text_index.searcher()))
        self.schema = self.shards[0].index.schema

    # ------------------------------------------------------------------------------------------ helpers

    def _rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        import duckdb

        try:
            rel = self.con.cursor().sql(sql, params=params)
            return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
        except duckdb.Error as err:  # e.g. a stored view that tries to read outside the index: refused, and said
            raise MembershipIndexError(f"the index's entries cannot be read: {type(err).__name__}") from None

    def _match(self, row: dict[str, Any], how: str) -> Match:
        keys = ("url", "domain", "language", "title", "stage", "reason", "detail", "duplicate_of")
        return Match(id=row["id"], status=row["status"], how=[how], **{k: row.get(k) for k in keys})

    def _texts(self, entries: list[int]) -> dict[int, str]:
        """Stored texts by entry number (one term-set query on each shard holding some of them)."""
        import tantivy

        out: dict[int, str] = {}
        for shard in self.shards:
            wanted = [int(e) for e in entries if shard.holds(int(e))]
            if not wanted:
                continue
            query = tantivy.Query.term_set_query(self.schema, "entry", wanted)
            for _, address in shard.searcher.search(query, len(wanted), count=False).hits:
                doc = shard.searcher.doc(address)
                out[doc["entry"][0]] = _stored_text(doc)
        return out

    def _search(self, query: Any, limit: int, count: bool = False) -> tuple[list[tuple[float, _Shard, Any]], int]:
        """The best `limit` hits over all shards by score (ties in shard order, as one index would list them
        in segment order) and the total count. Each shard ranks with its own BM25 statistics: shards are equal
        slices of the release (~`text_shard_docs` texts at scale), so they differ little from the whole's."""
        hits: list[tuple[float, _Shard, Any]] = []
        total = 0
        for shard in self.shards:
            result = shard.searcher.search(query, limit, count=count)
            hits += [(float(score), shard, address) for score, address in result.hits]
            total += int(result.count or 0) if count else 0
        hits.sort(key=lambda h: -h[0])  # stable: equal scores keep shard order
        return hits[:limit], total

    def _entries(self, entries: list[int]) -> dict[int, dict[str, Any]]:
        if not entries:
            return {}
        values = [int(e) for e in entries]
        rows = self._rows(f"SELECT * FROM entries WHERE entry IN ({_in(values)})", **_params(values))
        return {r["entry"]: r for r in rows}

    def _duplicate_urls(self, matches: list[Match]) -> None:
        ids = sorted({m.duplicate_of for m in matches if m.duplicate_of})
        if ids:
            rows = self._rows(f"SELECT id, url FROM entries WHERE id IN ({_in(ids)})", **_params(ids))
            urls = {r["id"]: r["url"] for r in rows}
            for m in matches:
                m.duplicate_of_url = urls.get(m.duplicate_of) if m.duplicate_of else None

    def _near_candidates(self, signature: np.ndarray) -> dict[int, float]:
        """Entries sharing at least one LSH band with the query, with their estimated Jaccard."""
        bands, rows = self.dedup["bands"], self.dedup["rows_per_band"]
        keys = band_keys(signature[None, :], bands, rows)[:, 0]
        found: set[int] = set()
        for b in range(bands):
            column = self.lsh_keys[b]
            lo = int(np.searchsorted(column, keys[b], "left"))
            hi = int(np.searchsorted(column, keys[b], "right"))
            found.update(int(e) for e in self.lsh_entries[b][lo : min(hi, lo + MAX_BUCKET)])
        if not found:
            return {}
        cands = np.array(sorted(found))
        est = (np.asarray(self.signatures[cands]) == signature[None, :]).mean(axis=1)
        return dict(zip(cands.tolist(), est.tolist(), strict=True))

    def _phrase_candidates(
        self, tokens: list[str], hit_positions: np.ndarray, n: int
    ) -> tuple[dict[int, str], dict[int, str], bool]:
        """Documents, then removed texts, containing some of the query's sketch-positive n-grams (phrase queries,
        BM25 order), with their stored text (loaded anyway to read the entry number), and whether a search
        stopped at its limit. Searched apart, so that removed texts (short ones rank first) never crowd a
        document out of the candidates. All the positions given are searched: the caller chooses them."""
        import tantivy

        if len(hit_positions) == 0:
            return {}, {}, False
        subqueries = [
            (tantivy.Occur.Should, tantivy.Query.phrase_query(self.schema, "text", tokens[p : p + n]))
            for p in sorted(set(hit_positions.tolist()))
        ]
        query = tantivy.Query.boolean_query(subqueries)
        limit = self.config.max_candidates * PHRASE_DEPTH
        found: tuple[dict[int, str], dict[int, str]] = ({}, {})
        stopped = False
        for status, into in zip(("in", "removed"), found, strict=True):
            status_query = tantivy.Query.term_query(self.schema, "status", status)
            hits = self._search(
                tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, status_query)]), limit
            )[0]
            stopped |= len(hits) == limit
            for _, shard, address in hits:
                doc = shard.searcher.doc(address)
                into[doc["entry"][0]] = _stored_text(doc)
        return *found, stopped

    # ------------------------------------------------------------------------------------------ checks

    def check_text(self, text: str) -> Report:
        """Exact, near-duplicate and partial-overlap membership of a text, each verified on real texts.

        The text is compared in the forms the release may hold for it (`released_forms`): every form's hashes
        are looked up; near copies and shared passages are sought with its release form (format characters
        removed, personal data replaced as the release's pii step replaced it)."""
        started = time.perf_counter()
        cfg = self.config
        raw = (text or "").replace("\x00", "")
        if not raw.strip():
            raise MembershipIndexError("the text is empty: give the text to look for")
        if len(raw) > cfg.max_query_chars:
            raise MembershipIndexError(
                f"the text is {len(raw):,} characters long; the limit is {cfg.max_query_chars:,}: "
                "check it in parts (a few paragraphs each)"
            )
        forms = released_forms(raw, self.redaction)
        released = forms[-1]
        tokens = word_list(released)
        if not tokens:
            raise MembershipIndexError("the text has no words (only punctuation or symbols): nothing to look for")
        digests, norms = form_digests(forms)
        last = normalise_text(released)
        norm_sha = text_sha256(last) if last else None

        # 1. exact and normalised hashes
        # (plain filters only: an ORDER BY on top makes DuckDB scan instead of using the index)
        exact = self._rows(f"SELECT * FROM entries WHERE text_sha256 IN ({_in(digests)})", **_params(digests))
        if norms:
            exact += self._rows(f"SELECT * FROM entries WHERE norm_sha256 IN ({_in(norms)})", **_params(norms))
        exact = sorted({r["entry"]: r for r in exact}.values(), key=lambda r: r["entry"])  # documents first
        same_text = sum(1 for r in exact if r["status"] == "in")
        removed_ids = {r["id"] for r in exact if r["status"] == "removed"}  # counted whole, listed in part
        capped = len(exact) > LISTED  # a candidate left unverified: the figures below are lower bounds
        exact = exact[:LISTED]
        how: dict[int, set[str]] = {}
        for r in exact:
            how.setdefault(r["entry"], set()).add("exact" if r["text_sha256"] in digests else "normalised")

        # 2. near-duplicates: LSH candidates, best by estimate
        dedup = self.dedup
        sig = add_dedup_keys(pl.DataFrame({"text": [released]}), _dedup_cfg(dedup))["minhash"][0].to_numpy()
        estimates = self._near_candidates(sig)  # a text without shingles has none: the index holds none such
        near = sorted(estimates, key=lambda e: -estimates[e])[: cfg.max_candidates]
        capped |= len(estimates) > cfg.max_candidates

        # 3. partial overlap: sketch over all query n-grams, then phrase queries for the positive ones
        n = cfg.ngram
        hashes, counts = word_hashes(pl.Series([tokens], dtype=pl.List(pl.String)))
        grams = gram_hashes(hashes, counts, n, 1)
        positive = self.sketch.contains(grams) if len(grams) else np.zeros(0, bool)
        hit_positions = np.flatnonzero(positive)
        whole = (np.array([0]), len(tokens))  # the whole text as one phrase
        if len(tokens) >= n:
            # a text shorter than n + stride - 1 words may hold no stored n-gram: searched whole too
            searches = [(hit_positions, n), *([whole] if len(tokens) < n + cfg.stride - 1 else [])]
            span_n = n
        else:  # too short for the sketch
            searches = [whole] if len(tokens) >= 2 else []
            span_n = len(tokens)
        kept_phrase: dict[int, str] = {}
        removed_phrase: dict[int, str] = {}
        for positions, length in searches:
            spread = np.linspace(0, len(positions) - 1, min(MAX_PHRASES, len(positions))).astype(int)
            kept, removed_texts, stopped = self._phrase_candidates(tokens, positions[spread], length)
            kept_phrase |= kept
            removed_phrase |= removed_texts
            capped |= stopped
        if len(hit_positions) > MAX_PHRASES:
            if kept_phrase:  # more sketch hits than phrases searched: a document holding only an unsearched
                capped = True  # passage was not looked for
            else:  # no document found yet: every hit is searched (a passage among the sketch's false positives of
                # a long text, 1 in 100 n-grams, would else be answered "not in")
                kept_phrase, removed_texts, stopped = self._phrase_candidates(tokens, hit_positions, n)
                removed_phrase |= removed_texts
                capped |= stopped
        phrase = kept_phrase | removed_phrase

        # 4. verify every candidate on its real text, documents first: removed copies never crowd one out
        kept_exact = [r["entry"] for r in exact if r["status"] == "in"]
        candidates = list(dict.fromkeys([*kept_exact, *near, *kept_phrase, *how, *removed_phrase]))
        capped |= len(candidates) > VERIFIED_DEPTH * cfg.max_candidates
        candidates = candidates[: VERIFIED_DEPTH * cfg.max_candidates]
        info = self._entries(candidates)
        texts = {e: phrase[e] for e in candidates if e in phrase}
        texts |= self._texts([e for e in candidates if info.get(e, {}).get("has_text") and e not in phrase])
        shingles = shingle_sets([released, *texts.values()], dedup["ngram_size"])
        q_shingles, by_entry = shingles[0], dict(zip(texts, shingles[1:], strict=True))
        q_offsets = query_offsets(raw, tokens)
        matches: dict[int, Match] = {}
        covered_in = np.zeros(len(tokens), dtype=bool)
        for e in candidates:
            row = info.get(e)
            if row is None:
                continue
            kinds = set(how.get(e, ()))
            m = self._match(row, "")
            if e in estimates:
                m.estimated_jaccard = round(estimates[e], 4)
            if e in texts:
                doc_text = texts[e]
                m.jaccard = round(jaccard(q_shingles, by_entry[e]), 4)
                doc_tokens = words(pl.Series([doc_text]))[0].to_list()
                spans = shared_spans(tokens, doc_tokens, max(span_n, 1)) if span_n else []
                d_offsets = word_offsets(doc_text, doc_tokens) if spans else []
                covered = np.zeros(len(tokens), dtype=bool)
                for qa, qb, da in spans:
                    covered[qa:qb] = True
                    ds, de = d_offsets[da][0], d_offsets[da + qb - qa - 1][1]
                    m.spans.append(
                        Span(qb - qa, q_offsets[qa][0], q_offsets[qb - 1][1], ds, de, doc_text[ds:de][:SPAN_TEXT_CHARS])
                    )
                m.spans.sort(key=lambda s: -s.words)
                m.overlap = round(float(covered.mean()), 4)
                if m.jaccard >= cfg.near_threshold:
                    kinds.add("near_duplicate")
                if m.overlap >= cfg.contained and len(tokens) >= n:  # a few common words prove nothing
                    kinds.add("contained")
                elif spans:
                    kinds.add("overlap")
                if row["status"] == "in" and spans:
                    covered_in |= covered
            if not kinds:
                continue
            order = ("exact", "normalised", "near_duplicate", "contained", "overlap")
            m.how = [k for k in order if k in kinds]
            matches[e] = m

        ranked = sorted(matches.values(), key=_rank)
        in_ranked = [m for m in ranked if m.status == "in"]
        found_in = in_ranked[: cfg.max_candidates]
        capped |= len(in_ranked) > len(found_in)  # the removed duplicates counted are the listed documents'
        removed = [m for m in ranked if m.status == "removed"][: cfg.max_candidates]
        removed_ids |= {m.id for m in ranked if m.status == "removed"}
        # copies removed as duplicates of a matching document are copies of this text too
        if found_in:
            ids = [m.id for m in found_in]
            dup_rows = self._rows(f"SELECT * FROM entries WHERE duplicate_of IN ({_in(ids)})", **_params(ids))
            dup_rows = sorted((r for r in dup_rows if r["status"] == "removed"), key=lambda r: r["id"])
            removed_ids |= {r["id"] for r in dup_rows}
            dup_rows = dup_rows[:LISTED_DUPLICATES]
            seen = {m.id for m in removed}
            removed += [self._match(r, "duplicate_of_match") for r in dup_rows if r["id"] not in seen]
        self._duplicate_urls(removed)

        strong = {"exact", "normalised", "near_duplicate", "contained"}
        if any(strong & set(m.how) for m in found_in):
            verdict = IN
        elif found_in:
            verdict = PARTLY
        else:
            verdict = NOT_IN
        overlap_all = float(covered_in.mean()) if len(tokens) else 0.0
        sketch = {
            **self._sketch_info(),
            "ngrams_tested": len(grams),
            "ngrams_positive": int(positive.sum()),
            "guaranteed_from_words": n + self.config.stride - 1,
        }
        found = (same_text, len(in_ranked), capped)
        summary = [self._text_verdict(verdict, found_in, found, overlap_all, len(tokens))]
        if changed := release_form_changes(raw, released):
            summary.append(f"Compared as the release stores texts: {changed}.")
        summary += [_removed_sentence(m) for m in removed]
        if len(removed_ids) > len(removed):
            summary.append(f"{len(removed_ids) - len(removed):,} more removed copies are counted but not listed.")
        summary.append(
            f"Sketch: {sketch['ngrams_positive']} of {sketch['ngrams_tested']} word {n}-grams of the text test "
            f"positive (false-positive rate per n-gram {_pct(sketch['false_positive_rate_configured'])} configured, "
            f"{sketch['false_positive_rate_expected']:.3%} expected in this index); it only proposes candidates: "
            "every match above was verified on the document's text."
        )
        if len(tokens) < n:
            summary.append(
                f"The text has fewer than {n} words: found passages are reported as partial overlap only, since a "
                "few words in a row prove little; exact and near-duplicate matches still count."
            )
        elif len(tokens) < n + self.config.stride - 1:
            summary.append(
                f"The text has {len(tokens)} words: a copy of the whole text was looked for as one phrase; a shorter "
                f"shared passage is certain to be found only from {n + self.config.stride - 1} words (n-gram {n}, "
                f"stride {self.config.stride})."
            )
        summary.append(
            "Records removed as opted out carry no text, so a text cannot be matched to them: "
            "check the page's URL or its domain as well."
        )
        return Report(
            release=self.release_id,
            query={"kind": "text", "chars": len(raw), "words": len(tokens), "text_sha256": text_sha256(raw),
                   "norm_sha256": norm_sha, "release_form": changed},
            verdict=verdict,
            summary=summary,
            matches=found_in,
            removed=removed,
            counts={
                "documents": len(in_ranked),  # verified; the matches list max_candidates of them
                "removed": len(removed_ids),  # every removed copy found; `removed` lists some
                "lower_bounds": capped,  # a search stopped at its limit: more documents may hold passages of it
                "overlap": round(overlap_all, 4),
                "same_text_documents": same_text,  # exact or normalised, all of them (the matches list LISTED)
            },
            sketch=sketch,
            index=self._index_info(),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    def check_url(self, url: str) -> Report:
        """Is this page in? Any spelling of the URL; removed records with their reasons."""
        started = time.perf_counter()
        try:  # one URL identity: every spelling of the page is the same (pipeline/url_identity.py)
            canonical = url_identity.user_url((url or "").replace("\x00", ""))
        except url_identity.BadUrl as err:
            raise MembershipIndexError(str(err)) from None
        key = url_identity.url_key(canonical)
        rows = self._rows("SELECT * FROM entries WHERE url_key = $k", k=key)
        similar = [] if rows else [
            r["url"] for r in self._rows(
                "SELECT DISTINCT url FROM entries WHERE list_contains($twins, url_key) ORDER BY url LIMIT 5",
                twins=url_identity.near_miss_keys(key),
            )
        ]  # fmt: skip
        n_in, n_removed = (sum(1 for r in rows if r["status"] == status) for status in ("in", "removed"))
        rows = sorted(rows, key=lambda r: (r["status"], r["id"]))[:LISTED]  # listed: kept documents first
        found = [self._match(r, "url") for r in rows if r["status"] == "in"]
        removed = [self._match(r, "url") for r in rows if r["status"] == "removed"]
        self._duplicate_urls(removed)
        verdict = IN if found else NOT_IN
        if found:
            head = f"IN: {n_in} document(s) of this release have this URL: " + ", ".join(m.id for m in found[:5])
        elif removed:
            head = f"NOT IN: this URL was crawled but removed ({n_removed} record(s))."
        else:
            head = "NOT IN: this release has no record of this URL."
        if similar:
            head += " It has records at a URL that differs only by a trailing slash or 'www.': " + ", ".join(similar)
        return Report(
            release=self.release_id,
            query={"kind": "url", "url": url, "canonical": canonical},
            verdict=verdict,
            summary=[head, *(_removed_sentence(m) for m in removed)],
            matches=found,
            removed=removed,
            counts={"documents": n_in, "removed": n_removed},
            index=self._index_info(),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    def check_domain(self, domain: str, *, limit: int = 20) -> Report:
        """A site and its subdomains: documents in, records removed per stage and reason, examples of both."""
        started = time.perf_counter()
        try:  # one URL identity (pipeline/url_identity.py): the stored form, `host[:port]`
            d = url_identity.normalise_domain((domain or "").replace("\x00", ""))
        except url_identity.BadUrl as err:
            raise MembershipIndexError(str(err)) from None
        cond, params = url_identity.domain_condition(d)
        if "domain_port" in params:  # one port of a host: a scan of the entries (the `sites` table has no ports)
            source = f"(SELECT entry, status, stage, reason FROM entries WHERE {cond})"
        else:  # `sites` lists every entry under each suffix of its domain: subdomains come by index lookup
            source = "(SELECT entry, status, stage, reason FROM sites WHERE site = $domain)"
        groups = self._rows(f"SELECT status, stage, reason, count(*) AS n FROM {source} GROUP BY ALL "
                            "ORDER BY n DESC, stage NULLS FIRST, reason NULLS FIRST", **params)  # fmt: skip
        n_in = sum(g["n"] for g in groups if g["status"] == "in")
        by_reason = [g for g in groups if g["status"] == "removed"]
        n_removed = sum(g["n"] for g in by_reason)
        if n_in + n_removed <= SMALL_SITE:  # one lookup, examples chosen here; either way the lowest entries
            rows = self._rows(f"SELECT entry, status FROM {source}", **params)
            picked = []
            for status in ("in", "removed"):
                picked += sorted(r["entry"] for r in rows if r["status"] == status)[:limit]
        else:
            picked = [
                r["entry"]
                for status in ("in", "removed")
                for r in self._rows(
                    f"SELECT entry FROM {source} WHERE status = $s ORDER BY entry LIMIT $n",
                    **params, s=status, n=int(limit),
                )
            ]
        examples = sorted(self._entries(picked).values(), key=lambda r: (r["status"], r["id"]))
        found = [self._match(r, "domain") for r in examples if r["status"] == "in"]
        removed = [self._match(r, "domain") for r in examples if r["status"] == "removed"]
        self._duplicate_urls(removed)
        verdict = (PARTLY if n_removed else IN) if n_in else NOT_IN
        if n_in:
            head = f"{verdict.upper()}: {n_in:,} document(s) from {d} (with subdomains) are in the training data"
            head += f"; {n_removed:,} record(s) were removed." if n_removed else "."
        elif n_removed:
            head = f"NOT IN: all {n_removed:,} record(s) from {d} were removed."
        else:
            head = f"NOT IN: this release has no record from {d}."
        lines = [head] + [
            f"{g['n']:,} removed at stage {g['stage']} ({g['reason']})"
            + (": opted out" if g["stage"] == "optout" else "")
            for g in by_reason
        ]
        return Report(
            release=self.release_id,
            query={"kind": "domain", "domain": d},
            verdict=verdict,
            summary=lines,
            matches=found,
            removed=removed,
            counts={"documents": n_in, "removed": n_removed,
                    "removed_by_reason": {f"{g['stage']}/{g['reason']}": g["n"] for g in by_reason}},
            index=self._index_info(),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    def check(self, *, text: str | None = None, url: str | None = None, domain: str | None = None) -> Report:
        """One report for any combination: a rights holder's page (`url`) and its text (`text`) together
        can say "your page was removed as opted out, but a copy of its text from mirror.net is in"."""
        parts = [
            p
            for p in (
                self.check_text(text) if text is not None else None,
                self.check_url(url) if url is not None else None,
                self.check_domain(domain) if domain is not None else None,
            )
            if p is not None
        ]
        if not parts:
            raise MembershipIndexError("give a text, a URL or a domain to check")
        if len(parts) == 1:
            return parts[0]
        rank = {IN: 2, PARTLY: 1, NOT_IN: 0}
        seen: set[tuple[str, str]] = set()
        merged = Report(
            release=self.release_id,
            query={p.query["kind"]: p.query for p in parts},
            verdict=max((p.verdict for p in parts), key=rank.__getitem__),
            summary=[f"[{p.query['kind']}] {line}" for p in parts for line in p.summary],
            sketch=next((p.sketch for p in parts if p.sketch), {}),
            index=self._index_info(),
            counts={p.query["kind"]: p.counts for p in parts},
            elapsed_ms=round(sum(p.elapsed_ms for p in parts), 2),
        )
        by_kind = {p.query["kind"]: p for p in parts}
        if "text" in by_kind and ("url" in by_kind or "domain" in by_kind):
            where = by_kind.get("url") or by_kind["domain"]
            target = where.query.get("url") or where.query.get("domain")
            gone = sorted({f"{m.stage}/{m.reason}" for m in where.removed})
            elsewhere = [m for m in by_kind["text"].matches if m.id not in {x.id for x in where.matches}]
            lead = f"{target}: {where.verdict}" + (f" (removed: {', '.join(gone)})" if gone else "")
            lead += f"; its text: {by_kind['text'].verdict}"
            if elsewhere:
                lead += " (copies in: " + ", ".join(m.url or m.id for m in elsewhere[:3]) + ")"
            merged.summary.insert(0, lead + ".")
        for p in parts:
            for attr in ("matches", "removed"):
                for m in getattr(p, attr):
                    if (attr, m.id) not in seen:
                        seen.add((attr, m.id))
                        getattr(merged, attr).append(m)
        return merged

    # ------------------------------------------------------------------------------------------ search

    def search(
        self, query: str, *, language: str | None = None, limit: int = 10, include_removed: bool = False
    ) -> SearchReport:
        """BM25 full-text search. Words are matched as words (no query syntax: any character is safe);
        "quoted words" must appear as a phrase."""
        import tantivy

        started = time.perf_counter()
        q = (query or "").replace("\x00", "")
        if not q.strip():
            raise MembershipIndexError("the search query is empty")
        if len(q) > MAX_SEARCH_CHARS:
            raise MembershipIndexError(f"the search query is {len(q):,} characters; the limit is {MAX_SEARCH_CHARS:,}")
        if not 1 <= limit <= 100:
            raise MembershipIndexError("--limit must be between 1 and 100")
        if language is not None and not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z]{4})?", language):
            raise MembershipIndexError(f"--lang {language!r} is not an ISO 639 code such as 'de'")
        phrases = [words(pl.Series([p]))[0].to_list() for p in re.findall(r'"([^"]*)"', q)]
        loose = words(pl.Series([re.sub(r'"[^"]*"', " ", q)]))[0].to_list()
        schema = self.schema
        should = [
            (tantivy.Occur.Should, tantivy.Query.term_query(schema, f, w))
            for w in dict.fromkeys(loose)
            for f in ("text", "title")
        ]
        must = []
        for p in phrases:
            if len(p) == 1:
                must.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "text", p[0])))
            elif p:
                must.append((tantivy.Occur.Must, tantivy.Query.phrase_query(schema, "text", p)))
        if not should and not must:
            raise MembershipIndexError("the search query has no words to look for")
        text_query = tantivy.Query.boolean_query(
            must + ([(tantivy.Occur.Must, tantivy.Query.boolean_query(should))] if should else [])
        )
        filters = [(tantivy.Occur.Must, text_query)]
        if language:
            filters.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "language", language)))
        if not include_removed:
            filters.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "status", "in")))
        found, total = self._search(tantivy.Query.boolean_query(filters), limit, count=True)
        generators: dict[int, Any] = {}
        hits = []
        for score, shard, address in found:
            if id(shard) not in generators:  # one per shard that has hits: it reads that shard's terms
                generators[id(shard)] = tantivy.SnippetGenerator.create(shard.searcher, text_query, schema, "text")
                generators[id(shard)].set_max_num_chars(SNIPPET_CHARS)
            doc = shard.searcher.doc(address)
            snippet = generators[id(shard)].snippet_from_doc(doc)
            fragment = snippet.fragment()
            raw = fragment.encode("utf-8")
            ranges = [
                (len(raw[: r.start].decode("utf-8", "ignore")), len(raw[: r.end].decode("utf-8", "ignore")))
                for r in snippet.highlighted()
            ]
            hits.append(
                SearchHit(
                    id=_first(doc, "id") or "",
                    url=_first(doc, "url"),
                    title=_first(doc, "title"),
                    language=_first(doc, "language"),
                    status=_first(doc, "status") or "",
                    score=round(float(score), 4),
                    snippet=fragment,
                    highlights=ranges,
                )
            )
        return SearchReport(
            release=self.release_id,
            query=q,
            language=language,
            total=total,
            hits=hits,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    # ------------------------------------------------------------------------------------------ wording

    def _sketch_info(self) -> dict[str, Any]:
        s = self.info["sketch"]
        keys = ("ngram", "stride", "k", "false_positive_rate_configured", "false_positive_rate_expected")
        return {k: s[k] for k in keys}

    def _index_info(self) -> dict[str, Any]:
        return {"manifest_sha256": self.info["manifest_sha256"], "near_threshold": self.config.near_threshold,
                "contained": self.config.contained}

    def _text_verdict(
        self, verdict: str, listed: list[Match], found: tuple[int, int, bool], overlap: float, n_words: int
    ) -> str:
        """`found`: the documents holding the same text (all of them), those verified to match, and whether a
        search stopped at its limit (then that count is a lower bound)."""
        if verdict == NOT_IN:
            return "NOT IN: no document of this release contains this text, a near copy of it or a passage of it."
        same_text, matching, capped = found
        best = listed[0]
        where = f"{best.id} ({best.url or 'no URL'})"
        if "exact" in best.how or "normalised" in best.how:
            kind = "an exact copy" if "exact" in best.how else "the same text up to case, punctuation and spacing"
            return f"IN: {kind} is in {same_text} document(s), e.g. {where}."
        if "near_duplicate" in best.how:
            return (
                f"IN: a near copy is in the training data: {where}, Jaccard {best.jaccard:.2f} verified on the text "
                f"(MinHash estimate {best.estimated_jaccard if best.estimated_jaccard is not None else 'n/a'})."
            )
        if "contained" in best.how:
            return f"IN: {_pct(best.overlap or 0)} of the text's words appear, in order, in {where}."
        longest = max((s.words for m in listed for s in m.spans), default=0)
        return (
            f"PARTLY IN: {_pct(overlap)} of the text's {n_words} words appear in {'at least ' if capped else ''}"
            f"{matching} document(s) "
            f"(longest shared passage: {longest} words, in {where})."
        )


def _in(values: list[Any]) -> str:
    """Placeholders `$p0, $p1, ...`: an IN list of bound parameters, which DuckDB answers from its ART index."""
    return ", ".join(f"$p{i}" for i in range(len(values)))


def _params(values: list[Any]) -> dict[str, Any]:
    return {f"p{i}": v for i, v in enumerate(values)}


def _first(doc: Any, name: str) -> Any:
    values = doc.to_dict().get(name) or []
    return values[0] if values else None


def _rank(m: Match) -> tuple:
    strength = 0 if {"exact", "normalised"} & set(m.how) else 1 if "near_duplicate" in m.how else 2
    return (strength, -(m.jaccard or 0) if strength == 1 else 0, -(m.overlap or 0), m.id)


def _removed_sentence(m: Match) -> str:
    site = m.domain or (m.url or "an unknown site")
    what = f"A copy from {site} ({m.url or m.id}) was removed at stage {m.stage} ({m.reason}"
    what += f": {m.detail})" if m.detail else ")"
    if m.stage == "optout":
        what += ": the rights holder opted out"
    if m.duplicate_of:
        what += f"; it duplicates {m.duplicate_of} ({m.duplicate_of_url or 'no URL'}), which is in"
    return what + "."


def _dedup_cfg(dedup: dict[str, Any]) -> Any:
    from pipeline.config import DedupConfig

    return DedupConfig(**dedup)


def open_index(release: str | Path) -> MembershipIndex:
    return MembershipIndex(release)
