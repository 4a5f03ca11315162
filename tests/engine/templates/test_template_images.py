"""Each template's Dockerfile builds with a real Docker engine on the provisioned base."""

from __future__ import annotations

import uuid

import pytest

from tektii_engine.templates import write_project


@pytest.mark.parametrize("name", ["ma-crossover", "rsi-momentum"])
def test_template_image_builds_and_runs_its_tests(docker_client, tmp_path, name):
    # Build from a written project, exactly what `strategy init` gives a user.
    write_project(name, tmp_path)
    tag = f"tektii-test/template-{name}:{uuid.uuid4().hex[:8]}"
    image, _ = docker_client.images.build(path=str(tmp_path), tag=tag, pull=False, rm=True, forcerm=True)
    try:
        assert image.attrs["Os"] == "linux"
        assert image.attrs["Architecture"] == "amd64"
        assert image.attrs["Config"]["Cmd"] == ["python", "main.py"]
        assert image.attrs["Config"]["WorkingDir"] == "/app"

        def run(command, **kwargs):
            container = docker_client.containers.run(tag, command, detach=True, network_mode="none", **kwargs)
            try:
                code = container.wait(timeout=120)["StatusCode"]
                return code, container.logs().decode()
            finally:
                container.remove(force=True)

        code, out = run(["python", "-m", "unittest"])
        assert code == 0, out
        assert "OK" in out
        code, out = run(["pip", "show", "tektii"])
        assert code == 0 and "Version: 1." in out, out
        # The default command is the strategy; bad settings stop it before any connection.
        code, out = run(None, environment={"ORDER_EQUITY_FRACTION": "lots"})
        assert code == 2
        assert out.strip() == (f"{name}: invalid settings: ORDER_EQUITY_FRACTION='lots' is not a number")
    finally:
        docker_client.images.remove(tag, force=True)
