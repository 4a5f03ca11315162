"""The `version upload` flow, assembled at run time from a builder plugin and the platform API.

validate -> git SHA -> create version (push credentials) -> build -> verify platform -> push
-> complete. Every failure after the version exists marks it failed with the reason, so the
platform never holds a ready version without an image. With `--template`, a template builder
(`source = "template"`) checks the template and the version is READY once created.
The flow names no builder: what is particular to one (its tool's name, why it cannot run and
how to fix that) comes from the builder.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from tektii_core.cli.live_lines import BuildOutputLine
from tektii_core.client import api_path
from tektii_core.contracts import Availability, BuiltImage, PushCredentials
from tektii_core.errors import TektiiError

TARGET_PLATFORM = "linux/amd64"
APPLE_SILICON_HINT = (
    "Build for linux/amd64: in Docker Desktop enable Settings > General > \"Use Rosetta for x86/amd64 emulation\" "
    "and restart it, or build with `docker buildx build --platform linux/amd64` (tektii version upload --builder buildx).")


@attrs.frozen
class UploadRequest:
    strategy_id: str
    dockerfile: str = "./Dockerfile"  # as the user wrote it: error messages quote it back
    context: str = "."
    git_sha: str | None = None
    parent: str | None = None
    template: str | None = None
    builder: str | None = None


@attrs.frozen
class GitInfo:
    sha: str  # full SHA, a user-given one, or ts-<unix seconds>
    short: str
    dirty: bool | None  # None when unknown (no repository, or a given SHA)
    source: str  # "flag", "git" or "timestamp"


def detect_git(directory: Path, given: str | None) -> GitInfo:
    if given:
        return GitInfo(given, given[:7] if _is_hex(given) else given, None, "flag")
    try:
        sha = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        porcelain = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=normal"],
                                   capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        stamp = f"ts-{int(time.time())}"
        return GitInfo(stamp, stamp, None, "timestamp")
    return GitInfo(sha, sha[:7], bool(porcelain.strip()), "git")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


class Upload:
    """One run of the flow; `ctx` is the CLI context (client, say, warn, plugins, verbosity)."""

    def __init__(self, ctx: Any, request: UploadRequest, *, cwd: Path | None = None):
        self.ctx = ctx
        self.request = request
        self.cwd = cwd or Path.cwd()
        self.dockerfile = self.cwd / request.dockerfile
        self.context = self.cwd / request.context

    def run(self) -> dict[str, Any]:
        ctx = self.ctx
        ctx.say("Validating inputs...")
        builder = self.validate()
        git = detect_git(self.context if self.context.is_dir() else self.cwd, self.request.git_sha)
        if git.source == "timestamp":
            ctx.warn("Failed to detect git SHA, using timestamp fallback")
        ctx.say(f"→ Detected version: {git.short}" + (" (uncommitted changes)" if git.dirty else ""))
        ctx.say("Creating version in API...")
        created = ctx.client.post(api_path("/v1/strategies/{}/versions", self.request.strategy_id), json={
            "gitSha": git.sha, "gitDirty": git.dirty, "parentId": self.request.parent,
            "template": self.request.template, "builder": builder.name,
        })["data"]
        version_id = created["id"]
        ctx.say(f"✓ Created version: {version_id}")
        if _source(builder) == "template":
            return self._summary(created, git)  # READY: the platform runs the template's own files
        try:
            version = self._build_and_push(builder, created)
        except BaseException as exc:
            self._fail(version_id, exc)
            raise
        return self._summary(version, git)

    def validate(self) -> Any:
        """Every problem with the inputs, reported together before anything is created."""
        req, ctx = self.request, self.ctx
        problems: list[TektiiError] = []
        try:
            ctx.client.get(api_path("/v1/strategies/{}", req.strategy_id))
        except TektiiError as exc:
            if getattr(exc, "status", None) != 404:
                raise
            problems.append(TektiiError(f"Strategy {req.strategy_id} not found",
                                        hint="`tektii strategy list` shows your strategies."))
        if req.parent:
            try:
                ctx.client.get(_version_path(req.strategy_id, req.parent))
            except TektiiError as exc:
                if getattr(exc, "status", None) != 404:
                    raise
                problems.append(TektiiError(f"Parent version {req.parent} is not a version of strategy {req.strategy_id}"))
        builder = None
        if req.template:
            try:
                builder = self.choose_builder()
                problems += builder.check_template(ctx.client, req.template)
            except TektiiError as exc:
                problems.append(exc)
        else:
            if not self.dockerfile.is_file():
                problems.append(TektiiError(
                    f"Dockerfile not found at {req.dockerfile}",
                    hint=f"Use --dockerfile to specify the correct path: tektii version upload {req.strategy_id} "
                         "--dockerfile ./docker/Dockerfile"))
            if not self.context.is_dir():
                problems.append(TektiiError(f"Build context {req.context} is not a directory",
                                            hint="Use --context to name the directory to build from."))
            try:
                builder = self.choose_builder()
            except TektiiError as exc:
                problems.append(exc)
        if problems:
            hint = next((p.hint for p in problems if p.hint), None)
            raise TektiiError("; ".join(p.message for p in problems), hint=hint)
        return builder

    def choose_builder(self) -> Any:
        """The builder for this upload: with --template a template builder, else an image builder
        (--builder, the configured one, or the preferred one that is installed)."""
        plugins = self.ctx.plugins
        source = "template" if self.request.template else "dockerfile"
        # --builder and the configured default name image builders; a template needs none of them.
        name = None if self.request.template else self.request.builder or self.ctx.config.get("builder")
        if name:
            builder = plugins.builder(name)
            if _source(builder) != source:
                raise TektiiError(f"Builder {name!r} makes versions from a {_source(builder)}, not from a Dockerfile",
                                  hint=f"Use --{_source(builder)} NAME instead of --builder {name}.")
            found = builder.availability()
            if not found.ok:
                raise _unavailable(builder, found)
            return builder
        # The preferred builder that is installed is the one used: a stopped Docker daemon is
        # an error to fix, not a reason to build elsewhere. Only a builder that is not
        # installed at all passes the turn to the next one (and that is said).
        absent: list[Any] = []
        builders = [b for b in plugins.builders if _source(b) == source]
        for index, builder in enumerate(builders):
            found = builder.availability()
            self.ctx.trace(f"builder {builder.name}: {'available' if found.ok else found.reason}")
            if found.ok:
                if absent:
                    self.ctx.say(f"→ {_tool(absent[0])} is not installed: building with {builder.name}")
                return builder
            if found.installed:
                # the later builders that work without this one's tool (e.g. podman when Docker is stopped)
                others = [b.name for b in builders[index + 1:] if _tool(b) != _tool(builder) and b.availability().ok]
                raise _unavailable(builder, found, alternatives=others)
            absent.append(builder)
        if source == "template":
            raise TektiiError("No template builder installed", hint="`tektii plugins` lists the builders.")
        raise TektiiError("No image builder installed", hint="Install Docker, podman or buildah.")

    def _build_and_push(self, builder: Any, created: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        push = created["push"]
        credentials = PushCredentials(registry=push["registry"], repository=push["repository"],
                                      username=push["username"], password=push["password"])
        tag = f"{credentials.registry}/{credentials.repository}:{created['id']}"
        ctx.say(f"Connecting to {_tool(builder)}...")
        ctx.say(f"Building image {tag}...")
        with Heartbeat(ctx.client, f"{_version_path(self.request.strategy_id, created['id'])}/heartbeat"):
            log = BuildOutputLine(ctx)
            try:
                image = builder.build(dockerfile=self.dockerfile, context=self.context, tag=tag,
                                      platform=TARGET_PLATFORM, log=log)
            finally:
                log.close()
            ctx.say("Verifying image platform...")
            verify_platform(image)
            ctx.say(f"Pushing image to {credentials.registry}/{credentials.repository}...")
            log = BuildOutputLine(ctx)
            try:
                digest = builder.push(image=image, credentials=credentials, log=log)
            finally:
                log.close()
        return ctx.client.post(_version_path(self.request.strategy_id, created["id"]) + "/complete", json={
            "digest": digest, "os": image.os, "architecture": image.architecture, "size": image.size,
        })["data"]

    def _fail(self, version_id: str, exc: BaseException) -> None:
        reason = exc.message if isinstance(exc, TektiiError) else (
            "upload interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}")
        try:
            self.ctx.client.post(_version_path(self.request.strategy_id, version_id) + "/fail",
                                 json={"reason": reason})
        except TektiiError as err:
            self.ctx.warn(f"could not mark version {version_id} failed: {err.message}")

    def _summary(self, version: dict[str, Any], git: GitInfo) -> dict[str, Any]:
        return {"version": version, "git": git}


def _version_path(strategy_id: str, version_id: str) -> str:
    return api_path("/v1/strategies/{}/versions/{}", strategy_id, version_id)


def verify_platform(image: BuiltImage) -> None:
    actual = f"{image.os}/{image.architecture}"
    if actual != TARGET_PLATFORM:
        raise TektiiError(f"Image platform mismatch (expected {TARGET_PLATFORM}, got {actual})", hint=APPLE_SILICON_HINT)


def _tool(builder: Any) -> str:
    """The program a builder drives, as messages name it ("Docker" for docker and buildx)."""
    return getattr(builder, "tool", builder.name)


def _source(builder: Any) -> str:
    """What a builder makes versions from: "dockerfile" (an image builder) or "template"."""
    return getattr(builder, "source", "dockerfile")


def _unavailable(builder: Any, found: Availability, alternatives: list[str] | None = None) -> TektiiError:
    """Why `builder` cannot be used: its own words when it says how to fix it
    ("Docker not running" / "Start Docker Desktop ..."), else a pointer to `tektii plugins`."""
    if found.hint:
        hint = found.hint
        if alternatives:
            hint += f" Or build without {_tool(builder)}: " + " or ".join(f"`--builder {n}`" for n in alternatives) + "."
        return TektiiError(found.reason, hint=hint)
    return TektiiError(f"Builder {builder.name!r} is not available: {found.reason}",
                       hint="`tektii plugins` lists the builders and why each is or is not available.")


class Heartbeat:
    """Tells the platform, once a minute while a build or push goes on, that the upload is
    alive (a version without progress for a while is failed as "upload abandoned")."""

    INTERVAL_S = 60.0

    def __init__(self, client: Any, path: str):
        from tektii_core.client import APIClient

        # Its own session: the main thread may use the context's client meanwhile.
        self.client = APIClient(client.base_url, client.session.auth, timeout=(5.0, 10.0))
        self.path = path
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="upload-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=15)
        self.client.session.close()

    def _beat(self) -> None:
        while not self.stopped.wait(self.INTERVAL_S):
            try:
                self.client.post(self.path)
            except TektiiError:
                pass  # a missed beat is not an upload error; the next one may get through
