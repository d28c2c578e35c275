"""The route classes every router uses: authentication before anything else, and no query
parameter the route does not know.

FastAPI reads the body, validates the path and query and runs the dependencies (an incident's
lookup among them) in an order of its own; these checks run first, in the route itself, so a
caller without a valid token learns nothing about the request (that an incident exists, in which
world) and a misspelt filter never silently lists everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.auth import authenticate_request
from api.errors import FieldError, error_response


def declared_query(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route and its dependencies declare, a parameter model's included."""
    names: set[str] = set()
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {f.alias or name for name, f in annotation.model_fields.items()}
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= declared_query(sub)
    return frozenset(names)


def unknown_query(request: Request, known: frozenset[str]) -> Response | None:
    """A 422 naming the first parameter the route does not know (decoded, as the server reads
    it), or None."""
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if not unknown:
        return None
    errors = [
        FieldError(field=name, message="unknown query parameter", type="extra_forbidden")
        for name in unknown
    ]
    return error_response(
        422, "invalid", f"{unknown[0]}: unknown query parameter", unknown[0], errors
    )


class StrictRoute(APIRoute):
    """Refuses a query parameter the route does not declare with a 422 naming it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = declared_query(self.dependant)

        async def strict(request: Request) -> Response:
            return unknown_query(request, known) or await handler(request)

        return strict


def authenticated_first(
    authenticate: Callable[[Request], Awaitable[object]],
    *,
    open_paths: frozenset[str] = frozenset(),
) -> type[APIRoute]:
    """A strict route class that authenticates with ``authenticate`` before anything else
    (``open_paths`` excepted): without a valid token every route answers 401.

    Only a body over the size limit is refused earlier (413, by the middleware)."""

    class AuthenticatedFirst(StrictRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            if self.path in open_paths:
                return handler

            async def authenticated(request: Request) -> Response:
                await authenticate(request)
                return await handler(request)

            return authenticated

    return AuthenticatedFirst


# The /v1 routers' route class: a bearer token first.
AuthenticatedRoute = authenticated_first(authenticate_request)
