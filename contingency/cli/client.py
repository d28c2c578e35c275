"""The CLI's side of the HTTP API: one request, one answer or one clear line of refusal."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"


class CliError(Exception):
    """Shown as one line on stderr; the command exits non-zero."""


class ApiClient:
    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.url = url

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._request(
            "GET", path, params={k: v for k, v in (params or {}).items() if v is not None}
        )

    def post(self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> Any:
        # A key per invocation: if the connection drops after the server acted, re-running the
        # command with --idempotency-key of the first run cannot record it twice.
        key = idempotency_key or uuid.uuid4().hex
        return self._request("POST", path, json=body, headers={"Idempotency-Key": key})

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the API at {self.url}: {exc or type(exc).__name__}"
            ) from None
        if response.is_success:
            return response.json()
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text.strip() or response.reason_phrase
        raise CliError(f"{message} (HTTP {response.status_code})")
