"""URL identity: the one place that says when two URLs name the same page, and what an opt-out covers.

Every component that compares URLs asks this module: the crawler's seen-set and scope, robots.txt and
TDMRep path matching, the policy files' origins, the registry, `lookup`/`check`, the membership index,
`release derive`, `verify` and every page of the audit app. Two spellings that this module calls equal
get the same answer everywhere; that is the point.

**Canonical URL** (`canonical_url`): the URL parsed as a browser does (the WHATWG URL Standard, through
`ada-url`: scheme and host lower-cased, IDNA to punycode, IPv4 forms such as `0x7f.1` written out, default
port dropped, dot segments resolved, `\\` read as `/`, an empty path made `/`), then:

* percent-encoding normalised as RFC 3986 6.2.2.2 says: an escaped *unreserved* character is decoded
  (`%70aywall` is `paywall`, `%7E` is `~`), every other escape is upper-cased (`%2f` -> `%2F`), and a
  character that may not appear in a URL at all (non-ASCII, space, `|`, `^`, `{`, a `%` that starts no
  escape ...) is encoded as UTF-8. An escaped *reserved* character stays escaped: `%2F` is not `/`;
* a trailing dot in the host dropped (`example.org.` is `example.org`);
* user name, password, fragment and an empty query (`?` alone) dropped. The query is otherwise kept as it
  is: reordering parameters can change what a server returns.

Only `http` and `https` URLs have an identity (`BadUrl` otherwise).

**URL key** (`url_key`): the canonical URL without its scheme, `host[:port]/path[?query]`. It is the
identity a consent decision and a lookup use: **`http://` and `https://` of the same host, port and path
are one page.** That is the stricter of the two readings (an opt-out stated over https also covers the
page crawled over http years ago, and "is my page in?" finds it whichever scheme was crawled). The port is
part of the key only when it is not the scheme's default.

**Coverage rules** (what an opt-out entry names):

* a **domain** (`normalise_domain`) covers that host and every subdomain, on every scheme and port; a
  leading `www.` is dropped when the domain is stored, so `www.example.org` covers `example.org` too. A
  domain given with a port other than 80/443 (`127.0.0.1:8003`) covers that port only (on both schemes);
  `:80` and `:443` are dropped, so such an entry covers every port. A public suffix (`com`, `co.uk`) is
  refused: it names nobody's site.
* a **URL prefix** (`normalise_prefix`) covers every URL whose key starts with the prefix's key, on both
  schemes, and with or without a leading `www.` on the host. The prefix's key always holds a path (at
  least `/`), so `https://a.test` covers `a.test/...` but never `a.test.evil/`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

import ada_url

if TYPE_CHECKING:  # polars is imported by the column functions below only: the proof verifier starts without it
    import polars as pl

SCHEMES = {"http": 80, "https": 443}
RULES_VERSION = 1  # bump when any rule above changes what `url_key` or `domain_of` returns for some URL


def identity_spec() -> str:
    """What a release records about the rules its `url_key` and `domain` columns were computed with."""
    from importlib.metadata import version

    return f"rules {RULES_VERSION}; ada-url {version('ada-url')}"
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
RESERVED = ":/?#[]@!$&'()*+,;="
_SAFE = RESERVED + "".join(sorted(UNRESERVED)) + "%"  # characters `quote` leaves alone
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # `example.org:8080` has none
MAX_URL_CHARS = 8_000  # longer input is not a URL anyone typed or crawled
MAX_DOMAIN_CHARS = 300  # a host name has at most 253 characters; a port and a scheme may come with it


class BadUrl(ValueError):
    """Text that has no URL identity (not http(s), no host, bad port, forbidden host characters)."""


def _escape(m: re.Match[str]) -> str:
    char = chr(int(m.group(1), 16))
    return char if char in UNRESERVED else m.group(0).upper()


def normalise_percent(text: str) -> str:
    """RFC 3986 6.2.2 on a path, query or robots pattern: escaped unreserved characters decoded, other
    escapes upper-cased, characters not allowed in a URL encoded as UTF-8; reserved characters untouched.

    A lone surrogate (text decoded with `surrogateescape`) is encoded as the byte it stands for.
    """
    if "%" not in text and text.isascii() and all(c in _SAFE for c in text):
        return text  # the common case: nothing to do
    try:
        text = quote(text, safe=_SAFE, errors="surrogateescape")
    except UnicodeEncodeError:
        text = quote(text, safe=_SAFE, errors="surrogatepass")
    text = _LONE_PERCENT.sub("%25", text)
    return _ESCAPE.sub(_escape, text)


def _split(href: str) -> tuple[str, str, str, str]:
    """(scheme, authority without userinfo, path, query) of a WHATWG-serialised special URL."""
    scheme, _, rest = href.partition("://")
    slash = rest.find("/")
    authority, path_query = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    authority = authority.rpartition("@")[2]
    path_query = path_query.partition("#")[0]
    path, _, query = path_query.partition("?")
    return scheme, authority, path, query


def _host_port(authority: str) -> tuple[str, str]:
    if authority.startswith("["):  # IPv6 literal
        end = authority.find("]")
        return authority[: end + 1], authority[end + 2 :]
    host, _, port = authority.partition(":")
    return host, port


def _canonical_parts(url: str) -> tuple[str, str, str]:
    """(scheme, authority, path?query) in canonical form; BadUrl when `url` has no identity."""
    if len(url) > MAX_URL_CHARS:
        raise BadUrl(f"URL longer than {MAX_URL_CHARS:,} characters")
    try:
        href = ada_url.normalize_url(url)
    except ValueError:
        raise BadUrl(f"not a valid URL: {url[:200]!r}") from None
    scheme, authority, path, query = _split(href)
    if scheme not in SCHEMES:
        raise BadUrl(f"not an http(s) URL: {url[:200]!r}")
    host, port = _host_port(authority)
    host = host.rstrip(".")
    if not host:
        raise BadUrl(f"no host in {url[:200]!r}")
    authority = f"{host}:{port}" if port else host
    path_query = normalise_percent(path or "/")
    if query:
        path_query += "?" + normalise_percent(query)
    return scheme, authority, path_query


# the same URLs recur across a release; cached by wrapping, not by a decorator, so mutation testing (which skips
# decorated functions) reaches the canonicalisation itself
_parts = lru_cache(maxsize=65_536)(_canonical_parts)


def canonical_url(url: str, base: str | None = None) -> str:
    """The canonical spelling of `url` (resolved against `base` first if given), scheme included."""
    if base is not None:
        try:
            url = ada_url.join_url(base, url)
        except ValueError:
            raise BadUrl(f"cannot resolve {url[:200]!r} against {base[:200]!r}") from None
    scheme, authority, path_query = _parts(url)
    return f"{scheme}://{authority}{path_query}"


def url_key(url: str | None) -> str | None:
    """`host[:port]/path[?query]`: the scheme-less identity of a page; None when `url` has none."""
    if not url:
        return None
    try:
        _, authority, path_query = _parts(url)
    except BadUrl:
        return None
    return authority + path_query


def site_key(url: str | None) -> str | None:
    """`host[:port]` of a URL: what a site policy file (robots.txt, tdmrep.json, ai.txt) covers.

    RFC 9309 scopes robots.txt to scheme, host and port; the scheme is left out (see the module's
    docstring), so a robots.txt fetched over https today also covers pages crawled over http.
    """
    key = url_key(url)
    return None if key is None else key[: key.find("/")]


def host_of(url: str | None) -> str | None:
    """The canonical host (no port) of a URL, None when it has no identity."""
    site = site_key(url)
    return None if site is None else _host_port(site)[0]


def domain_of(url: str | None) -> str | None:
    """The `domain` column of a release: the canonical host without a leading `www.`."""
    host = host_of(url)
    return None if host is None else host.removeprefix("www.")


def _as_url(value: str) -> str:
    text = value.strip()
    if not _HAS_SCHEME.match(text):
        text = "http://" + text.removeprefix("//")
    return text


def user_url(value: str) -> str:
    """The canonical URL of what a person typed as a page's address; the scheme may be left out (it is not
    part of a page's identity). BadUrl (one line) when it is no http(s) address."""
    if not value.strip():
        raise BadUrl("the URL is empty: give one, e.g. https://example.org/page")
    return canonical_url(_as_url(value))


