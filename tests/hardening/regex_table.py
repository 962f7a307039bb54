"""Every regular expression Apertura applies to page or text content, with the inputs that are worst for it.

Run as a module (`python -m tests.hardening.regex_table [case ...]`) it applies each case to its 1 MiB inputs
the way the code does (search, findall, sub, Polars count/extract/replace) and prints one JSON line per input
as soon as it finishes, so the test that runs it in a subprocess (test_regex_time.py) can name the case that
hangs. A worst case is built from the pattern: the prefix it can almost match, repeated (`<a ` for a tag, `a@`
for an e-mail, `a=` for an attribute, `1.1.1.` for an address), long runs of one class (spaces, word
characters, newlines), and the characters where its alternatives overlap.

`CONTENT_PATTERNS` names the modules whose compiled patterns must each have a row here: a new regex in them
without one fails the test.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

MIB = 1 << 20


def rep(unit: str, n: int = MIB) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def generic(n: int = MIB) -> dict[str, str]:
    return {
        "word chars": rep("a", n),
        "spaces": rep(" ", n),
        "newlines": rep("\n", n),
        "angle brackets": rep("<", n),
        "punctuation": rep(".'-", n),
    }


@dataclass(frozen=True)
class Case:
    name: str
    pattern: str  # what is tested, for the report (a Pattern's .pattern or the Polars pattern string)
    apply: Callable[[str], object]
    inputs: Callable[[], dict[str, str]]


def py(compiled: re.Pattern, op: str) -> Callable[[str], object]:
    """Apply a compiled Python pattern the way the code does (bytes patterns get UTF-8)."""

    def run(text: str) -> object:
        data: str | bytes = text.encode() if isinstance(compiled.pattern, bytes) else text
        if op == "findall":
            return len(compiled.findall(data))
        if op == "sub":
            return len(compiled.sub(b"" if isinstance(data, bytes) else "", data))
        if op == "split":
            return len(compiled.split(data))
        return getattr(compiled, op)(data) is not None

    return run


def polars(pattern: str, op: str) -> Callable[[str], object]:
    """Apply a pattern with Polars (Rust `regex`) the way the code does."""

    def run(text: str) -> object:
        s = pl.Series([text])
        if op == "count_matches":
            return s.str.count_matches(pattern).item()
        if op == "extract_all":
            return s.str.extract_all(pattern).list.len().item()
        if op == "replace_all":
            return s.str.replace_all(pattern, "").str.len_bytes().item()
        return s.str.contains(pattern).item()

    return run


def with_generic(targeted: dict[str, str]) -> Callable[[], dict[str, str]]:
    return lambda: targeted | generic()


def cases() -> list[Case]:
    from audit_app import common as app_common
    from audit_app import registry as app_registry
    from pipeline import text_identity as ti
    from pipeline import url_identity as ui
    from pipeline import warc_record
    from pipeline.crawl import config as crawl_config
    from pipeline.crawl import urls as crawl_urls
    from pipeline.index import tokens
    from pipeline.optout import base as optout_base
    from pipeline.optout import families as optout_families
    from pipeline.optout import noai, robots
    from pipeline.optout import registry as optout_registry
    from pipeline.reports import render
    from pipeline.sources import base as src_base
    from pipeline.sources import inputs as src_inputs
    from pipeline.sources import warc as src_warc
    from pipeline.steps import extract, quality

    out: list[Case] = []

    def add(name: str, pattern: re.Pattern | str, run: Callable[[str], object], targeted: dict[str, str]) -> None:
        shown = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        out.append(Case(name, str(shown), run, with_generic(targeted)))

    def py_case(name: str, compiled: re.Pattern, op: str, targeted: dict[str, str]) -> None:
        add(name, compiled, py(compiled, op), targeted)

    def pl_case(name: str, pattern: str, op: str, targeted: dict[str, str]) -> None:
        add(name, pattern, polars(pattern, op), targeted)

    # ---- HTML: charset sniffing, nesting depth, meta tags (extract, opt-out signals)
    add(
        "extract.meta_charset",
        extract._CHARSET_VALUE,
        lambda t: extract.meta_charset(t.encode()),
        {
            "meta no charset": rep("<meta "),
            "meta long attr": rep("<meta " + "x" * 199),
            "meta charset=": rep("<meta charset="),
            "charsets": "<meta " + rep(" charset"),
        },
    )
    add(
        "extract.nesting_depth",
        extract._TAG_START,
        extract.nesting_depth,
        {
            "tag starts no '>'": rep("<a "),
            "tags": rep("<div>"),
            "closers": rep("</a>"),
            "attribute with '<'": "<a x='" + rep("<b ", MIB - 10) + "'>",
            "self-closing": rep("<a/>"),
        },
    )
    py_case(
        "optout.base._META_START",
        optout_base._META_START,
        "findall",
        {"metas": rep("<meta"), "meta-ish": rep("<metab")},
    )
    py_case(
        "optout.base._ATTR",
        optout_base._ATTR,
        "findall",
        {
            "unterminated quote": 'a="' + rep("x", MIB - 3),
            "name=": rep("a="),
            "spaces around =": rep("a = "),
            "quotes": rep("a='b' c=\"d\" "),
            "long name": rep("a:b.c-d_") + "=",
        },
    )
    py_case(
        "optout.base._HEAD_END", optout_base._HEAD_END, "search", {"head tags": rep("</head "), "body-ish": rep("<bod")}
    )
    add(
        "optout.base.html_meta",
        optout_base._ATTR,
        optout_base.html_meta,
        {"many metas no '>'": rep("<meta name=a "), "metas": rep('<meta name="a" content="b">')},
    )
    # ---- robots.txt / ai.txt, X-Robots-Tag values, HTTP tokens
    add("robots._lines", "CR / LF / CRLF", robots._lines, {"cr lf mix": rep("\r\n\r"), "cr": rep("\r")})
    py_case("robots._TWO_TOKENS", robots._TWO_TOKENS, "fullmatch", {"one token": rep("a"), "tokens": rep("a b "),
            "tabs": rep("a\t")})  # fmt: skip
    py_case("robots._TOKEN", robots._TOKEN, "match", {"token": rep("Bot-1.")})
    py_case("robots._HTML_START", robots._HTML_START, "match", {"spaces then tag": rep(" ") + "<html>"})
    py_case(
        "robots._AUTHORITY", robots._AUTHORITY, "sub", {"scheme no slash": "http://" + rep("a"), "schemes": rep("a+")}
    )
    add(
        "robots.parse",
        robots._TWO_TOKENS,
        lambda t: robots.parse(t).mode,
        {"disallow lines": rep("Disallow: /a*b*c$\n"), "user agents": rep("User-agent: a\n"), "one line": rep("a:")},
    )
    py_case("noai._SCOPED", noai._SCOPED, "match", {"no colon": rep("a"), "colons": rep("a:"), "spaces": rep(" a ")})
    py_case("sources.inputs._GLOB_CHARS", src_inputs._GLOB_CHARS, "search", {"no glob": rep("a/")})
    py_case("warc_record._TOKEN", warc_record._TOKEN, "fullmatch", {"token then space": rep("a") + " "})
    py_case(
        "warc_record._VERSION", warc_record._VERSION, "fullmatch", {"versions": rep("WARC/1.1"), "digits": rep("1")}
    )
    py_case(
        "sources.warc._VERSION_LINE",
        src_warc._VERSION_LINE,
        "match",
        {"version lines without end": rep("WARC/1.0 "), "almost": rep("WARC/1."), "blanks": "WARC/1.0" + rep(" ")},
    )
    py_case("sources.base._CANONICAL_DATE", src_base._CANONICAL_DATE, "fullmatch", {"digits": rep("2026-")})
    # ---- URLs (from pages' links and WARC records)
    py_case("url_identity._ESCAPE", ui._ESCAPE, "sub", {"escapes": rep("%41"), "percents": rep("%")})
    py_case("url_identity._LONE_PERCENT", ui._LONE_PERCENT, "sub", {"percents": rep("%4"), "%": rep("%")})
    py_case(
        "url_identity._HAS_SCHEME", ui._HAS_SCHEME, "match", {"scheme chars": rep("a+.-"), "almost": rep("a") + ":/"}
    )
    py_case("crawl.urls._IP", crawl_urls._IP, "match", {"digits": rep("1.1."), "brackets": "[" + rep("0:")})
    py_case("crawl.config._PRODUCT", crawl_config._PRODUCT, "findall", {"products": rep("a/"), "no slash": rep("(a ")})
    py_case("crawl.config._TOKEN", crawl_config._TOKEN, "match", {"token": rep("a") + "!"})
    # ---- personal data, normalisation (Python and Polars)
    py_case("text_identity._FORMAT_RE", ti._FORMAT_RE, "search", {"none": rep("a"), "last": rep("a") + "\u200b"})
    add("text_identity.strip_format_text", "FORMAT_CHARACTERS", ti.strip_format_text,
        {"format chars": rep("\u200b"), "mixed": rep("a\u00ad")})  # fmt: skip
    py_case(
        "text_identity.IPV4 (Python)",
        re.compile(ti.IPV4),
        "sub",
        {"dotted digits": rep("1.1.1."), "long numbers": rep("255.255.255.2555"), "octets": rep("25.")},
    )
    py_case(
        "text_identity.IBAN (Python)",
        re.compile(ti.IBAN),
        "sub",
        {"almost IBAN": rep("CH93 0076 2011 623"), "letters": rep("AB12"), "spaced": rep("CH12 ")},
    )
    pl_case(
        "text_identity.EMAIL",
        ti.EMAIL,
        "replace_all",
        {"local parts": rep("a."), "at signs": rep("a@"), "domains": "a@" + rep("b."), "long tld": "a@b." + rep("c")},
    )
    pl_case("text_identity.IPV4", ti.IPV4, "extract_all", {"dotted digits": rep("1.1.1.")})
    pl_case("text_identity.IBAN", ti.IBAN, "extract_all", {"almost IBAN": rep("CH93 0076 2011 623")})
    pl_case("text_identity.FORMAT_CLASS", ti.FORMAT_CLASS, "replace_all", {"format chars": rep("\u200b")})
    pl_case("text_identity.PUNCT", ti.PUNCT, "replace_all", {"punctuation": rep("!?")})
    pl_case("text_identity.SPACES", ti.SPACES, "replace_all", {"tabs": rep("\t "), "nbsp": rep("\u00a0")})
    add(
        "text_identity.redact",
        ti.EMAIL,
        lambda t: ti.redact(pl.Series([t]))[1].item(),
        {"emails": rep("a@b.cc "), "public IPs": rep("8.8.8.8 "), "IBAN-ish": rep("CH93 0076 2011 6238 5295 7 ")},
    )
    add("text_identity.normalise_text", ti.PUNCT, ti.normalise_text, {"mixed": rep("A\u200b.B ")})
    # ---- quality (Gopher, C4, FineWeb)
    pl_case(
        "quality.WORD",
        quality.WORD,
        "extract_all",
        {"apostrophes": rep("a'"), "dots": rep("a."), "hyphen runs": rep("a-'.-")},
    )
    pl_case(
        "quality.BULLET_LINE", quality.BULLET_LINE, "count_matches", {"bullets": rep("\n  -"), "spaces": rep("\u00a0")}
    )
    pl_case("quality.ELLIPSIS", quality.ELLIPSIS, "count_matches", {"dots": rep(".."), "ellipses": rep("…")})
    pl_case("quality.ELLIPSIS_LINE", quality.ELLIPSIS_LINE, "count_matches", {"dots spaces": rep("... ")})
    pl_case("quality.SENTENCE_END", quality.SENTENCE_END, "count_matches", {"ends": rep('." '), "closers": rep(".)]")})
    pl_case("quality._ENDS_SENTENCE", quality._ENDS_SENTENCE, "contains", {"almost": rep(". a")})
    pl_case("quality.CITATION", quality.CITATION, "replace_all", {"brackets": rep("[1"), "edit": rep("[edit")})
    pl_case("quality.POLICY_PHRASES", "|".join(quality.POLICY_PHRASES), "contains", {"almost": rep("terms of us")})
    pl_case("quality._LINE_BREAKS", quality._LINE_BREAKS, "replace_all", {"crs": rep("\r\x0b")})
    pl_case("quality.letter", r"\p{L}", "contains", {"digits": rep("1")})
    pl_case("quality.\\S+", r"\S+", "count_matches", {"one word": rep("a"), "words": rep("a ")})
    pl_case("quality.long word", r"\S{1001}", "contains", {"words of 1000": rep("a" * 1000 + " ")})
    pl_case("quality.line punctuation", rf"(?m)[{quality.TERMINAL}]$", "count_matches", {"lines": rep(".\n")})
    pl_case("quality.short line", r"(?m)^.{0,30}$", "count_matches", {"lines of 31": rep("a" * 31 + "\n")})
    pl_case("quality.terminal", rf"[{quality.TERMINAL}]$", "contains", {"dots": rep(".a")})
    # ---- membership index words, policy URLs
    pl_case(
        "index.tokens.WORD_PATTERN", tokens.WORD_PATTERN, "extract_all", {"marks": rep("a\u0301"), "han": rep("漢a")}
    )
    add(
        "index.tokens.words",
        tokens.WORD_PATTERN,
        lambda t: tokens.words(pl.Series([t]))[0].len(),
        {"text": rep("a b ")},
    )
    pl_case(
        "optout.families.policy_url_pattern",
        optout_families.policy_url_pattern(),
        "contains",
        {"long host": "http://" + rep("a"), "robots-ish": "http://a" + rep("/robots.txt")},
    )
    # ---- the app and the reports: values from releases and from the public
    py_case("registry._CONTROL", optout_registry._CONTROL, "search", {"text": rep("a\t")})
    py_case("audit_app.registry._CONTROL", app_registry._CONTROL, "search", {"text": rep("a\t")})
    py_case(
        "audit_app.registry._EMAIL",
        app_registry._EMAIL,
        "match",
        {"dots no tld end": "a@" + rep("b.") + "<", "at signs": rep("a@")},
    )
    py_case("audit_app.registry._WEB", app_registry._WEB, "match", {"url then space": "https://" + rep("a") + " x"})
    add("audit_app.common.plain", re.compile(r"[\\`*_]"), app_common.plain, {"specials": rep("`*_")})
    add(
        "audit_app.common.code_span",
        re.compile(r"`+"),
        app_common.code_span,
        {"backticks": rep("`"), "runs": rep("`` ")},
    )
    add("audit_app.common.file_stem", re.compile(r"[^A-Za-z0-9_.-]+"), app_common.file_stem, {"specials": rep("<>")})
    # ---- patterns written inline (re.<call>("...")) in modules that read content or the public's input
    py_case("crawler seed scheme", re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://"), "match", {"scheme chars": rep("a+")})
    py_case("crawler charset", re.compile(r"charset=[\"']?([\w.:-]+)", re.I), "search",
            {"charsets": rep("charset="), "value": "charset=" + rep("a")})  # fmt: skip
    py_case("index query language", re.compile(r"[a-z]{2,3}(_[A-Za-z]{4})?"), "fullmatch", {"letters": rep("ab_")})
    # the membership engine's input checks (pipeline/index/answer.py) and the request id (audit_app/registry.py)
    py_case("answer words", re.compile(r"\w+"), "findall", {"letters": rep("a"), "words": rep("a ")})
    py_case("answer path", re.compile(r"[/?#]"), "search", {"host": rep("a.")})
    py_case("answer scheme", re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://"), "sub", {"scheme chars": rep("a+.-")})
    py_case("url_identity._LABEL", ui._LABEL, "fullmatch", {"labels": rep("a-"), "underscores": rep("_")})
    py_case("url_identity._IPV4", ui._IPV4, "fullmatch", {"digits": rep("1."), "long": rep("1")})
    py_case("audit_app.registry.REQUEST_ID", app_registry.REQUEST_ID, "fullmatch", {"hex": "req-" + rep("a")})
    py_case("index query phrases", re.compile(r'"([^"]*)"'), "findall", {"quotes": rep('"a'), "open": '"' + rep("a")})
    py_case("index query loose", re.compile(r'"[^"]*"'), "sub", {"quotes": rep('"a'), "open": '"' + rep("a")})
    py_case("audit_app.common backticks", re.compile(r"`+"), "findall", {"backticks": rep("` ")})
    py_case("audit_app.common spaces", re.compile(r"\s+"), "sub", {"spaces": rep(" \t")})
    py_case("audit_app.common file_stem", re.compile(r"[^A-Za-z0-9_.-]+"), "sub", {"specials": rep("<>a")})
    py_case("reports.render._MD_INLINE", render._MD_INLINE, "sub", {"specials": rep("`*[")})
    py_case("reports.render._MD_LINE_START", render._MD_LINE_START, "sub", {"digits": rep("1"), "hashes": rep("#")})
    return out


# Modules whose compiled patterns are applied to pages, texts, URLs, headers or the public's input: every
# module-level `re.Pattern` in them, and every pattern written inline as `re.<call>("...")` in them or in
# INLINE_MODULES, must be a row of `cases()` (test_regex_time checks it).
CONTENT_MODULES = (
    "pipeline.steps.extract", "pipeline.optout.base", "pipeline.optout.robots", "pipeline.optout.noai",
    "pipeline.sources.base", "pipeline.sources.inputs", "pipeline.sources.warc", "pipeline.warc_record",
    "pipeline.url_identity", "pipeline.crawl.urls", "pipeline.crawl.config",
    "pipeline.text_identity", "pipeline.optout.registry", "audit_app.registry", "pipeline.reports.render",
)  # fmt: skip


INLINE_MODULES = ("pipeline.crawl.crawler", "pipeline.index.query", "pipeline.index.answer", "audit_app.common")


def main(names: list[str]) -> None:
    for case in cases():
        if names and case.name not in names:
            continue
        for label, text in case.inputs().items():
            print(json.dumps({"case": case.name, "input": label, "start": True}), flush=True)
            started = time.perf_counter()
            case.apply(text)
            seconds = time.perf_counter() - started
            print(json.dumps({"case": case.name, "input": label, "seconds": round(seconds, 4)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
