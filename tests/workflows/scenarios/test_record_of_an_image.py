"""The reproducibility record of a run of an uploaded image: `tektii version upload` builds the
ma-crossover project with Docker and pushes it to the platform's registry; the run pulls it by
digest. The record names that digest (no template), the engine and the config's canonical hash;
`scenario get` shows them and `scenario results --type metadata` carries them."""

from __future__ import annotations

import json
import re

import pytest
from tektii_testkit import SPEC_CONFIG, served, upload_ma_crossover, with_version

from tektii_engine.record import canonical_hash, engine_identity


@pytest.fixture(scope="module")
def platform(tmp_path_factory, docker_engine, base_image, registry_binary):
    yield from served(tmp_path_factory, TEKTII_MAX_CONCURRENT_RUNS="2")


@pytest.fixture(scope="module")
def run_of_an_image(platform, tmp_path_factory):
    """(cli, strategy id, the version, the finished scenario) of the uploaded project's run."""
    key = platform.new_user("record-user", admin=True)
    platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z")
    cli, strategy_id, version_id = upload_ma_crossover(platform, key, tmp_path_factory, "recorded")
    version = platform.ok("GET", f"/v1/strategies/{strategy_id}/versions/{version_id}", key)
    config = with_version(SPEC_CONFIG, version_id, endTime="2024-01-03T00:00:00Z")
    scenario_id = platform.create(key, strategy_id, config)["scenarioId"]
    done = platform.wait(key, strategy_id, scenario_id, timeout=900)
    assert done["state"] == "COMPLETE", done
    return cli, strategy_id, version, done


def record_rows(text: str) -> dict[str, str]:
    """`scenario get`'s piped record: `Field  Value` lines."""
    rows = {}
    for line in text.splitlines():
        field, sep, value = line.partition("  ")
        if sep:
            rows[field] = value.strip()
    return rows


def test_the_record_names_the_pulled_image_by_digest(run_of_an_image):
    cli, strategy_id, version, scenario = run_of_an_image
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", version["digest"]) and version["image"].endswith(version["digest"])
    metadata = cli("--output", "json", "scenario", "results", strategy_id, scenario["scenarioId"], "--type", "metadata")
    assert metadata.code == 0, metadata.err
    record = json.loads(metadata.out)["data"]["reproducibility"]
    assert record["imageDigest"] == version["digest"]
    assert record["template"] is None and record["templateHash"] is None
    assert {k: record[k] for k in ("engineVersion", "engineSourceHash")} == engine_identity()
    assert record["configHash"] == canonical_hash(scenario["config"])
    assert record["candlesReplayed"] == 2 * 24 * 60 and re.fullmatch(r"sha256:[0-9a-f]{64}", record["candlesChecksum"])
    assert scenario["reproducibility"] == record  # `scenario get` carries the same record


def test_scenario_get_shows_the_record(run_of_an_image):
    cli, strategy_id, version, scenario = run_of_an_image
    shown = cli("scenario", "get", strategy_id, scenario["scenarioId"])
    assert shown.code == 0, shown.err
    rows = record_rows(shown.out)
    record = scenario["reproducibility"]
    assert rows["Strategy Code"] == f"image {version['digest']}"
    assert rows["Engine"] == f"{record['engineVersion']} ({record['engineSourceHash']})"
    assert rows["Config Hash"] == record["configHash"]
    assert rows["Candles Checksum"] == f"{record['candlesChecksum']} ({record['candlesReplayed']:,} candles)"
