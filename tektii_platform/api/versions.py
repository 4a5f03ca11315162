"""Versions of a strategy: created by `version upload` (with push credentials for the strategy's
repository), completed with the pushed digest once the registry holds it, or failed with a reason.

States: PENDING (created, image not yet pushed) -> READY | FAILED. A template version is READY at once.
An upload in progress sends a heartbeat at least once a minute; a PENDING version that has shown
no progress for ``TEKTII_UPLOAD_ABANDON_S`` seconds (default 900: the CLI was killed, the machine
went away) becomes FAILED, "upload abandoned", the next time versions are read.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import pagination, store
from ..http import ApiError, Request, Response, Router, not_found, ok, validation_error
from ..ids import db_time, new_id, now_db, rfc3339
from ..store import versions
from ..validation import FieldError
from .strategies import get_owned
from .templates import name_schema

TARGET = ("linux", "amd64")

CREATE_SCHEMA = {
    "type": "object",
    "required": ["gitSha"],
    "additionalProperties": False,
    "properties": {
        "gitSha": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9._-]+$",
                   "x-message": "must be a commit SHA or an identifier of letters, digits, '.', '_' and '-'"},
        "gitDirty": {"type": ["boolean", "null"]},
        "parentId": {"type": ["string", "null"]},
        "template": {"type": ["string", "null"]},  # one of the offered templates: name_schema(), in register()
        "builder": {"type": ["string", "null"], "maxLength": 64},
    },
}
COMPLETE_SCHEMA = {
    "type": "object",
    "required": ["digest"],
    "additionalProperties": False,
    "properties": {
        "digest": {"type": "string", "pattern": r"^sha256:[a-f0-9]{64}$", "x-message": "must be sha256:<64 hex digits>"},
        "os": {"type": ["string", "null"]},
        "architecture": {"type": ["string", "null"]},
        "size": {"type": ["integer", "null"], "minimum": 0},
    },
}
FAIL_SCHEMA = {
    "type": "object",
    "required": ["reason"],
    "additionalProperties": False,
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
}
_NULLABLE_STR = {"type": ["string", "null"]}
VERSION_SCHEMA = {
    "type": "object",
    "required": ["id", "strategyId", "state", "gitSha", "createdAt", "updatedAt"],
    "properties": {
        "id": {"type": "string", "pattern": "^ver_[a-z2-7]+$"},
        "strategyId": {"type": "string"},
        "state": {"type": "string", "enum": ["PENDING", "READY", "FAILED"]},
        "failureReason": _NULLABLE_STR,
        "gitSha": {"type": "string"},
        "gitDirty": {"type": ["boolean", "null"]},
        "parentId": _NULLABLE_STR,
        "template": _NULLABLE_STR,
        "builder": _NULLABLE_STR,
        "imageRepository": _NULLABLE_STR,
        "image": {**_NULLABLE_STR, "description": "registry/repository@digest, once READY"},
        "digest": _NULLABLE_STR,
        "size": {"type": ["integer", "null"]},
        "os": _NULLABLE_STR,
        "architecture": _NULLABLE_STR,
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
    },
}


def to_json(row: store.Row, registry_address: str | None) -> dict[str, Any]:
    repo = f"{registry_address}/{row['repository']}" if registry_address and row["repository"] else None
    return {
        "id": row["id"], "strategyId": row["strategy_id"], "state": row["state"], "failureReason": row["failure_reason"],
        "gitSha": row["git_sha"], "gitDirty": None if row["git_dirty"] is None else bool(row["git_dirty"]),
        "parentId": row["parent_id"], "template": row["template"], "builder": row["builder"],
        "imageRepository": repo, "image": f"{repo}@{row['digest']}" if repo and row["digest"] else None,
        "digest": row["digest"], "size": row["size"], "os": row["os"], "architecture": row["architecture"],
        "createdAt": rfc3339(row["created_at"]), "updatedAt": rfc3339(row["updated_at"]),
    }


def _registry_address(req: Request) -> str | None:
    return req.ctx.registry.address()


ABANDON_ENV = "TEKTII_UPLOAD_ABANDON_S"
DEFAULT_ABANDON_S = 900
ABANDONED = "upload abandoned"


def abandon_after_s() -> float:
    text = os.environ.get(ABANDON_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_ABANDON_S
    except ValueError:
        value = -1
    if value <= 0:
        raise ApiError(500, f"{ABANDON_ENV} must be a positive number of seconds, got {text!r}")
    return value


def abandon_stale_uploads(req: Request, strategy_id: str) -> None:
    """PENDING versions of the strategy without progress for ``abandon_after_s()``: FAILED."""
    cutoff = db_time(datetime.now(UTC) - timedelta(seconds=abandon_after_s()))
    versions.fail_stale(req.db, strategy_id, cutoff, ABANDONED, now_db())


def get_version_row(req: Request, strategy_id: str, version_id: str) -> store.Row:
    """The caller's version of the caller's strategy, else 404."""
    get_owned(req, strategy_id)
    abandon_stale_uploads(req, strategy_id)
    row = versions.get(req.db, version_id, strategy_id)
    if row is None:
        raise not_found("Version", version_id)
    return row


def create_version(req: Request) -> Response:
    """Create a version (returns push credentials for the strategy's repository)"""
    strategy = get_owned(req, req.path_params["strategyId"])
    body = req.validated_json()
    parent = body.get("parentId")
    if parent and versions.get(req.db, parent, strategy["id"]) is None:
        raise validation_error([FieldError("parentId", f"{parent} is not a version of strategy {strategy['id']}")])
    template = body.get("template")
    version_id, now = new_id("ver"), now_db()
    push = None
    repository = None
    if not template:
        # 503 with what to install when the registry cannot run
        push = req.ctx.registry.push_credentials(req.user.id, strategy["id"])
        repository = push["repository"]
    dirty = body.get("gitDirty")
    versions.insert(req.db, {
        "id": version_id, "strategy_id": strategy["id"], "owner_id": req.user.id, "parent_id": parent,
        "git_sha": body["gitSha"], "git_dirty": None if dirty is None else int(dirty), "template": template,
        "builder": body.get("builder") or ("template" if template else None),
        "state": "READY" if template else "PENDING", "repository": repository, "created_at": now, "updated_at": now,
    })
    data = to_json(get_version_row(req, strategy["id"], version_id), _registry_address(req))
    if push:
        data["push"] = push
    return ok(data, status=201, headers={"Location": f"/v1/strategies/{strategy['id']}/versions/{version_id}"})


def complete_version(req: Request) -> Response:
    """Record the pushed image; the version becomes READY once the registry holds it for linux/amd64"""
    strategy_id, version_id = req.path_params["strategyId"], req.path_params["versionId"]
    row = get_version_row(req, strategy_id, version_id)
    body = req.validated_json()
    if row["state"] != "PENDING":
        raise ApiError(409, f"Version {version_id} is {row['state']}, not PENDING", code="version_not_pending")
    from tektii_core.errors import TektiiError

    reg = req.ctx.registry.client()
    try:
        manifest = reg.manifest(row["repository"], body["digest"])
    except TektiiError as exc:
        raise validation_error([FieldError("digest", f"not in the registry: {exc.message}")]) from None
    if "/".join(TARGET) not in manifest.platforms:
        got = ", ".join(manifest.platforms) or "unknown"
        _set_failed(req, version_id, f"Image platform mismatch (expected linux/amd64, got {got})")
        raise validation_error([FieldError("digest", f"the pushed image is not linux/amd64 (got {got})")])
    versions.set_ready(req.db, version_id, digest=body["digest"], size=manifest.size or body.get("size"), os=TARGET[0],
                       architecture=TARGET[1], now=now_db())
    return ok(to_json(get_version_row(req, strategy_id, version_id), _registry_address(req)))


def _set_failed(req: Request, version_id: str, reason: str) -> None:
    versions.set_failed(req.db, version_id, reason, now_db())


def fail_version(req: Request) -> Response:
    """Mark a pending version failed, with the reason (build, platform or push failure)"""
    strategy_id, version_id = req.path_params["strategyId"], req.path_params["versionId"]
    row = get_version_row(req, strategy_id, version_id)
    body = req.validated_json()
    if row["state"] != "PENDING":
        raise ApiError(409, f"Version {version_id} is {row['state']}, not PENDING", code="version_not_pending")
    _set_failed(req, version_id, body["reason"])
    return ok(to_json(get_version_row(req, strategy_id, version_id), _registry_address(req)))


def heartbeat_version(req: Request) -> Response:
    """Report that the upload of a pending version is still in progress (build or push)"""
    strategy_id, version_id = req.path_params["strategyId"], req.path_params["versionId"]
    row = get_version_row(req, strategy_id, version_id)
    if row["state"] != "PENDING":
        raise ApiError(409, f"Version {version_id} is {row['state']}, not PENDING", code="version_not_pending")
    versions.touch(req.db, version_id, now_db())
    return ok(to_json(get_version_row(req, strategy_id, version_id), _registry_address(req)))


def list_versions(req: Request) -> Response:
    """List a strategy's versions, newest first"""
    strategy = get_owned(req, req.path_params["strategyId"])
    abandon_stale_uploads(req, strategy["id"])
    page = pagination.parse_page(req)
    rows, next_cursor = pagination.finish(versions.list_of_strategy(req.db, strategy["id"], page), page)
    address = _registry_address(req)
    return ok({"versions": [to_json(r, address) for r in rows], "nextCursor": next_cursor})


def get_version(req: Request) -> Response:
    """Get one version"""
    row = get_version_row(req, req.path_params["strategyId"], req.path_params["versionId"])
    return ok(to_json(row, _registry_address(req)))


def register(router: Router) -> None:
    version = router.schema("Version", VERSION_SCHEMA)
    created = {"allOf": [version], "properties": {"push": {
        "type": "object", "description": "Short-lived credentials for the strategy's repository (uploaded images only)",
        "properties": {k: {"type": "string"} for k in ("registry", "repository", "username", "password", "expiresAt")}}}}
    base = "/v1/strategies/{strategyId}/versions"
    router.add("POST", base, create_version, operation_id="createVersion", tag="versions", status=201,
               request_schema=router.schema("VersionCreate", {
                   **CREATE_SCHEMA, "properties": {**CREATE_SCHEMA["properties"], "template": name_schema()}}),
               response_schema=created, errors=(503,))
    router.add("GET", base, list_versions, operation_id="listVersions", tag="versions", query=pagination.PARAMS,
               response_schema={"type": "object", "required": ["versions", "nextCursor"], "properties": {
                   "versions": {"type": "array", "items": version}, "nextCursor": {"type": ["string", "null"]}}})
    router.add("GET", base + "/{versionId}", get_version, operation_id="getVersion", tag="versions", response_schema=version)
    router.add("POST", base + "/{versionId}/complete", complete_version, operation_id="completeVersion", tag="versions",
               request_schema=router.schema("VersionComplete", COMPLETE_SCHEMA), response_schema=version, errors=(409, 503))
    router.add("POST", base + "/{versionId}/heartbeat", heartbeat_version, operation_id="heartbeatVersion",
               tag="versions", response_schema=version, errors=(409,))
    router.add("POST", base + "/{versionId}/fail", fail_version, operation_id="failVersion", tag="versions",
               request_schema=router.schema("VersionFail", FAIL_SCHEMA), response_schema=version, errors=(409,))
