"""The schema validator used for request bodies: every problem, with its path."""

from __future__ import annotations

from tektii_platform.validation import FieldError, validate

SCHEMAS = {
    "Subscription": {
        "type": "object",
        "required": ["instrument", "events"],
        "additionalProperties": False,
        "properties": {
            "instrument": {"type": "string", "pattern": "^[CF]:[A-Z]+$", "x-message": "must look like C:BTCUSD"},
            "events": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": ["candle_1m", "candle_1h"]}},
        },
    }
}
CONFIG = {
    "type": "object",
    "required": ["startTime", "subscriptions"],
    "additionalProperties": False,
    "properties": {
        "startTime": {"type": "string", "format": "date-time"},
        "initialCapital": {"type": "number", "minimum": 1, "maximum": 100_000_000},
        "count": {"type": "integer"},
        "flag": {"type": "boolean"},
        "note": {"type": ["string", "null"], "maxLength": 3},
        "subscriptions": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"$ref": "#/components/schemas/Subscription"}},
    },
}


def check(value):
    return {(e.field, e.message) for e in validate(CONFIG, value, schemas=SCHEMAS)}


def test_valid_document_has_no_errors():
    assert (
        check(
            {
                "startTime": "2024-01-01T00:00:00Z",
                "initialCapital": 100000,
                "count": 3.0,
                "flag": False,
                "note": None,
                "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
            }
        )
        == set()
    )


def test_every_problem_is_reported_with_its_path():
    errors = check(
        {
            "startTime": "2024-13-01T00:00:00Z",
            "initialCapital": 0,
            "count": True,
            "flag": "yes",
            "note": "long!",
            "extra": 1,
            "subscriptions": [
                {"instrument": "BTCUSD", "events": ["candle_1m", "candle_1m", "candle_7m"]},
                {"events": []},
                "x",
            ],
        }
    )
    fields = {field for field, _ in errors}
    assert fields == {
        "startTime",
        "initialCapital",
        "count",
        "flag",
        "note",
        "extra",
        "subscriptions",
        "subscriptions[0].instrument",
        "subscriptions[0].events[1]",
        "subscriptions[0].events[2]",
        "subscriptions[1].instrument",
        "subscriptions[1].events",
        "subscriptions[2]",
    }
    assert ("subscriptions[0].instrument", "must look like C:BTCUSD") in errors
    assert ("subscriptions", "must have at most 2 item(s)") in errors
    assert ("extra", "is not a known field") in errors
    assert ("count", "must be an integer") in errors
    assert ("initialCapital", "must be at least 1") in errors


def test_missing_required_and_wrong_top_level_type():
    assert check({}) == {("startTime", "is required"), ("subscriptions", "is required")}
    assert validate(CONFIG, [], schemas=SCHEMAS) == [FieldError(None, "must be an object")]


def test_datetime_format():
    good = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5+02:00", "2024-02-29T23:59:59z"]
    bad = ["2024-01-01", "2023-02-29T00:00:00Z", "2024-01-01T00:00:00", "yesterday"]
    schema = {"type": "string", "format": "date-time"}
    assert all(validate(schema, v) == [] for v in good)
    assert all(len(validate(schema, v)) == 1 for v in bad)