def normalise_domain(value: str, *, public_suffix_ok: bool = False) -> str:
    """A domain entry or query as stored and compared: canonical host without `www.`, plus `:port` for
    a port other than 80/443. Accepts a bare host or a URL. BadUrl (one line) for anything else, and for a
    public suffix unless `public_suffix_ok` (an entry already in a registry is honoured as written)."""
    text = value.strip()
    if not text:
        raise BadUrl("the domain is empty: give one, e.g. example.org")
    try:
        _, authority, _ = _parts(_as_url(text))
    except BadUrl:
        raise BadUrl(f"not a domain: {value[:200]!r}") from None
    host, port = _host_port(authority)
    host = host.removeprefix("www.")
    if not public_suffix_ok and _is_public_suffix(host):
        raise BadUrl(f"{host} is a public suffix, not a site: give the site's domain, e.g. example.{host}")
    return f"{host}:{port}" if port and port not in ("80", "443") else host


_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_IPV4 = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")


def is_host_name(domain: str) -> bool:
    """Is a domain in its stored form (`host[:port]`, see `normalise_domain`) a host a person can name a site by: an
    IPv4 or bracketed IPv6 address, or dot-separated labels of letters, digits, `-` and `_` (IDNA applied), at most
    253 characters? The WHATWG parser accepts more (`a*b`, `$(x)`, empty labels), which no site is called."""
    host = _host_port(domain)[0]
    if host.startswith("[") or _IPV4.fullmatch(host):
        return True
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in host.split("."))


