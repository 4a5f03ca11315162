"""Reading what a registry stores (catalog, tags, manifests), as the platform itself: every
request carries a short-lived token the platform signs for its own access."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

import attrs

from tektii_core.errors import TektiiError

from .tokens import TokenIssuer

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]


@attrs.frozen
class ManifestInfo:
    """What the registry stores for one tag or digest of a repository."""

    digest: str  # the manifest digest (Docker-Content-Digest), "sha256:..."
    media_type: str
    size: int  # sum of config and layer sizes (compressed), bytes
    platforms: tuple[str, ...]  # "linux/amd64", ...; one entry per image in an index
    raw: dict[str, Any]


@attrs.frozen
class RegistryClient:
    """The registry at ``address`` (host:port), read with tokens `issuer` signs (the issuer the
    registry trusts)."""

    address: str
    issuer: TokenIssuer

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _get(
        self, path: str, access: list[dict[str, Any]], accept: Iterable[str] = (), method: str = "GET"
    ) -> tuple[dict[str, Any], Any]:
        token = self.issuer.token_for_access("tektii-platform", access, ttl=60)["token"]
        headers = {"Authorization": f"Bearer {token}"}
        if accept:
            headers["Accept"] = ", ".join(accept)
        request = urllib.request.Request(self.url + path, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                body = resp.read()
                return (json.loads(body) if body else {}), resp.headers
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise TektiiError(f"Not found in the registry: {path}") from None
            raise TektiiError(f"The registry answered {err.code} for {path}") from None
        except OSError as err:
            raise TektiiError(f"The registry at {self.address} is unreachable: {err}") from None

    def catalog(self) -> list[str]:
        """Every repository name in the registry."""
        names: list[str] = []
        path = "/v2/_catalog?n=1000"
        access = [{"type": "registry", "name": "catalog", "actions": ["*"]}]
        while path:
            body, headers = self._get(path, access)
            names.extend(body.get("repositories") or [])
            link = headers.get("Link") or ""
            # Link: </v2/_catalog?last=x&n=1000>; rel="next"
            path = link[link.index("<") + 1 : link.index(">")] if "<" in link else ""
        return names

    def tags(self, repository: str) -> list[str]:
        pull = [{"type": "repository", "name": repository, "actions": ["pull"]}]
        body, _ = self._get(f"/v2/{repository}/tags/list", pull)
        return list(body.get("tags") or [])

    def manifest(self, repository: str, reference: str) -> ManifestInfo:
        """The manifest of `repository` at a tag or digest, with its platforms and size."""
        pull = [{"type": "repository", "name": repository, "actions": ["pull"]}]
        body, headers = self._get(f"/v2/{repository}/manifests/{reference}", pull, MANIFEST_TYPES)
        media_type = body.get("mediaType") or headers.get("Content-Type", "")
        digest = headers.get("Docker-Content-Digest") or reference
        manifests = [body]
        if media_type in INDEX_TYPES:
            manifests = [
                self._get(f"/v2/{repository}/manifests/{entry['digest']}", pull, MANIFEST_TYPES)[0]
                for entry in body.get("manifests", [])
            ]
        platforms = []
        size = 0
        for item in manifests:
            config, _ = self._get(f"/v2/{repository}/blobs/{item['config']['digest']}", pull)
            variant = f"/{config['variant']}" if config.get("variant") else ""
            platforms.append(f"{config.get('os')}/{config.get('architecture')}{variant}")
            size += item["config"].get("size", 0) + sum(layer.get("size", 0) for layer in item.get("layers", []))
        return ManifestInfo(digest, media_type, size, tuple(platforms), body)


