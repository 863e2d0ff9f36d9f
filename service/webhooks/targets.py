"""Which webhook targets may be called: the server-side request forgery (SSRF) guard.

A ``callback_url`` makes this service send a request wherever a client says, from inside the deployment's
network. So a target must be ``http``/``https`` with a host and no user info, and **every** address its
host resolves to must be public: private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback (127/8, ::1,
``localhost``), link-local (169.254/16 — cloud metadata at 169.254.169.254 — and fe80::/10), multicast,
reserved, unspecified (0.0.0.0, ::) and other non-global ranges (100.64/10, …) are refused, also when
embedded in an IPv6 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64 ``64:ff9b::/96``).
``webhook_allow_private_targets`` lifts the address rule (tests, a closed network); the rest stays.

The URL is checked when the job is created (:func:`check_url`: a refusal is a 422) and again before each
try; and :class:`GuardedBackend` checks the addresses it actually connects to, so a host that resolves to
a public address for the check and to a private one a moment later (DNS rebinding) is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpcore
import httpx

RESOLVE_TIMEOUT_S = 3.0
"""How long a host may take to resolve (``getaddrinfo`` has no timeout of its own)."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CATEGORIES = (
    ("is_unspecified", "an unspecified"),
    ("is_loopback", "a loopback"),
    ("is_link_local", "a link-local"),
    ("is_multicast", "a multicast"),
    ("is_private", "a private"),
    ("is_reserved", "a reserved"),
    ("is_site_local", "a site-local"),
)
_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


class TargetRefused(ValueError):
    """A webhook target that may not be called; ``str()`` is the reason, for a person."""


class TargetUnresolvable(TargetRefused):
    """The target's host did not resolve (now): refused when a job is created, retried when delivering."""


def _category(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address ``ip`` is ("a loopback address"), or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:
            inner = _category(embedded)
            if inner is not None:
                return f"an IPv6 address embedding {embedded}, {inner}"
    for attribute, words in _CATEGORIES:
        if getattr(ip, attribute, False):
            return f"{words} address"
    return None if ip.is_global else "not a public address"


def _split(url: str) -> tuple[SplitResult, str, int]:
    """The parsed URL, its host and its port; :class:`TargetRefused` if it is not a plain http(s) URL."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise TargetRefused("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the URL cannot be parsed ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused(f"the scheme must be http or https, not {parts.scheme or 'none'!r}")
    if "@" in parts.netloc:
        raise TargetRefused("the URL must not contain user info (user:password@)")
    host = parts.hostname or ""
    if not host:
        raise TargetRefused("the URL has no host")
    return parts, host, port if port is not None else (443 if scheme == "https" else 80)


def _executor() -> ThreadPoolExecutor:
    global _resolver
    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="advisor-resolve")
        return _resolver


def resolve(host: str, port: int, *, allow_private: bool, timeout_s: float = RESOLVE_TIMEOUT_S) -> list[str]:
    """The addresses of ``host``, each allowed; :class:`TargetRefused` if any is not (unless
    ``allow_private``), :class:`TargetUnresolvable` if it does not resolve within ``timeout_s``."""
    name = host.lower().rstrip(".")
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        raise TargetRefused(f"{host} is a loopback name; webhooks go to public addresses only")
    future = _executor().submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos: list[Any] = future.result(timeout=timeout_s)
    except FutureTimeout as exc:
        raise TargetUnresolvable(f"the host {host!r} did not resolve within {timeout_s:g} s") from exc
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise TargetUnresolvable(f"the host {host!r} does not resolve ({reason})") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetUnresolvable(f"the host {host!r} has no address")
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            category = _category(ip)
            if category is not None:
                literal = host.strip("[]").lower() == str(ip) or host == address
                said = f"{ip} is {category}" if literal else f"{host} resolves to {ip}, {category}"
                raise TargetRefused(f"{said}; webhooks go to public addresses only")
    return addresses


def check_url(url: str, *, allow_private: bool, timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
    """Raise :class:`TargetRefused` (a ``ValueError``) with the reason if ``url`` may not be called."""
    _, host, port = _split(url)
    resolve(host, port, allow_private=allow_private, timeout_s=timeout_s)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to addresses :func:`resolve` allows: the addresses checked
    are the addresses connected to (TLS still verifies the certificate against the URL's host)."""

    def __init__(self, *, allow_private: bool, timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        """Resolve ``host``, refuse it if any address is not allowed, connect to the first that answers."""
        addresses = resolve(host, port, allow_private=self.allow_private, timeout_s=self.timeout_s)
        error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error


def guarded_transport(*, allow_private: bool) -> httpx.HTTPTransport:
    """An httpx transport that connects through :class:`GuardedBackend` and ignores proxy variables
    (a proxy would connect for us, unchecked)."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no public way to pass a network backend; its pool is replaced by an equal one that has
    # ours (httpx 0.27 and 0.28 keep it in ``_pool``). Without it, the check before each try remains.
    if isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow_private=allow_private),
        )
    return transport
