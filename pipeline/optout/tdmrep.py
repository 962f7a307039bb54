"""W3C TDM Reservation Protocol (TDMRep, Community Group final report).

Sources of the two properties `tdm-reservation` (1 = rights reserved, 0 = not reserved) and
`tdm-policy` (URL of a policy offering licences):
- `/.well-known/tdmrep.json`: a JSON array of {"location", "tdm-reservation", "tdm-policy"};
- HTTP response headers `tdm-reservation` / `tdm-policy`;
- HTML `<meta name="tdm-reservation" content="1">` / `<meta name="tdm-policy" content="...">`.

Processing priority (the report's section of that name): tdmrep.json, then the headers, then the
meta tags; each later value supersedes the earlier one, and "the absence of tdm-reservation and
tdm-policy MUST not reset current values". In tdmrep.json the first entry in file order whose
`location` matches decides ("the most specific match is the first in sequence"); no match leaves
tdm-reservation unset. `location` is matched as a robots.txt path (`robots.path_matches`: prefix,
`*`, final `$`, percent-normalised, `%24` a literal `$`). TDMRep is not agent-specific. Unset means
allowed; 1 without a policy still reserves. A `tdm-policy` is reported only with a reservation of 1
("TDM Agents SHOULD NOT process tdm-policy" when it is 0).

Protocol errors: "Other values are considered protocol errors. In such a case the TDM Agents MUST
consider that tdm-reservation is unset." Per source: a header or meta value other than 0 or 1 (`yes`,
`2`, conflicting values such as `1, 0`; repeated equal values count once, as RFC 9110 8.6 allows for
Content-Length); per tdmrep.json entry: not an object, no usable `location` (it can match nothing), a
`tdm-reservation` other than 0/1 in the first matching entry; per file: not JSON, not an array, too
large (then there is no TDM file). A protocol error sets nothing, so the values from earlier sources
stand, and it is always in the decision's evidence and rule. `malformed_tdmrep="reserved"` (an
explicit config choice, `OptoutConfig.malformed_tdmrep`) instead treats each protocol error a URL
meets as a reservation at that step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from pipeline.optout.base import Decision, Evidence, Headers, header_values, html_meta, sha256_hex
from pipeline.optout.robots import path_matches, url_path

SIGNAL = "tdmrep"
MAX_FILE_BYTES = 1024 * 1024  # a tdmrep.json larger than 1 MiB is unusable (no real one is)
MAX_RULES = 10_000

ProtocolErrors = Literal["unset", "reserved", "allowed"]  # "allowed": the old spelling of "unset"


@dataclass(frozen=True)
class TdmRule:
    """One tdmrep.json entry, kept even when broken so that its protocol error can be shown."""

    index: int
    location: str | None  # None: no usable location, so the entry can match nothing
    reserved: bool | None  # None: tdm-reservation missing or not 0/1 (a protocol error)
    policy: str | None
    raw: str  # the entry as JSON text
    error: str | None = None  # what is wrong with the entry, if anything


@dataclass(frozen=True)
class TdmrepFile:
    url: str
    rules: tuple[TdmRule, ...] = ()
    malformed: str | None = None  # why the file itself is unusable (then there is no TDM file), if it is
    sha256: str | None = None
    fetched_at: str | None = None

    @property
    def errors(self) -> tuple[str, ...]:
        """Every protocol error in the file: its own, or one per broken entry."""
        if self.malformed is not None:
            return (self.malformed,)
        return tuple(f"entry {r.index}: {r.error}" for r in self.rules if r.error)


def _reservation(value: object) -> bool | None:
    """1/0 (int, or the strings '1'/'0' as found in headers and meta); anything else is a protocol error."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip() == "1"
    return None


def _entry(index: int, entry: object) -> TdmRule:
    if not isinstance(entry, dict):
        raw = json.dumps(entry, ensure_ascii=False)
        return TdmRule(index, None, None, None, raw, f"expected an object, got {type(entry).__name__}")
    raw = json.dumps(entry, ensure_ascii=False, sort_keys=True)
    problems = []
    location = entry.get("location")
    if not isinstance(location, str) or not location:
        problems.append("'location' must be a non-empty string")
        location = None
    elif not location.startswith(("/", "*")):
        location = "/" + location
    reserved = _reservation(entry.get("tdm-reservation"))
    if reserved is None:
        problems.append(f"'tdm-reservation' must be 0 or 1, got {entry.get('tdm-reservation')!r}")
    policy = entry.get("tdm-policy")
    if policy is not None and not isinstance(policy, str):
        problems.append(f"'tdm-policy' must be a string, got {type(policy).__name__}")
        policy = None
    return TdmRule(index, location, reserved, policy, raw, "; ".join(problems) or None)


def parse_file(body: bytes | str, url: str = "/.well-known/tdmrep.json", fetched_at: str | None = None) -> TdmrepFile:
    """Parse tdmrep.json. Never raises: an unusable file comes back with `malformed` set, a broken entry
    with its `error` set."""
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
    return TdmrepFile(url, tuple(_entry(i, e) for i, e in enumerate(data)), None, digest, fetched_at)


@dataclass
class _Step:
    """What one source says about a URL: a value, a policy, protocol errors, and what was seen."""

    source: str  # 'tdmrep.json', 'http-header', 'html-meta'
    reserved: bool | None = None
    text: str = ""  # the value as written, e.g. 'tdm-reservation: 1'
    policy: str | None = None
    errors: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