def _is_public_suffix(host: str) -> bool:
    """`com`, `co.uk`, `github.io`: on the public suffix list (offline, via `tld`)."""
    from tld import is_tld

    return not host.startswith("[") and is_tld(host)


def normalise_prefix(value: str) -> str:
    """A URL-prefix entry as stored: its canonical URL (https assumed when no scheme is given)."""
    text = value.strip()
    if not text:
        raise BadUrl("the URL prefix is empty: give one, e.g. https://example.org/news/")
    if not _HAS_SCHEME.match(text):
        text = "https://" + text.removeprefix("//")
    try:
        return canonical_url(text)
    except BadUrl:
        raise BadUrl(f"not a URL prefix (it must start with http:// or https:// and a host): {value[:200]!r}") from None


def near_miss_keys(key: str) -> list[str]:
    """Keys of URLs that differ from `key` only by a trailing slash or a leading `www.`: other pages for this
    module, but ones a lookup should name before anyone reads "not in" as "not there"."""
    site, slash, rest = key.partition("/")
    path = slash + rest
    twins = {site + path.rstrip("/") if path.endswith("/") and path != "/" else site + path + "/"}
    twins.add(site.removeprefix("www.") + path if site.startswith("www.") else "www." + site + path)
    return sorted(twins - {key})


def _without_www(key: str) -> str:
    return key.removeprefix("www.")


def covers_domain(domain: str, url: str | None) -> bool:
    """Does the domain entry `domain` (as `normalise_domain` stored it) cover `url`?"""
    site = site_key(url)
    if site is None:
        return False
    host, port = _host_port(site)
    want_host, want_port = _host_port(domain)
    if want_port and port != want_port:
        return False
    return host == want_host or host.endswith("." + want_host)


