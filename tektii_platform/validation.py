"""Validate request bodies against the same JSON Schemas the OpenAPI document publishes,
so the documentation and the checks cannot drift apart.

Supports the subset the API uses: type, properties, required, additionalProperties (false),
string minLength/maxLength/pattern/enum/format date-time, number minimum/maximum, array
items/minItems/maxItems/uniqueItems, nullable via a type list, and ``$ref`` to
``#/components/schemas/*``. Every problem is collected, each with its field path
(``subscriptions[0].events[1]``), instead of stopping at the first one.
A schema may carry ``x-message``: the message used when its pattern does not match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs


@attrs.frozen
class FieldError:
    field: str | None  # path into the body, None for the body as a whole
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message}


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_ARTICLE = {
    "object": "an object",
    "array": "an array",
    "integer": "an integer",
    "null": "null",
}


def _is(value: Any, type_name: str) -> bool:
    if isinstance(value, bool) and type_name in ("integer", "number"):
        return False  # JSON true is not 1
    if type_name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[type_name])


def _join(path: str | None, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path or ''}[{key}]"
    return f"{path}.{key}" if path else key


def validate(
    schema: Mapping[str, Any],
    value: Any,
    *,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    path: str | None = None,
) -> list[FieldError]:
    """Every way in which ``value`` breaks ``schema``; empty when it conforms."""
    errors: list[FieldError] = []
    _check(schema, value, schemas or {}, path, errors)
    return errors


def _check(schema, value, schemas, path, errors) -> None:
    ref = schema.get("$ref")
    if ref:
        _check(schemas[ref.rsplit("/", 1)[-1]], value, schemas, path, errors)
        return
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, t) for t in types):
            wanted = " or ".join(_ARTICLE.get(t, f"a {t}") for t in types)
            errors.append(FieldError(path, f"must be {wanted}"))
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(FieldError(path, "must be one of " + ", ".join(map(str, schema["enum"]))))
    if isinstance(value, str):
        _check_string(schema, value, path, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(FieldError(path, f"must be at least {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(FieldError(path, f"must be at most {schema['maximum']}"))
    elif isinstance(value, list):
        _check_array(schema, value, schemas, path, errors)
    elif isinstance(value, dict):
        _check_object(schema, value, schemas, path, errors)


def _check_string(schema, value, path, errors) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(
            FieldError(
                path,
                "must not be empty" if schema["minLength"] == 1 else f"must be at least {schema['minLength']} characters",
            )
        )
    elif "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(FieldError(path, f"must be at most {schema['maxLength']} characters"))
    elif "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(FieldError(path, schema.get("x-message", f"must match {schema['pattern']}")))
    if schema.get("format") == "date-time" and not _is_datetime(value):
        errors.append(FieldError(path, "must be an RFC 3339 timestamp, e.g. 2024-01-01T00:00:00Z"))


def _is_datetime(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


def _check_array(schema, value, schemas, path, errors) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(FieldError(path, f"must have at least {schema['minItems']} item(s)"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(FieldError(path, f"must have at most {schema['maxItems']} item(s)"))
    if schema.get("uniqueItems"):
        seen = []
        for index, item in enumerate(value):
            if item in seen:
                errors.append(FieldError(_join(path, index), "is a duplicate"))
            seen.append(item)
    if "items" in schema:
        for index, item in enumerate(value):
            _check(schema["items"], item, schemas, _join(path, index), errors)


def _check_object(schema, value, schemas, path, errors) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            errors.append(FieldError(_join(path, name), "is required"))
    for name, item in value.items():
        if name in properties:
            if properties[name].get("readOnly"):
                errors.append(FieldError(_join(path, name), "is read-only"))
            else:
                _check(properties[name], item, schemas, _join(path, name), errors)
        elif schema.get("additionalProperties") is False:
            errors.append(FieldError(_join(path, name), "is not a known field"))
