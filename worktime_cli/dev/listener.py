"""The listener: the socket `worktime dev` serves on, bound before uvicorn starts.

`--ip` is resolved as the kernel reads it (`localhost` is the IPv4 loopback, as miniflare;
every spelling of 0.0.0.0 and :: means every interface), and the default port moves on to the
next free one, as wrangler's does.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

from worktime_cli.dev.request_log import printable
from worktime_cli.errors import WorktimeError

DEFAULT_PORT = 8787
PORT_ATTEMPTS = 10  # as wrangler: the default port, then up to 10 more


@dataclass(frozen=True)
class Listener:
    """A bound, listening socket and the ports that were busy before it.

    `host` is the address the kernel bound (from the socket itself), so every spelling of
    "all interfaces" (`""`, `0`, `00.0.0.0`, `::0`, `0:0:0:0:0:0:0:0`) reads the same.
    """

    sock: socket.socket
    host: str
    port: int
    taken: tuple[int, ...] = ()
    name: str | None = None  # the name the user gave, when it is `localhost`

    @property
    def everywhere(self) -> bool:
        """Whether this listens on every interface (0.0.0.0 or ::)."""
        return is_unspecified(self.host)

    @property
    def url(self) -> str:
        """A URL that reaches this server from this machine (loopback for 0.0.0.0 / ::)."""
        host = self.host
        if self.everywhere:
            host = "::1" if ":" in host else "127.0.0.1"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def shown_url(self) -> str:
        """The URL `Ready on …` names: `localhost` for localhost and for 0.0.0.0 / ::, as wrangler."""
        if self.name is not None or self.everywhere:
            return f"http://{self.name or 'localhost'}:{self.port}"
        return self.url


def is_unspecified(address: str) -> bool:
    """Whether `address` (numeric) means every interface, in any spelling."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped.is_unspecified
    return parsed.is_unspecified


def bind_host(ip: str) -> str:
    """The address to bind for `--ip`: `localhost` means the IPv4 loopback, as miniflare."""
    return "127.0.0.1" if ip == "localhost" else ip


def resolve_ip(ip: str) -> tuple[socket.AddressFamily, str]:
    """`--ip` as the kernel reads it: (family, numeric address).

    `localhost` is the IPv4 loopback (as miniflare); `""` is every IPv4 interface, as
    bind() reads it. Anything that does not resolve is a clear error, not a traceback.
    """
    host = bind_host(ip)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1], as in a URL
    try:
        infos = socket.getaddrinfo(
            host or None, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except (OSError, ValueError, UnicodeError):
        # ValueError: an embedded NUL; UnicodeError: bytes that are not UTF-8, or an
        # over-long label.
        raise WorktimeError(
            f"--ip {_quoted(ip)} is not an address or host name of this machine",
            hint="use localhost (the default), 127.0.0.1, ::1, or 0.0.0.0 for every interface",
        ) from None
    # IPv4 first when a name has both (as `localhost` does): what the URL we print reaches.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, str(sockaddr[0])


def _quoted(text: str) -> str:
    return (
        '"'
        + printable(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))[:80]
        + '"'
    )


def bind(ip: str, port: int | None) -> Listener:
    """Bind and listen. No `port`: 8787, else the next free one of 10. A given `port`: that one.

    Binding here (not inside uvicorn) closes the gap between "is it free?" and "take it".
    """
    family, host = resolve_ip(ip)
    explicit = port is not None
    first = DEFAULT_PORT if port is None else port
    candidates = [first] if explicit else list(range(first, first + PORT_ATTEMPTS + 1))
    taken: list[int] = []
    shown = f"[{host}]" if ":" in host else host
    for candidate in candidates:
        try:
            sock = _listen(family, host, candidate)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                taken.append(candidate)
                continue
            raise WorktimeError(
                f"cannot listen on {shown}:{candidate}: {exc.strerror}",
                hint="check --ip: it must be an address of this machine",
            ) from None
        bound = sock.getsockname()
        return Listener(
            sock,
            str(bound[0]),
            int(bound[1]),
            tuple(taken),
            name="localhost" if ip == "localhost" else None,
        )
    if explicit:
        raise WorktimeError(
            f"port {first} on {host} is already in use",
            hint="stop what is using it, or pick another with --port",
        )
    raise WorktimeError(
        f"ports {candidates[0]}-{candidates[-1]} on {host} are all in use",
        hint="pick a free port with --port",
    )


def _listen(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR (as uvicorn) lets a restart reuse a port in TIME_WAIT; it does not
        # let two live servers share one, so "busy" is still detected.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
