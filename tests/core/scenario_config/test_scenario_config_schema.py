"""The published JSON Schema agrees with the validator (jsonschema is a test dependency)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tektii_testkit import SPEC_CONFIG
from test_scenario_config_rules import RULES, with_change

from tektii_core.scenario_config import config_json_schema, validate_config

jsonschema = pytest.importorskip("jsonschema")

DOCS = Path(__file__).resolve().parents[3] / "docs"

# Rules that relate two values or need calendar arithmetic: JSON Schema cannot state them
# (draft 2020-12 has no cross-field comparison; "format" is only an annotation by default).
NOT_EXPRESSIBLE = (
    "duplicate instrument",
    "no subscription asks for candles",
    "must be after startTime",
    "is not a real date and time",
    "must be a finite number",  # NaN cannot be written in JSON at all
    "is not a subscribed instrument",
)


def schema_validator():
    return jsonschema.Draft202012Validator(config_json_schema())


def test_published_schema_file_is_current():
    published = json.loads((DOCS / "scenario-config.schema.json").read_text())
    assert published == config_json_schema(), (
        "regenerate: python -m tektii_core.scenario_config > docs/scenario-config.schema.json"
    )


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(config_json_schema())


def doc_examples() -> list[dict]:
    text = (DOCS / "scenario-config.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    return [json.loads(b) for b in blocks if '"strategyVersionId"' in b]


def test_spec_and_documented_examples_are_valid_for_both():
    examples = [SPEC_CONFIG, *doc_examples()]
    assert len(examples) >= 3
    for example in examples:
        assert validate_config(example)[1] == []
        assert list(schema_validator().iter_errors(example)) == []


@pytest.mark.parametrize(("path", "value", "expected"), RULES, ids=[r[2][:60] for r in RULES])
def test_schema_rejects_what_the_validator_rejects(path, value, expected):
    errors = list(schema_validator().iter_errors(with_change(path, value)))
    if any(part in expected for part in NOT_EXPRESSIBLE):
        assert errors == []  # documented gap: only validate_config catches this one
    else:
        assert errors, f"the schema accepts a config the validator rejects: {expected}"
