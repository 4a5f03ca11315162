"""Which builder `version upload` uses when none is named: the preferred one that is installed,
even when it does not run (its error is the answer); the next one only when the preferred is
not installed at all, and then that is said. Docker itself is on this machine, so "not
installed" is the builders' own Availability answer here (the real stopped-daemon case is in
tests/cli/test_version_upload.py). The messages are the builders' own (their Availability's reason
and hint, their `tool`): the flow names no builder."""

from __future__ import annotations

import pytest

from tektii_core.contracts import Availability, TektiiError
from tektii_core.upload import Upload, UploadRequest


class Builder:
    def __init__(self, name: str, availability: Availability, tool: str | None = None):
        self.name, self._availability = name, availability
        if tool is not None:
            self.tool = tool

    def availability(self) -> Availability:
        return self._availability


class Context:
    def __init__(self, builders):
        self.lines: list[str] = []
        self.plugins = type("Plugins", (), {"builders": builders,
                                            "builder": lambda _, name: next(b for b in builders if b.name == name)})()
        self.config = {}

    def say(self, line: str) -> None:
        self.lines.append(line)

    def trace(self, message: str) -> None:
        pass


STOPPED = Availability(False, "Docker not running", hint="Start Docker Desktop or the Docker daemon.")
ABSENT = Availability(False, "docker CLI not installed", installed=False)


def choose(*builders):
    ctx = Context(list(builders))
    return Upload(ctx, UploadRequest("strat_x")).choose_builder(), ctx.lines


def test_a_stopped_docker_is_reported_not_replaced():
    with pytest.raises(TektiiError) as caught:
        choose(Builder("docker", STOPPED, "Docker"), Builder("buildx", Availability(True), "Docker"),
               Builder("podman", Availability(True)), Builder("buildah", Availability(True)))
    assert caught.value.message == "Docker not running"
    assert caught.value.hint == ("Start Docker Desktop or the Docker daemon. Or build without Docker: "
                                 "`--builder podman` or `--builder buildah`.")


def test_only_available_alternatives_are_named():
    with pytest.raises(TektiiError) as caught:
        choose(Builder("docker", STOPPED, "Docker"), Builder("podman", Availability(False, "x", installed=False)))
    assert caught.value.hint == "Start Docker Desktop or the Docker daemon."


def test_docker_not_installed_falls_to_the_next_builder_in_one_line():
    podman = Builder("podman", Availability(True))
    builder, lines = choose(Builder("docker", Availability(False, "no docker", installed=False), "Docker"),
                            Builder("buildx", ABSENT, "Docker"), podman)
    assert builder is podman
    assert lines == ["→ Docker is not installed: building with podman"]


def test_a_builder_without_a_hint_is_pointed_at_tektii_plugins():
    with pytest.raises(TektiiError) as caught:
        choose(Builder("kaniko", Availability(False, "no executor")))
    assert caught.value.message == "Builder 'kaniko' is not available: no executor"
    assert "`tektii plugins`" in caught.value.hint


class TemplateBuilder(Builder):
    source = "template"


def test_a_template_builder_is_never_the_default_image_builder():
    podman = Builder("podman", Availability(True))
    builder, _ = choose(TemplateBuilder("template", Availability(True)), podman)
    assert builder is podman
    ctx = Context([TemplateBuilder("template", Availability(True)), podman])
    with pytest.raises(TektiiError) as caught:
        Upload(ctx, UploadRequest("strat_x", builder="template")).choose_builder()
    assert caught.value.message == "Builder 'template' makes versions from a template, not from a Dockerfile"
    chosen = Upload(Context([podman, TemplateBuilder("template", Availability(True))]),
                    UploadRequest("strat_x", template="ma-crossover", builder="podman")).choose_builder()
    assert chosen.name == "template"  # --template: the template builder, whatever --builder says
