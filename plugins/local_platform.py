"""The local platform as the default API: started on first use, its key stored for the user.

`resolve_api_url` is `trylast` so that an installed plugin pointing at another platform wins.
"""

from __future__ import annotations

from pathlib import Path

from tektii_core import hookimpl


def data_dir() -> Path:
    from tektii_platform import daemon

    return Path(daemon.data_dir_default())


def ensure_running(ctx, *, port: int | None = None):
    """Start the local platform unless it runs; make sure this profile holds a key it accepts."""
    from tektii_platform import daemon

    info = daemon.status(data_dir())
    if info is None:
        ctx.say("Starting the local tektii platform...")
        info = daemon.start_background(data_dir(), port=port)
        ctx.trace(f"local platform started at {info.url} (pid {info.pid})")
    if not _key_accepted(ctx, info.url):
        _user_id, key = daemon.bootstrap_local_user(data_dir())
        ctx.config.store("api_key", key)
        ctx.trace(f"stored a new local platform API key in {ctx.config.credentials_file.path}")
    return info


def _key_accepted(ctx, url: str) -> bool:
    from tektii_core.client import APIClient, APIError

    found = ctx.authenticate()
    if found is None:
        return False
    try:
        APIClient(url, found.auth).get("/v1/me")
    except APIError as exc:
        if exc.status == 401:
            if found.source.startswith("config file"):
                return False  # a stale key from an earlier local platform: replace it
            raise
    return True


@hookimpl(trylast=True)
def resolve_api_url(settings):
    return ensure_running(settings["context"]).url
