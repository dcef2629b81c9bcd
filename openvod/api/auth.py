"""Bearer-token authentication and account scoping of the management API.

Every management route depends on :func:`require_token`. It answers 401 for a
missing, unknown, expired or revoked token and 403 ``AuthorizationFailed``
when a token scoped to some accounts addresses another one (any route with an
``{account_name}`` path parameter, including creating an account). Routes
that list accounts take the :class:`~openvod.services.tokens.Grant` it returns
(FastAPI caches it per request) and show only the accounts it allows.
"""

from __future__ import annotations

from fastapi import Request

from openvod.context import Context
from openvod.errors import AuthenticationError, AuthorizationError
from openvod.services import tokens
from openvod.services.tokens import Grant


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "The request needs an 'Authorization: Bearer <token>' header; create a token with "
            "'openvod token create'.",
            code="AuthenticationFailed",
        )
    return token.strip()


def _check_scope(grant: Grant, request: Request) -> None:
    account_name = request.path_params.get("account_name")
    if account_name is None or grant.allows(account_name):
        return
    raise AuthorizationError(
        f"The token {grant.public_id} does not have authorization to use the media services "
        f"account '{account_name}'; it is scoped to: {', '.join(sorted(grant.accounts or ()))}."
    )


def require_token(request: Request) -> Grant:
    """Authenticate the request's bearer token and check it may address the path's account."""
    token = _bearer(request)
    # Read from app state rather than depending on api.deps, which re-exports this.
    ctx: Context = request.app.state.ctx
    with ctx.session() as session:  # committed: authenticate may record last use
        grant = tokens.authenticate(session, token)
    _check_scope(grant, request)
    return grant
