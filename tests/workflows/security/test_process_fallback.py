"""Falling back from Docker to the process runtime for templates is automatic only on a
single-user platform that serves loopback alone (tektii_platform.execution.process_fallback_refusal).
A platform with a public name (TEKTII_PUBLIC_NAMES) or a wildcard bind, or with
TEKTII_PROCESS_FALLBACK=off, fails the run with a reason that names the setting.

The platform cannot reach Docker here (DOCKER_HOST names no daemon), as on a machine without it;
it binds 127.0.0.1 only, a public name is configured instead of another address."""

from __future__ import annotations

import attrs
import pytest
from tektii_testkit import ServedPlatform

from tektii_platform.execution import process_fallback_refusal
from tektii_platform.hosts import OwnAddress

SYMBOL = "C:BTCUSD"
START, END = "2024-01-01T00:00:00Z", "2024-01-01T03:00:00Z"
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "TEKTII_MAX_CONCURRENT_RUNS": "1"}
CONFIG = {"subscriptions": [{"instrument": SYMBOL, "events": ["candle_1m"]}], "startTime": START, "endTime": END}


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """One platform, one admin user, candles and a template version; restarted per setting."""
    platform = ServedPlatform(tmp_path_factory.mktemp("fallback") / "data",
                              {**NO_DOCKER, "TEKTII_PUBLIC_NAMES": "tektii.example.test"})
    platform.start()
    try:
        key = platform.new_user("only", admin=True)
        platform.generate(key, SYMBOL, START, END)
        strategy_id = platform.strategy(key, "fallback")
        yield platform, key, strategy_id, platform.template_version(key, strategy_id)
    finally:
        platform.stop()
        platform.http.close()


def _run(desk, **env: str | None) -> dict:
    """Restart the platform with `env` (None: unset), run the template, return the ended scenario."""
    platform, key, strategy_id, version_id = desk
    platform.stop()
    for name, value in env.items():
        if value is None:
            platform.env.pop(name, None)
        else:
            platform.env[name] = value
    platform.start()
    created = platform.create(key, strategy_id, {**CONFIG, "strategyVersionId": version_id})
    return platform.wait(key, strategy_id, created["scenarioId"])


def _assert_refused(scenario: dict, because: str) -> None:
    assert scenario["state"] == "FAILED", scenario
    reason = scenario["failureReason"]
    assert reason.startswith("Docker is not usable here ("), reason
    assert f"running the template in the process runtime instead is off because {because}" in reason
    assert "an admin can allow the fallback with TEKTII_PROCESS_FALLBACK=on" in reason


def test_a_platform_with_a_public_name_does_not_fall_back(desk):
    _assert_refused(_run(desk, TEKTII_PUBLIC_NAMES="tektii.example.test", TEKTII_PROCESS_FALLBACK=None),
                    "the platform serves an address other than loopback")


def test_fallback_off_refuses_even_on_a_single_user_loopback_platform(desk):
    _assert_refused(_run(desk, TEKTII_PUBLIC_NAMES=None, TEKTII_PROCESS_FALLBACK="off"), "TEKTII_PROCESS_FALLBACK=off")


def test_an_admin_can_turn_the_fallback_on_for_a_public_name(desk):
    assert _run(desk, TEKTII_PUBLIC_NAMES="tektii.example.test", TEKTII_PROCESS_FALLBACK="on")["state"] == "COMPLETE"


def test_a_wildcard_bind_is_not_loopback_only(api, monkeypatch):
    """The same rule for a platform bound to every interface, judged on its real context with
    the address it would have (the test binds nothing but loopback)."""
    monkeypatch.delenv("TEKTII_PROCESS_FALLBACK", raising=False)
    monkeypatch.delenv("TEKTII_PUBLIC_NAMES", raising=False)
    api.new_user("only")
    ctx = api.server.app.ctx
    assert process_fallback_refusal(ctx) is None  # loopback, one user: the embedded default
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        wide = attrs.evolve(ctx, address=OwnAddress(host, ctx.address.port))
        assert process_fallback_refusal(wide) == "the platform serves an address other than loopback", host
    named = attrs.evolve(ctx, address=OwnAddress("127.0.0.1", ctx.address.port, ("tektii.example.test",)))
    assert process_fallback_refusal(named) == "the platform serves an address other than loopback"
