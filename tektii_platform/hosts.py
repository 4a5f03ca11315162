"""The platform's own address and the names it answers to (docs/api.md, "Host names").

The platform knows where it serves once its socket is bound: ``OwnAddress.bound(host, port)``.
Everything that needs the platform's address (the registry's token realm, the run specs)
takes it from here, never from a request. Requests whose ``Host`` header is not one of the
platform's names answer 400: a server on loopback must not be reachable through DNS
rebinding (a browser page whose name resolves to 127.0.0.1 sends its own name as ``Host``).

Its names: the bind address and port, ``localhost:PORT`` and ``127.0.0.1:PORT`` / ``[::1]:PORT``
when it serves loopback (a wildcard bind serves loopback too), and every name listed in
``TEKTII_PUBLIC_NAMES`` (comma-separated ``host`` or ``host:port``, e.g. behind a reverse proxy).
"""

from __future__ import annotations

import ipaddress
import os

import attrs

PUBLIC_NAMES_ENV = "TEKTII_PUBLIC_NAMES"
_WILDCARDS = ("", "0.0.0.0", "::")


def split_host(value: str) -> tuple[str, int | None]:
    """``host[:port]`` (``[v6]:port`` too) as (lower-case host, port or None); ValueError if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(f"malformed host {value!r}")
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"malformed host {value!r}")
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:
        host, port_text = value, None  # a bare name, or a bare IPv6 address (no port)
    if not host:
        raise ValueError(f"malformed host {value!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"malformed port in {value!r}")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_names_from_env() -> tuple[str, ...]:
    """The names in TEKTII_PUBLIC_NAMES (validated: a malformed entry stops the platform)."""
    names = []
    for entry in os.environ.get(PUBLIC_NAMES_ENV, "").split(","):
        if entry.strip():
            try:
                split_host(entry)
            except ValueError as exc:
                from tektii_core.contracts import TektiiError

                raise TektiiError(f"{PUBLIC_NAMES_ENV}: {exc}") from None
            names.append(entry.strip().lower())
    return tuple(names)


@attrs.frozen
class OwnAddress:
    """Where this platform serves (its bound socket) and the Host names it accepts."""

    host: str  # the bind address, e.g. 127.0.0.1, 0.0.0.0, ::1
    port: int
    public_names: tuple[str, ...] = ()

    @classmethod
    def bound(cls, host: str, port: int, public_names: tuple[str, ...] | None = None) -> OwnAddress:
        names = public_names_from_env() if public_names is None else public_names
        return cls(str(host).strip("[]").lower(), int(port), tuple(names))

    @property
    def serves_loopback(self) -> bool:
        return self.host in _WILDCARDS or is_loopback(self.host)

    @property
    def loopback_only(self) -> bool:
        """Bound to a loopback address with no public name: only this machine can reach it."""
        return self.host not in _WILDCARDS and is_loopback(self.host) and not self.public_names

    @property
    def local_url(self) -> str:
        """The URL processes on this machine reach the platform at (the registry's token realm)."""
        if self.host in _WILDCARDS:
            host = "127.0.0.1" if self.host != "::" else "[::1]"
        else:
            host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def accepted(self) -> set[tuple[str, int | None]]:
        names: set[tuple[str, int | None]] = {(self.host, self.port)}
        if self.serves_loopback:
            names |= {("localhost", self.port), ("127.0.0.1", self.port), ("::1", self.port)}
        if self.port == 80:  # a Host without a port means port 80
            names |= {(name, None) for name, _ in list(names)}
        for entry in self.public_names:
            names.add(split_host(entry))
        return names

    def allows(self, host_header: str | None) -> bool:
        """Whether a request with this Host header is addressed to this platform. A request
        without one (HTTP/1.0) cannot come from a rebinding browser, which always sends it."""
        if host_header is None:
            return True
        try:
            name = split_host(host_header)
        except ValueError:
            return False
        return name in self.accepted()