def covers_prefix(prefix: str, url: str | None) -> bool:
    """Does the URL-prefix entry `prefix` (as `normalise_prefix` stored it) cover `url`?"""
    key, want = url_key(url), url_key(prefix)
    return key is not None and want is not None and _without_www(key).startswith(_without_www(want))


# --- SQL: the same rules as DuckDB conditions over a release's `domain` and `url_key` columns -------------


def domain_condition(
    domain: str, site_sql: str = "split_part(url_key, '/', 1)", *, subdomains: bool = True
) -> tuple[str, dict[str, str]]:
    """(condition, parameters) for "the domain entry or query `domain` (stored form) covers this row", over the
    `domain` column and `site_sql`, an expression for the row's `host[:port]` (a constant from the caller).
    `subdomains=False` narrows it to the host itself (with or without `www.`)."""
    host, port = _host_port(domain)
    cond = "(domain = $domain OR ends_with(domain, '.' || $domain))" if subdomains else "domain = $domain"
    params = {"domain": host}
    if port:
        cond += f" AND ends_with({site_sql}, $domain_port)"
        params["domain_port"] = ":" + port
    return cond, params


# A select list giving any table with a `url` column this module's `url_key` and `domain` (for releases written
# before format 3 stored them, and for opt-out evidence); needs `register_sql_functions` on the connection.
IDENTITY_SELECT = "* REPLACE (apertura_domain(url) AS domain), apertura_url_key(url) AS url_key"


def register_sql_functions(con) -> None:
    """`apertura_url_key(url)` and `apertura_domain(url)` as functions of a DuckDB connection."""
    for name, fn in (("apertura_url_key", url_key), ("apertura_domain", domain_of)):
        con.create_function(name, fn, ["VARCHAR"], "VARCHAR", null_handling="special", side_effects=False)


def prefix_condition(prefix: str) -> tuple[str, dict[str, str]]:
    """(condition, parameters) for "the URL prefix `prefix` covers this row", over the `url_key` column."""
    want = url_key(prefix)
    if want is None:
        raise BadUrl(f"not a URL prefix: {prefix[:200]!r}")
    bare = "CASE WHEN starts_with(url_key, 'www.') THEN url_key[5:] ELSE url_key END"
    return f"starts_with({bare}, $url_prefix)", {"url_prefix": _without_www(want)}


# --- columns: the same rules over a Polars column, for release-sized frames ---------------------------


def _map(values: Iterable[str | None], fn) -> list[str | None]:
    return [fn(v) for v in values]


def url_key_expr(url: pl.Expr) -> pl.Expr:
    """`url_key` of every value of a String column (null where there is no identity)."""
    import polars as pl

    return url.map_batches(lambda s: pl.Series(s.name, _map(s.to_list(), url_key), pl.String), return_dtype=pl.String)


def domain_expr(url: pl.Expr) -> pl.Expr:
    """`domain_of` of every value of a String column: the release's `domain` column."""
    import polars as pl

    return url.map_batches(
        lambda s: pl.Series(s.name, _map(s.to_list(), domain_of), pl.String), return_dtype=pl.String
    )


def domain_covered_expr(keys: pl.Expr, domain: str) -> pl.Expr:
    """Over a column of `url_key`s: which the domain entry `domain` covers."""
    host, port = _host_port(domain)
    site = keys.str.extract(r"^([^/]*)", 1)
    site_host = site.str.replace(r":[0-9]+$", "")  # "[::1]:8080" -> "[::1]"; "[::1]" has no port to drop
    hit = (site_host == host) | site_host.str.ends_with("." + host)
    if port:
        hit = hit & site.str.ends_with(f":{port}")
    return hit.fill_null(False)


def prefix_covered_expr(keys: pl.Expr, prefix: str) -> pl.Expr:
    """Over a column of `url_key`s: which the URL-prefix entry `prefix` covers."""
    import polars as pl

    want = url_key(prefix)
    if want is None:
        return pl.lit(False)
    return keys.str.strip_prefix("www.").str.starts_with(_without_www(want)).fill_null(False)
