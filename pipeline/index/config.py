"""Knobs of the membership index. Written into `index/index.json`, so every answer can state them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IndexConfig(BaseModel):
    """How the sidecar index is built and how answers are decided.

    The n-gram sketch follows Data Portraits (Marone & Van Durme 2023): word n-grams of every document,
    taken every `stride` words, in a Bloom filter; a query tests all its n-grams, so any copied passage of
    at least `ngram + stride - 1` words contains a stored n-gram.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ngram: int = Field(8, ge=2, le=64, description="Words per n-gram in the membership sketch.")
    stride: int = Field(4, ge=1, le=64, description="A document's n-grams are stored every `stride` words.")
    false_positive_rate: float = Field(
        0.01, gt=0, lt=0.5, description="Target false-positive rate of the sketch, per n-gram tested."
    )
    near_threshold: float = Field(
        0.8, gt=0, le=1, description="Jaccard of word 5-gram shingles from which a text is a near-duplicate "
        "(0.8 = the dedup LSH threshold of 14 bands x 8 rows)."
    )
    contained: float = Field(
        0.9, gt=0, le=1, description="Share of the query's words found, in order, in one document for 'in'."
    )
    max_query_chars: int = Field(200_000, ge=1_000, description="Longer queries are refused (split them).")
    max_candidates: int = Field(20, ge=1, le=200, description="Documents verified on their real text per query.")
    writer_heap_mb: int = Field(128, ge=16, description="Full-text writer memory (MB), shared by its threads.")
    writer_threads: int = Field(1, ge=1, le=8, description="Full-text writer threads.")
    text_shard_docs: int = Field(
        150_000, ge=1, description="Texts per full-text shard: a shard's merges read it back through memory "
        "maps, so this (x ~2.7 KB) bounds the build's memory; queries search every shard."
    )
    entries_memory_mb: int = Field(256, ge=64, description="DuckDB memory limit (MB) while writing the entries.")
    batch_rows: int = Field(4_096, ge=64, description="Documents read per batch while building.")
    sketch_rows: int = Field(
        2_048, ge=16, description="Documents split into words at a time for the sketch (a word list takes many "
        "times its text)."
    )
