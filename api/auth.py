"""Bearer-token authentication and the role matrix.

observer      read
reporter      read, report violations, add evidence
operator      read, report violations, add evidence, decide
ally:<party>  read, commit or decline for <party> only
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.context import ApiContext, get_context
from api.errors import ApiError
from db.tokens import Principal, authenticate


class Permission(StrEnum):
    READ = "read"
    REPORT = "report"
    EVIDENCE = "evidence"
    COMMIT = "commit"
    DECIDE = "decide"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "observer": frozenset({Permission.READ}),
    "reporter": frozenset({Permission.READ, Permission.REPORT, Permission.EVIDENCE}),
    "operator": frozenset(
        {Permission.READ, Permission.REPORT, Permission.EVIDENCE, Permission.DECIDE}
    ),
    "ally": frozenset({Permission.READ, Permission.COMMIT}),
}

# auto_error=False: a missing token is answered by our 401 JSON, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="An API token from `contingency tokens add`")


def permissions_of(principal: Principal) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get("ally" if principal.party else principal.role, frozenset())


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    context: Annotated[ApiContext, Depends(get_context)],
) -> Principal:
    """The request's principal: already known when the route authenticated first."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is None:
        known = request.state.principal = await _principal(credentials, context)
    return known


async def authenticate_request(request: Request) -> Principal:
    return await current_principal(request, await bearer(request), get_context(request))


async def _principal(
    credentials: HTTPAuthorizationCredentials | None, context: ApiContext
) -> Principal:
    if credentials is None:
        raise ApiError(
            401, "unauthenticated", "Authorization: a bearer token is required", "Authorization"
        )
    principal = await authenticate(context.transactions, credentials.credentials)
    if principal is None:
        raise ApiError(
            401, "unauthenticated", "Authorization: unknown or revoked token", "Authorization"
        )
    return principal


def require(permission: Permission):  # a FastAPI dependency
    async def _check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if permission not in permissions_of(principal):
            raise ApiError(
                403,
                "forbidden",
                f"Authorization: role {principal.role} may not {permission}",
                "Authorization",
            )
        return principal

    return _check
