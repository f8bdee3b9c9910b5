"""Which Host headers the dev server answers: the names it is reached by, and no others.

Any web page can make the browser send requests to 127.0.0.1:8787. Reading the answer takes a
CORS grant, unless the page uses DNS rebinding: its own name, re-pointed at 127.0.0.1, makes
the dev server same-origin to it. What such a page cannot choose is the Host header: the
browser sends the page's own name. So every request whose Host is not a name of this server
is refused before any route runs, with 403 as Vite's `server.allowedHosts` does.

The names: `localhost`, `127.0.0.1`, `::1`, the `--ip` given and the address bound; on every
interface also this machine's host name; and the names given with `--allowed-host`. An IP
address literal equal to the address the connection arrived on is always accepted: that is
how a LAN client reaches a server bound to 0.0.0.0, and an address cannot be rebound.
The port is not compared (as Vite and Starlette): a page cannot rebind a port.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from worktime_cli.errors import UsageError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

# RFC 3986 reg-name, without percent-encoding and sub-delims: what a DNS or hosts-file name
# uses. Anything else in a Host header is malformed.
_NAME = re.compile(r"[a-z0-9_~-]+(?:\.[a-z0-9_~-]+)*\.?")
_PORT = re.compile(r"[0-9]*")


@dataclass(frozen=True)
class HostPolicy:
    """The canonical host names (see `canonical`) this server answers to."""

    names: frozenset[str]

    def allows(self, host: str, local_address: str | None) -> bool:
        """Whether the canonical `host` is ours; `local_address`: where the connection arrived."""
        if host in self.names:
            return True
        return local_address is not None and host == _canonical_address(local_address)


def loopback_policy(extra: Iterable[str] = ()) -> HostPolicy:
    """The names of a server on loopback, plus `extra` (each already checked)."""
    return HostPolicy(frozenset(canonical(name) or name for name in (*LOOPBACK_NAMES, *extra)))


def server_policy(ip: str, bound: str, everywhere: bool, extra: Iterable[str] = ()) -> HostPolicy:
    """The names of a server started with `--ip ip`, bound to the numeric `bound` address."""
    names = [ip, bound]
    if everywhere:
        # The name other machines on the LAN (and mDNS) most likely use for this one.
        hostname = socket.gethostname()
        names += [hostname, hostname.split(".", 1)[0] + ".local"]
    return loopback_policy([*extra, *(n for n in names if canonical(n) is not None)])


def checked_allowed_host(name: str) -> str:
    """An `--allowed-host` value, canonical; a usage error when it is not a bare host name."""
    found = canonical(name)
    if found is None:
        shown = name.encode("unicode_escape").decode("ascii")[:80]
        raise UsageError(
            f'--allowed-host "{shown}" is not a host name or IP address',
            hint="give the bare name the browser uses, without scheme or port, "
            "e.g. --allowed-host mybox.local",
        )
    return found


def canonical(host: str) -> str | None:
    """A host name or IP literal (no port) as compared: lower case, no final dot, IPs normalised.

    None when it is not a host: a URL, a name with a port or with characters no name has.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
        return _canonical_address(text) if ":" in text else None
    address = _canonical_address(text)
    if address is not None:
        return address
    if not _NAME.fullmatch(text):
        return None
    return text.rstrip(".")


def host_of_header(header: bytes) -> str | None:
    """The canonical host of a Host header (`name`, `name:port`, `[v6]:port`); None if malformed."""
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not _valid_port_suffix(text[end + 1 :]):
            return None
        return canonical(text[: end + 1])
    name, _colon, port = text.partition(":")
    if not _PORT.fullmatch(port) or not name:
        return None
    return canonical(name)


def _valid_port_suffix(rest: str) -> bool:
    return rest == "" or (rest.startswith(":") and _PORT.fullmatch(rest[1:]) is not None)


def _canonical_address(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket reports an IPv4 client's connection as ::ffff:a.b.c.d.
        return str(address.ipv4_mapped)
    return str(address)
