"""Which hosts the built-in ``http.request`` job may call: the patterns of ``JOBQ_HTTP_ALLOW``.

A pattern is one of:

- ``example.com``: that host exactly;
- ``*.example.com``: any subdomain of example.com, at any depth (not example.com itself: list it
  too if it is wanted);
- an IP address, v4 or v6 (``10.0.0.5``, ``::1``, ``[::1]``): that address exactly; a URL that
  names the host by address matches only address patterns (and ``*``), never a name;
- ``*``: any host.

Names compare without regard to case and to one trailing dot, and in their ASCII form: an
internationalised name (``bücher.example``) is compared as its punycode (``xn--bcher-kva.example``).
A URL's host is taken as httpx parses it, which is the host httpx connects to.

The list holds names, not resolved addresses: a name that is allowed is called wherever DNS says
it is. Allow only names whose DNS you trust.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import idna

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ANY_PATTERN = "*"

_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _strip_brackets(text: str) -> str:
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1]
    return text


def normalize_name(name: str) -> str:
    """``name`` lower-cased, without one trailing dot, in its ASCII (punycode) form; raise
    ``ValueError`` if it is not a host name."""
    text = name.strip().lower()
    if text.endswith("."):
        text = text[:-1]
    if not text or text.startswith(".") or ".." in text:
        raise ValueError(f"{name!r} is not a host name")
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(
                f"{name!r} is not a valid internationalised host name: {exc}"
            ) from None
    if any(c in text for c in "/@:?#*[] \t%\\"):
        raise ValueError(f"{name!r} is not a host name")
    if _NUMERIC_LABEL.match(text.rsplit(".", 1)[-1]):
        # No top-level domain is a number: resolvers read such a name as an IPv4 address in
        # one of its odd forms (127.1, 2130706433, 0x7f.1), which patterns do not deal in.
        raise ValueError(f"{name!r} is not a host name (it ends in a number)")
    return text


def normalize_host(host: str) -> str | IPAddress:
    """A URL's host as it is compared: an IP address, or a normalised name. Raise ``ValueError``
    if it is neither."""
    text = _strip_brackets(host.strip())
    address = _parse_ip(text)
    if address is not None:
        return address
    return normalize_name(text)


def host_of(url: str | httpx.URL) -> str:
    """The host of ``url`` as httpx connects to it (ASCII, IDN in punycode, IPv6 without
    brackets); raise ``ValueError`` if ``url`` cannot be parsed."""
    import httpx  # here: a worker process that checks no URL never loads the HTTP client

    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a URL: {exc}") from None
    return parsed.raw_host.decode("ascii", errors="replace")


class HostAllowlist:
    """Host patterns, and whether a host or a URL's host is among them.

    ``HostAllowlist(["api.example.com", "*.internal", "10.0.0.5"])``; raises ``ValueError``
    naming the first pattern that is not one. An empty list allows no host.
    """

    __slots__ = ("_addresses", "_any", "_names", "_patterns", "_suffixes")

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        if isinstance(patterns, str):
            raise TypeError("give the patterns as a list of strings, not one string")
        kept: list[str] = []
        names: set[str] = set()
        suffixes: set[str] = set()
        addresses: set[IPAddress] = set()
        any_host = False
        for raw in patterns:
            pattern = raw.strip()
            if pattern == ANY_PATTERN:
                any_host, text = True, ANY_PATTERN
            elif pattern.startswith("*."):
                try:
                    domain = normalize_name(pattern[2:])
                except ValueError:
                    raise ValueError(f"{raw!r} is not a valid *.domain pattern") from None
                suffixes.add(domain)
                text = f"*.{domain}"
            else:
                address = _parse_ip(_strip_brackets(pattern))
                if address is not None:
                    addresses.add(address)
                    text = str(address)
                else:
                    try:
                        text = normalize_name(pattern)
                    except ValueError:
                        raise ValueError(
                            f"{raw!r} is not a host name, *.domain, an IP address or *"
                        ) from None
                    names.add(text)
            if text not in kept:
                kept.append(text)
        self._patterns = tuple(kept)
        self._names = frozenset(names)
        self._suffixes = frozenset(suffixes)
        self._addresses = frozenset(addresses)
        self._any = any_host

    @property
    def patterns(self) -> tuple[str, ...]:
        """The patterns, normalised, in the order given, without repeats."""
        return self._patterns

    @property
    def allows_any(self) -> bool:
        return self._any

    @property
    def allows_none(self) -> bool:
        return not self._patterns

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` (a name or an IP address, IPv6 with or without brackets) matches."""
        if self._any:
            return True
        try:
            normalized = normalize_host(host)
        except ValueError:
            return False
        if not isinstance(normalized, str):
            return normalized in self._addresses
        if normalized in self._names:
            return True
        labels = normalized.split(".")
        return any(".".join(labels[i:]) in self._suffixes for i in range(1, len(labels)))

    def allows_url(self, url: str | httpx.URL) -> bool:
        """Whether the host of ``url`` matches; a URL that cannot be parsed does not."""
        try:
            host = host_of(url)
        except ValueError:
            return False
        return self.allows_host(host)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HostAllowlist):
            return NotImplemented
        return set(self._patterns) == set(other._patterns)

    def __hash__(self) -> int:
        return hash(frozenset(self._patterns))

    def __repr__(self) -> str:
        return f"HostAllowlist({list(self._patterns)!r})"


#: every host: the default for ``JobQueue`` and ``builtin_registry()`` in library use
ALLOW_ANY = HostAllowlist([ANY_PATTERN])


def as_allowlist(patterns: HostAllowlist | Iterable[str]) -> HostAllowlist:
    return patterns if isinstance(patterns, HostAllowlist) else HostAllowlist(patterns)