def _one_value(values: list[str]) -> bool | None:
    """The reservation a list of header/meta values states: one value, repeated or not; else a protocol error."""
    parts = {p.strip() for v in values for p in v.split(",")}
    return _reservation(parts.pop()) if len(parts) == 1 else None


def _file_step(well_known: TdmrepFile, url: str) -> _Step:
    step = _Step("tdmrep.json")

    def seen(text: str) -> None:
        step.evidence.append(Evidence(SIGNAL, well_known.url, text, well_known.sha256, well_known.fetched_at))

    if well_known.malformed is not None:
        step.errors.append(f"tdmrep.json unusable ({well_known.malformed})")
        seen(f"malformed: {well_known.malformed}")
        return step
    path = url_path(url)
    for rule in well_known.rules:
        if rule.location is None:  # cannot tell whether it was meant to cover this URL
            step.errors.append(f"tdmrep.json entry {rule.index}: {rule.error}")
            seen(rule.raw)
            continue
        if not path_matches(rule.location, path):
            continue
        seen(rule.raw)
        if rule.reserved is None:
            step.errors.append(f"tdmrep.json entry {rule.index} location '{rule.location}': {rule.error}")
        else:
            step.reserved, step.policy = rule.reserved, rule.policy
            step.text = f"tdmrep.json location '{rule.location}' tdm-reservation {int(rule.reserved)}"
        break
    return step


def _header_step(headers: Headers | None, fetched_at: str | None) -> _Step:
    step = _Step("http-header")
    values = header_values(headers, "tdm-reservation")
    for value in values:
        step.evidence.append(
            Evidence(SIGNAL, "http-header", f"tdm-reservation: {value}", sha256_hex(value), fetched_at)
        )
    policies = header_values(headers, "tdm-policy")
    step.policy = policies[0].strip() if policies else None
    if values:
        written = f"tdm-reservation: {', '.join(v.strip() for v in values)}"
        step.reserved = _one_value(values)
        if step.reserved is None:
            step.errors.append(f"{written} (http-header)")
        else:
            step.text = f"tdm-reservation: {int(step.reserved)}"
    return step


def _meta_step(html: bytes | str | None, fetched_at: str | None) -> _Step:
    step = _Step("html-meta")
    meta = html_meta(html)
    tags = [(content, tag) for name, content, tag in meta if name == "tdm-reservation"]
    for _, tag in tags:
        step.evidence.append(Evidence(SIGNAL, "html-meta", tag, sha256_hex(html or b""), fetched_at))
    policies = [content for name, content, _ in meta if name == "tdm-policy"]
    step.policy = policies[0] if policies else None
    if tags:
        step.reserved = _one_value([content for content, _ in tags])
        if step.reserved is None:
            step.errors.append(f"{' '.join(tag for _, tag in tags)} (html-meta)")
        else:
            step.text = f'<meta name="tdm-reservation" content="{int(step.reserved)}">'
    return step


def decide(
    url: str,
    agents: list[str] | tuple[str, ...],
    *,
    headers: Headers | None = None,
    html: bytes | str | None = None,
    well_known: TdmrepFile | None = None,
    malformed_tdmrep: ProtocolErrors = "unset",
    fetched_at: str | None = None,
) -> list[Decision]:
    """Per agent (all the same): allowed unless a TDM reservation applies to `url`.

    Args:
        headers: the page's HTTP response headers (mapping or list of pairs).
        html: the page's HTML bytes, for meta tags.
        well_known: the site's parsed tdmrep.json, None if absent (404: no TDM file).
        malformed_tdmrep: what a protocol error means: 'unset' (the spec; 'allowed' is its old spelling)
            or 'reserved' (treated as a reservation at that step).
    """
    steps = [_file_step(well_known, url)] if well_known is not None else []
    steps += [_header_step(headers, fetched_at), _meta_step(html, fetched_at)]
    strict = malformed_tdmrep == "reserved"
    deciding: _Step | None = None  # the step whose value (or, when strict, protocol error) stands
    policy: tuple[str, str] | None = None
    for step in steps:  # lowest precedence first: a later value supersedes, an absent one resets nothing
        policy = (step.policy, step.source) if step.policy else policy
        if step.reserved is not None or (strict and step.errors):
            deciding = step
    by_error = strict and deciding is not None and bool(deciding.errors)
    others = [e for s in steps if not (by_error and s is deciding) for e in s.errors]
    if deciding is None:
        rule = "no TDM reservation"
        if others:
            rule += f" (protocol error, so tdm-reservation is unset as TDMRep says: {'; '.join(others)})"
        reserved = False
    else:
        reserved = by_error or bool(deciding.reserved)
        if by_error:
            rule = f"protocol error treated as a reservation (malformed_tdmrep=reserved): {'; '.join(deciding.errors)}"
        else:
            rule = deciding.text
            if reserved and policy is not None:
                rule += f", tdm-policy {policy[0]}" + (f" ({policy[1]})" if policy[1] != deciding.source else "")
            rule += f" ({deciding.source})"
        if others:
            status = "superseded" if strict else "unset there as TDMRep says"
            rule += f"; protocol error ({status}): {'; '.join(others)}"
    evidence = [e for s in steps for e in s.evidence]
    if deciding is not None:  # the evidence that decided comes first: it is the one a release row points at
        evidence = deciding.evidence + [e for e in evidence if e not in deciding.evidence]
    return [Decision(a, not reserved, SIGNAL, rule, tuple(evidence)) for a in agents]
