"""The OpenAPI document covers every route, resolves, and matches real responses."""

from __future__ import annotations

import json
import re

import pytest

from tektii_platform.api.openapi import document
from tektii_platform.app import build_router
from tektii_platform.http import Router, ok
from tektii_platform.validation import validate


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_route_is_documented(api):
    doc = api.call("GET", "/v1/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    routes = api.server.app.router.routes
    assert {(r.path, r.method.lower()) for r in routes} == {
        (path, method) for path, ops in doc["paths"].items() for method in ops
    }
    expected = {
        ("/healthz", "get"),
        ("/v1/openapi.json", "get"),
        ("/v1/me", "get"),
        ("/v1/strategies", "get"),
        ("/v1/strategies", "post"),
        ("/v1/strategies/{strategyId}", "get"),
    }
    assert expected <= {(r.path, r.method.lower()) for r in routes}
    operation_ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for route in routes:
        op = doc["paths"][route.path][route.method.lower()]
        assert op["summary"], route.operation_id
        assert str(route.status) in op["responses"]
        if route.auth:  # a public route may still declare 401 itself (e.g. its own Basic auth)
            assert "401" in op["responses"], route.operation_id
        assert bool(op["security"]) == route.auth
        path_params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert path_params == set(re.findall(r"{(\w+)}", route.path))


def test_every_reference_resolves(api):
    doc = api.call("GET", "/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert refs, "the document should use shared schemas"
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[-1] in schemas, ref
    security = doc["components"]["securitySchemes"]
    assert security["apiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert security["bearer"]["scheme"] == "bearer"


def test_real_responses_match_the_documented_schemas(api):
    doc = api.call("GET", "/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]

    def schema_for(path, method, status):
        return doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]

    def conforms(response, path, method):
        problems = validate(schema_for(path, method, response.status_code), response.json(), schemas=schemas)
        assert problems == [], (path, method, response.status_code, problems)

    key = api.new_user()
    created = api.call("POST", "/v1/strategies", key, json={"name": "doc-check"})
    conforms(created, "/v1/strategies", "post")
    conforms(api.call("GET", "/v1/strategies", key), "/v1/strategies", "get")
    conforms(api.call("GET", "/v1/strategies", key, params={"limit": 0}), "/v1/strategies", "get")
    strategy_id = created.json()["data"]["id"]
    conforms(api.call("GET", f"/v1/strategies/{strategy_id}", key), "/v1/strategies/{strategyId}", "get")
    conforms(api.call("GET", "/v1/strategies/strat_x", key), "/v1/strategies/{strategyId}", "get")
    conforms(api.call("POST", "/v1/strategies", key, json={"name": ""}), "/v1/strategies", "post")
    conforms(api.call("POST", "/v1/strategies", key, data="{"), "/v1/strategies", "post")
    conforms(api.call("POST", "/v1/strategies", key, json={"name": "doc-check"}), "/v1/strategies", "post")
    conforms(api.call("GET", "/v1/me", key), "/v1/me", "get")
    conforms(api.call("GET", "/v1/me"), "/v1/me", "get")
    conforms(api.call("GET", "/healthz"), "/healthz", "get")


def test_a_new_route_is_documented_without_further_work():
    router = build_router()

    def get_widget(req):
        """Get a widget"""
        return ok({})

    widget = router.schema("Widget", {"type": "object"})
    router.add("GET", "/v1/widgets/{widgetId}", get_widget, tag="widgets", response_schema=widget)
    doc = document(router)
    op = doc["paths"]["/v1/widgets/{widgetId}"]["get"]
    assert op["operationId"] == "get_widget" and op["summary"] == "Get a widget"
    assert "Widget" in doc["components"]["schemas"]
    assert {"401", "404", "500"} <= set(op["responses"])
    json.dumps(doc)  # serialisable


def test_router_refuses_duplicates_and_undocumented_routes():
    router = Router()

    def handler(req):
        """x"""
        return ok(None)

    def undocumented(req):
        return ok(None)

    router.add("GET", "/v1/a", handler, tag="t")
    with pytest.raises(ValueError, match="twice"):
        router.add("GET", "/v1/a", handler, tag="t", operation_id="other")
    with pytest.raises(ValueError, match="operation id handler used twice"):
        router.add("GET", "/v1/b", handler, tag="t")
    with pytest.raises(ValueError, match="summary"):
        router.add("GET", "/v1/c", undocumented, tag="t")
