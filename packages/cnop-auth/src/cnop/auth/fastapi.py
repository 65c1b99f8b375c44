"""FastAPI dependencies: the current :class:`UserContext` and role checks.

Needs the ``fastapi`` extra; nothing else in ``cnop.auth`` imports FastAPI.

>>> from fastapi import Depends, FastAPI
>>> from cnop.auth import TokenManager, UserContext
>>> from cnop.auth.fastapi import FastAPIAuth, add_problem_handler
>>> app = FastAPI()
>>> add_problem_handler(app)                       # CNOP errors -> problem+json
>>> auth = FastAPIAuth(tokens=TokenManager.from_env())
>>> @app.get("/me")
... def me(user: UserContext = Depends(auth.current_user)) -> UserContext:
...     return user
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime,
# and the role dependency's annotation refers to a local name.

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

try:
    from fastapi import Depends, FastAPI, HTTPException, Request, Response
    from fastapi.responses import JSONResponse
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
except ImportError as exc:  # the fastapi extra is not installed
    raise ImportError("cnop.auth.fastapi needs FastAPI: pip install 'cnop-auth[fastapi]'") from exc

from cnop.auth.context import REQUEST_ID_HEADER, SIGNATURE_HEADER, UserContext, valid_request_id
from cnop.auth.gateway import GatewaySigner
from cnop.auth.identity import require_role_value
from cnop.auth.roles import require_role
from cnop.auth.tokens import TokenManager
from cnop.exceptions import (
    PROBLEM_CONTENT_TYPE,
    CNOPAuthenticationException,
    CNOPClientException,
    CNOPConfigurationException,
    CNOPException,
    UserRole,
    to_problem,
)

# auto_error=False: a missing header is ours to report (as a problem document), and the
# scheme still appears in the OpenAPI document.
_bearer = HTTPBearer(auto_error=False, description="An access token from the auth service")


class FastAPIAuth:
    """Dependencies that authenticate a request by bearer token and/or gateway signature.

    With ``gateway`` set, a request carrying ``X-Gateway-Signature`` is authenticated by
    its signed headers; otherwise, with ``tokens`` set, by ``Authorization: Bearer``.

    ``errors`` chooses how a refusal (401, 403, a failing revocation store) is answered:
    ``"problem"`` (default) raises the ``CNOPException``, rendered as problem+json by
    :func:`add_problem_handler`; ``"detail"`` raises FastAPI's ``HTTPException``, answered
    as ``{"detail": "<message>"}`` like the original CNOP services (no handler needed;
    a 5xx shows a generic message, never its internal details).
    """

    def __init__(
        self,
        *,
        tokens: TokenManager | None = None,
        gateway: GatewaySigner | None = None,
        errors: Literal["problem", "detail"] = "problem",
    ) -> None:
        if tokens is None and gateway is None:
            raise CNOPConfigurationException(
                "FastAPIAuth needs a TokenManager, a GatewaySigner or both"
            )
        if errors not in ERROR_STYLES:
            raise CNOPConfigurationException(
                f"errors must be one of {', '.join(map(repr, ERROR_STYLES))}"
            )
        self._tokens = tokens
        self._gateway = gateway
        self._errors = errors

    async def current_user(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> UserContext:
        """The authenticated caller; 401 (problem document or ``detail``) when there is none."""
        try:
            return await self._authenticate(request, credentials)
        except CNOPException as exc:
            raise self._answer(exc) from None

    def _answer(self, exc: CNOPException) -> Exception:
        """What the dependency raises for ``exc`` in the chosen error style."""
        if self._errors == "problem":
            return exc
        return as_http_exception(exc)

    async def _authenticate(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None
    ) -> UserContext:
        headers = request.headers
        if self._gateway is not None and SIGNATURE_HEADER in headers:
            context = await self._gateway.authenticate_async(
                headers,
                method=request.method,
                target=request_target(request),
                body=await request.body(),
            )
            if not context.authenticated:
                raise CNOPAuthenticationException("Authentication is required")
            return context
        if self._tokens is not None and credentials is not None:
            # The async path: a shared revocation store is awaited, never blocks the loop.
            claims = await self._tokens.verify_access_token_async(credentials.credentials)
            return UserContext(
                authenticated=True,
                user_id=claims.sub,
                role=claims.role,
                request_id=valid_request_id(headers.get(REQUEST_ID_HEADER)),
                source="bearer",
                auth_service=claims.iss,
            )
        raise CNOPAuthenticationException("Authentication is required")

    def require_role(self, role: UserRole | str) -> Callable[..., Awaitable[UserContext]]:
        """A dependency yielding the caller if they hold ``role`` (admin implies customer)."""
        wanted = require_role_value(role)

        async def dependency(
            user: Annotated[UserContext, Depends(self.current_user)],
        ) -> UserContext:
            try:
                return require_role(user, wanted)
            except CNOPException as exc:
                raise self._answer(exc) from None

        return dependency


#: The error styles of :class:`FastAPIAuth`.
ERROR_STYLES = ("problem", "detail")


def as_http_exception(exc: CNOPException) -> HTTPException:
    """``exc`` as FastAPI's ``HTTPException``: ``{"detail": message}`` with its status.

    A client error (4xx) shows its message; an internal one only a generic sentence.
    A 401 carries ``WWW-Authenticate: Bearer``.
    """
    status = exc.status_code
    detail = exc.message if isinstance(exc, CNOPClientException) else _GENERIC.get(status, _ERROR)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status_code=status, detail=detail, headers=headers)


_ERROR = "Internal server error"
_GENERIC = {503: "Service temporarily unavailable"}


def request_target(request: Request) -> str:
    """The path and query exactly as received (percent-encoding untouched), as signed."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


JWKS_PATH = "/.well-known/jwks.json"
JWKS_MEDIA_TYPE = "application/jwk-set+json"


def add_jwks_route(
    app: FastAPI, tokens: TokenManager, *, path: str = JWKS_PATH, max_age: int = 300
) -> None:
    """Serve the issuer's public keys (``tokens.jwks()``) at ``path`` for verifying services.

    The set includes retired keys that still verify, so a token signed before a rotation
    keeps verifying elsewhere until it expires. ``max_age`` (seconds) is sent as
    ``Cache-Control``; keep it at or below the clients' TTL.
    """
    if not isinstance(tokens, TokenManager):
        raise CNOPConfigurationException("add_jwks_route needs the issuing TokenManager")
    if isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= 86400:
        raise CNOPConfigurationException("max_age must be 0-86400 seconds")
    document = tokens.jwks()  # checked now: an HMAC-only issuer has no public keys
    if not document["keys"]:
        raise CNOPConfigurationException(
            "This TokenManager has no RS*/ES* keys: there is nothing to publish"
        )

    async def jwks() -> Response:
        return JSONResponse(
            tokens.jwks(),
            media_type=JWKS_MEDIA_TYPE,
            headers={"Cache-Control": f"public, max-age={max_age}"},
        )

    app.add_api_route(path, jwks, methods=["GET"], include_in_schema=False)


def add_problem_handler(app: FastAPI) -> None:
    """Render every ``CNOPException`` as an RFC 9457 problem document with its status."""
    app.add_exception_handler(CNOPException, _problem_response)  # type: ignore[arg-type]


async def _problem_response(request: Request, exc: CNOPException) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(
        to_problem(
            exc,
            request_id=valid_request_id(request.headers.get(REQUEST_ID_HEADER)),
            instance=request.url.path,
        ),
        status_code=exc.status_code,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
