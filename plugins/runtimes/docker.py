"""The `docker` runtime: a version's image, isolated so it reaches the engine's API only.

The work is done by ``tektii_engine.runtimes.sandbox`` (topology and guarantees in
docs/runtimes.md); this module adapts it to the Runtime contract and registers it.
Docker and the engine helpers are imported inside the methods, never at import time.
"""

from __future__ import annotations

import attrs

from tektii_core import hookimpl
from tektii_core.contracts import (
    Availability,
    RunningStrategy,
    StrategyLaunch,
    TektiiError,
)


class DockerRuntime:
    name = "docker"
    image_builder = "docker"  # its images are the Docker daemon's: a template's is built there
    description = (
        "Runs the version's image in a locked-down container that can reach only the "
        "engine's API (no network, no capabilities, read-only, resource limits)"
    )

    def availability(self) -> Availability:
        try:
            from tektii_engine.docker_client import docker_client
            from tektii_engine.runtimes.relay_image import BASE_IMAGE, base_image_present, relay_image_current

            client = docker_client(timeout=10)
        except TektiiError as err:
            return Availability(False, f"{err.message}: {err.hint}" if err.hint else err.message)
        try:
            if relay_image_current(client) or base_image_present(client):
                return Availability(True)
            return Availability(
                False,
                f"the gateway relay image cannot be built: base image {BASE_IMAGE} is missing (run scripts/provision)",
            )
        finally:
            client.close()

    def ensure_ready(self, log=None) -> str:
        """Build the gateway relay image now if needed (the platform may prebuild it)."""
        from tektii_engine.runtimes.relay_image import ensure_relay_image

        return ensure_relay_image(log=log)

    def start(self, launch: StrategyLaunch) -> RunningStrategy:
        from tektii_engine.runtimes.sandbox import SandboxLimits, start_sandboxed

        if not launch.image:
            raise TektiiError("The docker runtime needs an image to run")
        # None in RuntimeLimits means "the runtime's default", i.e. SandboxLimits' default.
        given = attrs.asdict(launch.limits)
        limits = SandboxLimits(**{k: v for k, v in given.items() if v is not None})
        return start_sandboxed(
            run_id=launch.run_id,
            image=launch.image,
            api_key=launch.api_key,
            gateway_socket=launch.gateway_socket,
            gateway_url=launch.gateway_url,
            serve_socket=launch.serve_socket,
            env=dict(launch.env),
            limits=limits,
            log=launch.log,
        )


@hookimpl
def register_runtimes(register) -> None:
    register(DockerRuntime())
