"""Helpers the builder plugins share: streaming a tool's output, naming push targets,
turning a registry's refusal into one clear line. Standard library only (cheap to import)."""

from __future__ import annotations

import collections
import ipaddress
import os
import re
import subprocess
from collections.abc import Mapping, Sequence

import attrs

from tektii_core.contracts import BuiltImage, LogFn, PushCredentials, TektiiError

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_line(text: str) -> str:
    """A log line without terminal colour codes or trailing whitespace."""
    return _ANSI.sub("", text).rstrip()



class StepTracker:
    """Passes build output lines on to `log` and remembers the last build step they announced,
    so that a failure can name the step ("at step 4/6 (RUN pip install ...)")."""

    def __init__(self, pattern: re.Pattern[str], log: LogFn):
        self.pattern = pattern
        self.log = log
        self.step = ""

    def __call__(self, line: str) -> None:
        match = self.pattern.match(line)
        if match:
            self.step = f"step {match.group(1)} ({match.group(2)})"
        self.log(line)

    @property
    def where(self) -> str:
        return f" at {self.step}" if self.step else ""


@attrs.frozen
class ToolResult:
    returncode: int
    tail: tuple[str, ...]  # the last lines of output, for error messages


def stream(
    argv: Sequence[str], log: LogFn, *, env: Mapping[str, str] | None = None, stdin_data: str | None = None, keep: int = 60
) -> ToolResult:
    """Run `argv`, passing each output line (stdout and stderr merged) to `log` as it comes."""
    tail: collections.deque[str] = collections.deque(maxlen=keep)
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError:
        raise TektiiError(f"{argv[0]} not installed", hint=f"apt-get install {argv[0]}") from None
    if stdin_data is not None:
        assert process.stdin is not None
        process.stdin.write(stdin_data)
        process.stdin.close()
    assert process.stdout is not None
    for raw in process.stdout:
        # progress bars redraw with \r; the last state of the line is the useful one
        line = clean_line(raw.rstrip("\n").rsplit("\r", 1)[-1])
        if line:
            tail.append(line)
            log(line)
    return ToolResult(process.wait(), tuple(tail))


def split_reference(reference: str) -> tuple[str, str]:
    """("host:port/repo", "tag") from a reference; the tag defaults to "latest"."""
    name, _, _digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, "latest"


def push_target(image: BuiltImage, credentials: PushCredentials) -> str:
    """Where `image` goes: the issued registry/repository, keeping the image's tag."""
    _, tag = split_reference(image.reference)
    return f"{credentials.registry}/{credentials.repository}:{tag}"


def is_loopback_registry(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_UNREACHABLE = (
    "connection refused",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "connection reset",
    "server gave http response to https client",
    "no route to host",
    "timeout",
)
_REFUSED = (
    "denied",
    "unauthorized",
    "authentication required",
    "forbidden",
    "insufficient_scope",
    "invalid credentials",
    "401",
    "403",
)


def push_error(credentials: PushCredentials, message: str) -> TektiiError:
    """One clear line for a failed push: unreachable registry, refused credentials, or other."""
    text = " ".join(message.split())
    lowered = text.lower()
    where = f"{credentials.registry}/{credentials.repository}"
    if any(marker in lowered for marker in _UNREACHABLE):
        # the failed request itself ('Get "http://...": dial tcp ...: connection refused')
        found = re.search(r'\b(Get|Head|Post|Put|Patch) "[^"]+": .*', text)
        return TektiiError(
            f"Cannot reach the registry at {credentials.registry}: {_short(found.group(0) if found else text)}",
            hint="Check that the tektii platform and its registry are running.",
        )
    if any(marker in lowered for marker in _REFUSED):
        # the registry's own words ("denied: requested access to the resource is denied")
        # are clearer than the client's wrapping of them
        found = re.search(r"\b(denied|unauthorized|forbidden): .*", message)
        reason = found.group(0) if found else text
        return TektiiError(
            f"The registry refused the push to {where}: {_short(' '.join(reason.split()))}",
            hint="Push credentials are issued per version and expire; run version upload again.",
        )
    return TektiiError(f"Push to {where} failed: {_short(text)}")


def _short(text: str, limit: int = 300) -> str:
    text = re.sub(r"^(error:\s*)+", "", text, flags=re.IGNORECASE)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_docker_down(message: str) -> bool:
    """Whether a docker CLI error says the daemon cannot be reached."""
    lowered = message.lower()
    return (
        "cannot connect to the docker daemon" in lowered
        or "is the docker daemon running" in lowered
        or ("docker.sock" in lowered and ("no such file" in lowered or "connection refused" in lowered))
    )


def last_error_line(tail: Sequence[str]) -> str:
    """A failed tool's error: from its last "Error:" line to the end of its output, joined
    (podman and buildah continue one error over several lines)."""
    for pattern in (r"^Error:", r"^(error|ERROR)\b"):
        for index in range(len(tail) - 1, -1, -1):
            if re.match(pattern, tail[index].strip()):
                return "\n".join(line.strip() for line in tail[index:])
    return tail[-1].strip() if tail else "(no output)"


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
