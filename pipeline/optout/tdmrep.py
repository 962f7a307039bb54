"""W3C TDM Reservation Protocol (TDMRep, Community Group final report).

Sources of the two properties `tdm-reservation` (1 = rights reserved, 0 = not reserved) and
`tdm-policy` (URL of a policy offering licences):
- HTTP response headers `tdm-reservation` / `tdm-policy`;
- HTML `<meta name="tdm-reservation" content="1">` / `<meta name="tdm-policy" content="...">`;
- `/.well-known/tdmrep.json`: a JSON array of {"location", "tdm-reservation", "tdm-policy"}.

Precedence: the most specific source wins: HTML meta (in the content itself) over HTTP headers
over tdmrep.json (the report: header values override the well-known file). In tdmrep.json the
first entry (in file order) whose `location` matches the URL path applies; `location` is a path
pattern matched like a robots.txt path (prefix, `*` any run, `$` end). TDMRep is not agent-specific:
every agent gets the same verdict. Reserved without a policy still means reserved for training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from pipeline.optout.base import Decision, Evidence, Headers, header_values, html_meta, sha256_hex
from pipeline.optout.robots import path_matches, url_path

SIGNAL = "tdmrep"
MAX_FILE_BYTES = 1024 * 1024  # a tdmrep.json larger than 1 MiB is treated as malformed (no real one is)
MAX_RULES = 10_000


@dataclass(frozen=True)
class TdmRule:
    location: str
    reserved: bool
    policy: str | None
    raw: str  # the entry as JSON text


@dataclass(frozen=True)
class TdmrepFile:
    url: str
    rules: tuple[TdmRule, ...] = ()
    malformed: str | None = None  # the parse error, if the file could not be used
    sha256: str | None = None
    fetched_at: str | None = None


def _reservation(value: object) -> bool | None:
    """1/0 (int, or the strings '1'/'0' as found in headers and meta); anything else is invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip() == "1"
    return None


def parse_file(body: bytes | str, url: str = "/.well-known/tdmrep.json", fetched_at: str | None = None) -> TdmrepFile:
    """Parse tdmrep.json. Never raises: a bad file comes back with `malformed` set to the error."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)  # then invalid JSON
    digest = sha256_hex(raw)

    def bad(error: str) -> TdmrepFile:
        return TdmrepFile(url, (), error, digest, fetched_at)

    if len(raw) > MAX_FILE_BYTES:
        return bad(f"file too large: {len(raw)} bytes > {MAX_FILE_BYTES}")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return bad(f"invalid JSON: {exc}")
    if not isinstance(data, list):
        return bad(f"expected a JSON array, got {type(data).__name__}")
    if len(data) > MAX_RULES:
        return bad(f"too many entries: {len(data)} > {MAX_RULES}")
    rules = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            return bad(f"entry {i}: expected an object, got {type(entry).__name__}")
        location = entry.get("location")
        if not isinstance(location, str) or not location:
            return bad(f"entry {i}: 'location' must be a non-empty string")
        reserved = _reservation(entry.get("tdm-reservation"))
        if reserved is None:
            return bad(f"entry {i}: 'tdm-reservation' must be 0 or 1, got {entry.get('tdm-reservation')!r}")
        policy = entry.get("tdm-policy")
        if policy is not None and not isinstance(policy, str):
            return bad(f"entry {i}: 'tdm-policy' must be a string")
        loc = location if location.startswith(("/", "*")) else "/" + location
        rules.append(TdmRule(loc, reserved, policy, json.dumps(entry, ensure_ascii=False, sort_keys=True)))
    return TdmrepFile(url, tuple(rules), None, digest, fetched_at)


def decide(
    url: str,
    agents: list[str] | tuple[str, ...],
    *,
    headers: Headers | None = None,
    html: bytes | str | None = None,
    well_known: TdmrepFile | None = None,
    malformed_default: Literal["reserved", "allowed"] = "reserved",
    fetched_at: str | None = None,
) -> list[Decision]:
    """Per agent (all the same): allowed unless a TDM reservation applies to `url`.

    Args:
        headers: the page's HTTP response headers (mapping or list of pairs).
        html: the page's HTML bytes, for meta tags.
        well_known: the site's parsed tdmrep.json, None if absent (404: no reservation).
        malformed_default: verdict when the deciding source is a malformed tdmrep.json.
    """
    evidence: list[Evidence] = []
    verdict: tuple[bool, str] | None = None  # (reserved, rule)

    # 1. HTML meta (most specific).
    meta = html_meta(html)
    meta_res = [(c, tag) for n, c, tag in meta if n == "tdm-reservation"]
    meta_pol = [c for n, c, _ in meta if n == "tdm-policy"]
    for content, tag in meta_res:
        evidence.append(Evidence(SIGNAL, "html-meta", tag, sha256_hex(html or b""), fetched_at))
        reserved = _reservation(content)
        if reserved is not None and verdict is None:
            policy = f", tdm-policy {meta_pol[0]}" if meta_pol else ""
            verdict = (reserved, f'<meta name="tdm-reservation" content="{content}">{policy} (html-meta)')

    # 2. HTTP headers.
    for value in header_values(headers, "tdm-reservation"):
        evidence.append(Evidence(SIGNAL, "http-header", f"tdm-reservation: {value}", sha256_hex(value), fetched_at))
        reserved = _reservation(value)
        if reserved is not None and verdict is None:
            pol = header_values(headers, "tdm-policy")
            policy = f", tdm-policy: {pol[0]}" if pol else ""
            verdict = (reserved, f"tdm-reservation: {value.strip()}{policy} (http-header)")

    # 3. /.well-known/tdmrep.json.
    if well_known is not None:
        if well_known.malformed is not None:
            evidence.append(
                Evidence(
                    SIGNAL,
                    well_known.url,
                    f"malformed: {well_known.malformed}",
                    well_known.sha256,
                    well_known.fetched_at,
                )
            )
            if verdict is None:
                verdict = (
                    malformed_default == "reserved",
                    f"malformed tdmrep.json ({well_known.malformed}): default {malformed_default}",
                )
        elif verdict is None:
            path = url_path(url)
            for rule in well_known.rules:
                if path_matches(rule.location, path):
                    evidence.append(
                        Evidence(SIGNAL, well_known.url, rule.raw, well_known.sha256, well_known.fetched_at)
                    )
                    policy = f", tdm-policy {rule.policy}" if rule.policy else ""
                    verdict = (
                        rule.reserved,
                        f"tdmrep.json location '{rule.location}' tdm-reservation {int(rule.reserved)}{policy}",
                    )
                    break

    if verdict is None:
        verdict = (False, "no TDM reservation")
    reserved, rule = verdict
    return [Decision(a, not reserved, SIGNAL, rule, tuple(evidence)) for a in agents]
