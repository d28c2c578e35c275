"""One JSON shape for every error, the handlers that produce it, and the body size limit.

Every 4xx names the field at fault, so a client (or a person reading curl output) knows what to
fix; an unexpected failure is logged and answered with the same shape, never an HTML page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError, RPCStatusCode

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    field: str | None = None
    errors: list[FieldError] = []


class ApiError(Exception):
    """A refusal with its status, a stable code, and the field at fault when there is one."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(status=status, code=code, message=message, field=field, errors=errors or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "evidence", 0, "source")`` -> ``evidence[0].source``; the body itself -> ``body``."""
    parts = (
        list(loc[1:])
        if loc and loc[0] in ("body", "query", "path", "header", "cookie")
        else list(loc)
    )
    if not parts or isinstance(parts[0], int):
        # A JSON syntax error is located by character offset, not by field.
        return str(loc[0]) if loc else "body"
    text = str(parts[0])
    for part in parts[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors():
        field = field_of(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        elif error.get("type") == "json_invalid":
            message = f"malformed JSON: {error.get('ctx', {}).get('error', 'cannot be parsed')}"
        errors.append(
            FieldError(field=field, message=message, type=str(error.get("type", "invalid")))
        )
    return errors


CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


# Temporal's refusal once an execution has taken its most updates ("The limit on the total number
# of distinct updates ... has been reached", older servers: "maximum ... updates").
UPDATE_LIMIT = re.compile(r"\blimit\b.*\bupdates?\b|\bmaximum\b.*\bupdates?\b", re.I | re.S)
# The incident continues as new before the limit; a retry shortly after lands in the new run.
UPDATE_LIMIT_RETRY_AFTER = 5


def temporal_refusal(exc: RPCError, *, reading: bool = False) -> ApiError | None:
    """A workflow that cannot take input (its task failing, over a limit) answers
    FAILED_PRECONDITION: the incident's state, not the request, is at fault, so 409, or 503 with
    Retry-After when the update limit says the incident will take input again after it rolls
    over. None for every other status."""
    if exc.status is not RPCStatusCode.FAILED_PRECONDITION:
        return None
    if not reading and UPDATE_LIMIT.search(exc.message):
        return ApiError(
            503,
            "unavailable",
            f"the incident cannot take more input now; retry in {UPDATE_LIMIT_RETRY_AFTER} s "
            f"with the same Idempotency-Key: {exc.message}",
            headers={"Retry-After": str(UPDATE_LIMIT_RETRY_AFTER)},
        )
    doing = "answer" if reading else "take input"
    return ApiError(409, "conflict", f"the incident cannot {doing}: {exc.message}")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        headers.update(exc.headers or {})
        return error_response(exc.status, exc.code, exc.message, exc.field, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = (
            errors[0]
            if errors
            else FieldError(field="body", message="invalid request", type="invalid")
        )
        return error_response(
            422, "invalid", f"{first.field}: {first.message}", first.field, errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(
            exc.status_code,
            CODES.get(exc.status_code, "error"),
            message,
            getattr(exc, "field", None),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RPCError)
    async def _temporal(request: Request, exc: RPCError) -> JSONResponse:
        log.warning(
            "api.temporal_error", path=request.url.path, status=exc.status.name, error=exc.message
        )
        refused = temporal_refusal(exc, reading=request.method in ("GET", "HEAD"))
        if refused is not None:
            return error_response(
                refused.status, refused.code, refused.message, headers=refused.headers
            )
        if exc.status in (
            RPCStatusCode.UNAVAILABLE,
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.RESOURCE_EXHAUSTED,
            # An update cut off as its worker died: nothing was decided, a retry is safe.
            RPCStatusCode.CANCELLED,
        ):
            return error_response(
                503,
                "unavailable",
                "Temporal is unavailable or busy; retry the request",
                headers={"Retry-After": "1"},
            )
        return error_response(500, "internal", "unexpected Temporal error; see the server log")

    async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
        # The database is down or restarting: a retry will do, as for Temporal above.
        log.warning(
            "api.database_unreachable", path=request.url.path, error=f"{type(exc).__name__}: {exc}"
        )
        return error_response(503, "unavailable", "the database is unavailable; retry the request")

    # asyncpg raises plain connection errors while connecting; SQLAlchemy wraps the others.
    for unreachable in (ConnectionError, TimeoutError, OperationalError, InterfaceError):
        app.add_exception_handler(unreachable, _database_unreachable)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await _database_unreachable(request, exc)
        log.exception("api.database_error", path=request.url.path)
        return error_response(500, "internal", "unexpected database error; see the server log")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unexpected_error", path=request.url.path)
        return error_response(500, "internal", "unexpected error; see the server log")


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body streams in: FastAPI re-raises HTTP exceptions from its body reader,
    so the handler answers with the 413."""

    field = "body"

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with a 413, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await error_response(
                    400, "bad_request", "Content-Length: not a number", "Content-Length"
                )(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"body: larger than {self.max_bytes // 1024} KiB"

    def _too_large(self) -> JSONResponse:
        return error_response(413, "body_too_large", self._message(), "body")


DESCRIPTIONS = {
    400: "Malformed request",
    401: "No token, or an unknown or revoked one",
    403: "The token's role may not do this",
    404: "No such resource",
    408: "The body did not arrive in time",
    409: "Refused because of the current state (e.g. the incident has ended)",
    413: "Body larger than 64 KiB",
    422: "Invalid input; `field` names the problem",
    429: "Too many requests from this token; retry after Retry-After seconds",
    503: "Temporal or the database is unavailable",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the errors an operation can answer with."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses
    }
