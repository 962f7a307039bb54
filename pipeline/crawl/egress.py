"""Where the crawler may connect: public addresses only, unless told otherwise.

A crawler runs next to things a stranger's URL must not reach: the cloud's metadata service (169.254.169.254),
hosts of the company network (10.x, 172.16-31.x, 192.168.x, fd00::/8), services on the machine itself
(127.x, ::1). Seeds, redirects and the targets of a robots.txt redirect are all URLs someone else wrote, so
every connection the crawler opens goes through `GuardedBackend`: the host is resolved once, every address it
resolves to is checked (`address_class`), and the connection is opened to that checked address itself, never
by name again, so a DNS answer that changes between the check and the connect (DNS rebinding) cannot slip
through. The address the socket actually reached is checked once more.

Refused by default: loopback, private (RFC 1918, IPv6 unique local fc00::/7, site-local fec0::/10), link-local
(169.254/16, fe80::/10), shared address space (100.64/10, carrier-grade NAT), multicast, unspecified (0.0.0.0,
::), reserved and every other address Python's `ipaddress` does not call global (documentation, benchmarking
ranges, ...), and the same addresses inside IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002::/16) and NAT64
(64:ff9b::/96) IPv6 addresses. `allow_private` (`--allow-private`) turns the check off; `allow_networks`
(`--allow-network CIDR`) allows named networks only (an intranet mirror, the sample web on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


def address_class(address: str | Address) -> str | None:
    """Why the crawler does not connect to this IP address by default ('loopback', 'private', ...), or None for
    a public address. IPv6 forms that carry an IPv4 address are judged by the IPv4 address they carry."""
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        carried = [
            ("IPv4-mapped", ip.ipv4_mapped),
            ("6to4", ip.sixtofour),
            ("NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None),
        ]
        for form, inner in carried:
            if inner is not None:
                why = address_class(inner)
                return f"{form} {why}" if why else None
        if ip.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("shared address space (carrier-grade NAT)", ip in _SHARED),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


class EgressRefused(Exception):
    """A connection the egress policy does not allow. Not an OSError or httpx error: it is not retried."""

    def __init__(self, host: str, address: str, why: str) -> None:
        self.host, self.address, self.why = host, address, why
        named = host if host == address else f"{host} resolves to {address}"
        super().__init__(
            f"{named}, a {why} address: the crawler does not connect there (allow it with --allow-private "
            "or --allow-network)"
        )


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


class EgressPolicy:
    """Which addresses may be connected to (`allow_private`, `allow_networks`), and how hosts are resolved
    (`resolver`: the system's by default; tests give their own, so no refused address is ever looked up)."""

    def __init__(
        self, *, allow_private: bool = False, allow_networks: Iterable[str] = (), resolver: Resolver | None = None
    ) -> None:
        self.allow_private = allow_private
        self.allow_networks = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)
        self.resolver = resolver or system_resolver

    def refusal(self, address: str) -> str | None:
        """Why `address` is refused under this policy, or None."""
        if self.allow_private:
            return None
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return None
        return address_class(ip)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for `host`; EgressRefused when any address it resolves to is refused
        (a name that also points inside is not crawled at all)."""
        literal = _literal(host)
        found = [literal] if literal else await self.resolver(host, port)
        if not found:
            raise httpcore.ConnectError(f"{host}: no address")
        for address in found:
            if why := self.refusal(address):
                raise EgressRefused(host, address, why)
        return found


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the policy in front: resolve, check, connect to the checked address,
    check the peer. `inner` opens the sockets (httpcore's own backend; tests give one that refuses to open a
    socket to anything but loopback, so a bug here can never reach a real internal host)."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):  # a resolver that hangs is a connect timeout
            addresses = await self.policy.addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as err:
                error = err
                continue
            peer = stream.get_extra_info("server_addr")
            if isinstance(peer, tuple) and peer and (why := self.policy.refusal(str(peer[0]))):
                await stream.aclose()
                raise EgressRefused(host, str(peer[0]), why)
            return stream
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise EgressRefused(path, path, "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None, **kwargs: Any):
    """An `httpx.AsyncHTTPTransport` (no proxy) whose every connection goes through `GuardedBackend`."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, **kwargs)
    pool = transport._pool  # httpx builds the pool; httpcore takes the backend as `_network_backend`
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx/httpcore changed: the crawler cannot install its egress policy")
    pool._network_backend = GuardedBackend(policy, inner)
    return transport
