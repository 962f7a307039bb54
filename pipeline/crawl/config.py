"""One typed configuration per crawl. Its canonical JSON hash goes into every WARC's `warcinfo` record.

Politeness defaults follow common practice for research crawlers (one connection per host, one
second between requests, robots.txt `Crawl-delay` honoured when it asks for more) and RFC 9309
(robots.txt redirects: at least five hops). Every field has a default, so `CrawlConfig()` is a
complete, polite crawl of whatever seeds it is given.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.optout.agents import OUR_AGENT
from pipeline.optout.robots import product_token
from pipeline.version import __version__

DEFAULT_CONTACT = "https://apertura.example/crawler"  # placeholder: operators set their own page or mailto:
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]+$")  # RFC 9309 2.2.1: product tokens are [a-zA-Z_-]; ai.robots.txt has digits
# `name/version` products of a User-Agent (RFC 9110 10.1.5), also inside comments: `(compatible; GPTBot/1.2; ...)`.
_PRODUCT = re.compile(r"(?:^|[\s;(])([A-Za-z0-9_.-]+)/")


def default_user_agent(contact: str, token: str = OUR_AGENT) -> str:
    """`AperturaBot/<version> (+<contact>)`: the product token robots.txt groups are matched against first."""
    return f"{token}/{__version__} (+{contact})"


def user_agent_products(user_agent: str) -> list[str]:
    """The product tokens a User-Agent names: its leading one (`robots.product_token`), then every other
    `name/version`, case-insensitively distinct. `Mozilla/5.0 (compatible; GPTBot/1.2)` names two."""
    found = [product_token(user_agent), *_PRODUCT.findall(user_agent)]
    seen: dict[str, str] = {}
    for token in found:
        if token and token.lower() not in seen:
            seen[token.lower()] = token
    return list(seen.values())


def _robots_token(user_agent: str, token: str | None) -> str:
    """The token robots.txt is checked for: the one the User-Agent names, or a one-line ValueError."""
    products = user_agent_products(user_agent)
    if token:
        if token.lower() not in (p.lower() for p in products):
            raise ValueError(
                f"robots_token {token!r} is not a product the user agent {user_agent!r} names "
                f"({', '.join(products) or 'none'}): robots.txt would be checked for another crawler than the "
                "one that asks; leave robots_token out (it follows the user agent) or send a user agent naming it"
            )
        return token
    if not products:
        raise ValueError(f"user agent {user_agent!r} names no product token: start it with one, e.g. 'MyBot/1.0'")
    if len(products) > 1:
        raise ValueError(
            f"user agent {user_agent!r} names {len(products)} products ({', '.join(products)}): give robots_token, "
            "the one whose robots.txt groups this crawl obeys"
        )
    return products[0]


class CrawlConfig(BaseModel):
    """Everything that decides what a crawl fetches and how politely. Change a field, change the hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact: str = Field(DEFAULT_CONTACT, description="Operator contact (URL or mailto:), sent in the user agent.")
    robots_token: str = Field(
        "",
        description="Product token matched against robots.txt user-agent groups; empty -> the one the user agent "
        "names (AperturaBot by default). It must be a product the user agent names: robots.txt is checked for the "
        "crawler that is announced. Filled in on load.",
    )
    user_agent: str = Field(
        "", description="User-Agent header; empty -> '<robots_token>/<version> (+<contact>)'. Filled in on load."
    )
    delay_seconds: float = Field(
        1.0, ge=0, description="Pause between requests to one host (origin); a larger robots.txt Crawl-delay wins."
    )
    max_crawl_delay_seconds: float = Field(
        60.0, ge=0, description="Cap on a robots.txt Crawl-delay, so one host cannot stall the crawl for hours."
    )
    max_connections_per_host: int = Field(1, ge=1, description="Concurrent connections (and workers) per origin.")
    max_pages: int | None = Field(
        None, ge=0, description="Stop after this many page fetches (redirect hops and errors count; site files don't)."
    )
    max_depth: int = Field(10, ge=0, description="Link hops from a seed (redirects keep the depth of their source).")
    max_bytes: int | None = Field(None, ge=0, description="Stop after this many response-body bytes stored in total.")
    max_page_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1,
        description="Per response body; a longer body is cut there and its record gets `WARC-Truncated: length`.",
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Connect/read timeout per request (httpx semantics).")
    max_fetch_seconds: float = Field(
        300.0,
        gt=0,
        description="Time limit per request (connect, head, body): a head not complete by then is a failed attempt "
        "(retried); a body still arriving then is cut (`WARC-Truncated: time`).",
    )
    retries: int = Field(2, ge=0, description="Extra attempts after a connect error, timeout, HTTP 429 or 503.")
    backoff_seconds: float = Field(1.0, ge=0, description="First retry waits this long, doubling per attempt.")
    max_retry_after_seconds: float = Field(
        60.0, ge=0, description="A server's Retry-After is honoured up to this many seconds."
    )
    max_redirects: int = Field(5, ge=0, description="Redirect hops followed per chain (RFC 9309 asks for >= 5).")
    scope: Literal["same-host", "same-site"] = Field(
        "same-host",
        description="Follow links to the seeds' hosts (host and port) only, or to their registrable domains.",
    )
    content_types: tuple[str, ...] = Field(
        ("text/html", "application/xhtml+xml", "text/plain"),
        description="MIME types whose bodies are downloaded; others get a metadata record and no body.",
    )
    warc_max_bytes: int = Field(1_000_000_000, ge=1, description="Roll to a new WARC file past this size (bytes).")
    checkpoint_seconds: float = Field(
        300.0, gt=0, description="Close the current WARC file and save crawl-state.json at least this often."
    )
    allow_private: bool = Field(
        False,
        description="Connect to any address. Off: loopback, private, link-local, shared (CGNAT), multicast, "
        "unspecified, reserved and other non-global addresses (also inside IPv4-mapped, 6to4 and NAT64 IPv6) are "
        "refused, checked on the address connected to (pipeline/crawl/egress.py).",
    )
    allow_networks: tuple[str, ...] = Field(
        (),
        description="Networks (CIDR, e.g. 10.1.2.0/24 or 127.0.0.1/32) the crawler may connect to although "
        "allow_private is off: an intranet mirror, a test server.",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_user_agent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if not data.get("user_agent"):
            token = data.get("robots_token") or OUR_AGENT
            data["user_agent"] = default_user_agent(data.get("contact") or DEFAULT_CONTACT, token)
        agent, token = data["user_agent"], data.get("robots_token")
        if isinstance(agent, str) and (token is None or isinstance(token, str)):  # other types: pydantic says why
            data["robots_token"] = _robots_token(agent, token or None)
        return data

    @model_validator(mode="after")
    def _check(self) -> CrawlConfig:
        if not _TOKEN.match(self.robots_token):
            raise ValueError(f"robots_token {self.robots_token!r} is not a product token ([A-Za-z0-9_.-]+)")
        if any(c in self.user_agent for c in "\r\n"):
            raise ValueError("user_agent must be one line")
        for network in self.allow_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"allow_networks: {network!r} is not an IP network (e.g. 10.1.2.0/24)") from None
        return self

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def load(cls, path: Path | None, **overrides: Any) -> CrawlConfig:
        """Defaults, then the JSON or YAML file (if any), then the non-None `overrides` (command-line options)."""
        from pipeline.config import read_config_file

        data: dict[str, Any] = read_config_file(Path(path)) if path is not None else {}
        agent, token = data.get("user_agent"), data.get("robots_token")
        if overrides.get("user_agent") and isinstance(agent, str) and token and user_agent_products(agent) == [token]:
            data.pop("robots_token")  # the file's token followed its agent: a new agent brings its own
        previous = cls.model_validate(data) if overrides.get("contact") and data.get("user_agent") else None
        if previous is not None and previous.user_agent == default_user_agent(previous.contact, previous.robots_token):
            data.pop("user_agent")  # the file's agent was the default one: a new contact makes a new default
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)
