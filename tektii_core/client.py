"""The platform API client: one requests Session with timeouts, retries and the error envelope."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tektii_core.errors import TektiiError

DEFAULT_TIMEOUT = (5.0, 60.0)  # connect, read (seconds)
USER_AGENT = "tektii-cli"


class APIKeyAuth(requests.auth.AuthBase):
    """Sends the platform API key as `Authorization: Bearer <key>`."""

    def __init__(self, key: str):
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.key}"
        return request


class APIError(TektiiError):
    """An error answer of the platform, made from its `{"error": {...}}` envelope."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                 hint: str | None = None):
        self.status, self.code, self.details = status, code, details or []
        self.api_message = message  # as the platform sent it, without the details
        problems = [f"{d.get('field')}: {d.get('message')}" if d.get("field") else str(d.get("message")) for d in self.details]
        text = message.rstrip(".")
        if len(problems) == 1:
            text = f"{text}: {problems[0]}"
        elif problems:  # every problem on its own line, as the platform reported them
            text = f"{text}:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(text, hint=hint or _HINTS.get(status))


_HINTS = {401: "Check your API key: `tektii auth status` shows where it comes from; `tektii auth login` sets one."}


def _retry() -> Retry:
    # Idempotent methods only: retrying a POST could create a strategy twice.
    return Retry(
        total=4,
        connect=4,
        read=2,
        status=4,
        backoff_factor=0.3,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class APIClient:
    def __init__(self, base_url: str, auth: requests.auth.AuthBase | None = None, *, verbose: int = 0,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.verbose = verbose
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(max_retries=_retry())
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                data: Any = None, headers: dict[str, str] | None = None, timeout: Any = None) -> dict[str, Any]:
        """Send one request and return the decoded JSON body, or raise a TektiiError."""
        url = f"{self.base_url}{path}"
        params = {k: v for k, v in (params or {}).items() if v is not None}
        started = time.perf_counter()
        try:
            response = self.session.request(method, url, params=params, json=json, data=data, headers=headers,
                                            timeout=timeout or self.timeout)
        except requests.exceptions.ConnectionError:
            raise TektiiError(
                f"Cannot reach the tektii platform at {self.base_url}",
                hint="Start it with `tektii platform up`, or set --api-url / TEKTII_API_URL.",
            ) from None
        except requests.exceptions.Timeout:
            raise TektiiError(f"The tektii platform at {self.base_url} did not answer in time") from None
        if self.verbose:
            elapsed = (time.perf_counter() - started) * 1000
            print(f"HTTP {method} {response.url} -> {response.status_code} ({elapsed:.0f} ms)", file=sys.stderr)
            if self.verbose > 1:
                print(f"  response: {response.text[:2000]}", file=sys.stderr)
        return self._decode(response)

    @staticmethod
    def _decode(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok and isinstance(body, dict):
            return body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
            hint = err.get("hint")
            raise APIError(response.status_code, str(err.get("code", "error")), str(err.get("message", "request failed")),
                           err.get("details") if isinstance(err.get("details"), list) else None,
                           hint=hint if isinstance(hint, str) and hint else None)
        if response.ok:
            raise TektiiError(f"Unexpected answer from the platform ({response.status_code}): not a JSON object")
        raise APIError(response.status_code, "http_error", f"HTTP {response.status_code} {response.reason}")

    def get_text(self, path: str, *, params: dict[str, Any] | None = None) -> str:
        """A non-JSON body (e.g. CSV results); errors still come as the JSON envelope."""
        try:
            response = self.session.get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
        except requests.exceptions.RequestException:
            raise TektiiError(f"Cannot reach the tektii platform at {self.base_url}") from None
        if response.ok:
            return response.text
        self._decode(response)  # raises the platform's error
        raise TektiiError(f"HTTP {response.status_code} from the platform")

    def get(self, path: str, **kw: Any) -> dict[str, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> dict[str, Any]:
        return self.request("POST", path, json=json, **kw)

    def paginate(self, path: str, key: str, *, limit: int | None = None, params: dict[str, Any] | None = None
                 ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following `nextCursor` until it runs out."""
        cursor = None
        while True:
            page = self.get(path, params={**(params or {}), "limit": limit, "cursor": cursor})["data"]
            yield from page[key]
            cursor = page.get("nextCursor")
            if not cursor:
                return
