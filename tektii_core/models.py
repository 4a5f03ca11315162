"""API resources as attrs classes; one cattrs converter maps snake_case <-> camelCase.

Unknown fields from the server are ignored (a newer platform may add fields), missing
optional ones default to None.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

T = TypeVar("T")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


converter = cattrs.Converter(forbid_extra_keys=False)


def _with_camel_case(cls: type) -> None:
    overrides: dict[str, Any] = {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)}
    converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter, **overrides))
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **overrides))


def api_model(cls: type[T]) -> type[T]:
    """Class decorator: a frozen attrs class whose JSON form is camelCase."""
    cls = attrs.frozen(kw_only=True)(cls)
    _with_camel_case(cls)
    return cls


def structure(data: dict[str, Any], cls: type[T]) -> T:
    return converter.structure(data, cls)


def unstructure(obj: Any) -> dict[str, Any]:
    return converter.unstructure(obj)


@api_model
class Strategy:
    id: str
    name: str
    owner_id: str
    created_by: str
    created_at: str
    updated_at: str


# --- the hand-off to an execution backend (tektii_core.contracts.RunSpec) -------------------

def _register_run_spec() -> None:
    from tektii_core.contracts import RunSpec, RuntimeLimits

    _with_camel_case(RuntimeLimits)
    _with_camel_case(RunSpec)


_register_run_spec()


# --- the scenario config (tektii_core.scenario_config.model): written only through here -----

def _register_scenario_config() -> None:
    from tektii_core.scenario_config.model import JSON_NAMES, ScenarioConfig, Subscription
    from tektii_core.timeutil import format_time

    converter.register_unstructure_hook(
        Subscription, make_dict_unstructure_fn(Subscription, converter, events=override(unstruct_hook=list))
    )
    hooks: dict[str, Any] = {
        "subscriptions": lambda subs: [converter.unstructure(s) for s in subs],
        "start_time": format_time,
        "end_time": format_time,
        "spread_bps": dict,
        "environment": dict,
    }
    overrides: dict[str, Any] = {
        name: override(rename=json_name, unstruct_hook=hooks.get(name)) for name, json_name in JSON_NAMES.items()
    }
    converter.register_unstructure_hook(ScenarioConfig, make_dict_unstructure_fn(ScenarioConfig, converter, **overrides))


_register_scenario_config()


def run_spec_to_json(spec: Any) -> dict[str, Any]:
    """A RunSpec as the JSON object sent to the node (camelCase keys)."""
    return converter.unstructure(spec)


def run_spec_from_json(data: dict[str, Any]) -> Any:
    """The RunSpec a worker got (the inverse of run_spec_to_json)."""
    from tektii_core.contracts import RunSpec

    return converter.structure(data, RunSpec)
