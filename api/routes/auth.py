"""`POST /v1/auth/token`: client credentials → a bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import authenticate_client, issue_token
from api.limits import LimitedRoute, enforce_sign_in_limit
from api.schemas import ErrorResponse, TokenRequest, TokenResponse

router = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=LimitedRoute)


@router.post(
    "/token", summary="Exchange client credentials for a bearer token", response_model=TokenResponse,
    responses={code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 429, 503)},
)
async def token(body: TokenRequest, request: Request) -> JSONResponse:
    # Guessing secrets is rate limited per source address and per client id (scrypt makes each guess slow too).
    await enforce_sign_in_limit(request, body.client_id)
    principal = await authenticate_client(request.app.state.pg, body.client_id, body.client_secret)
    access_token, expires_in = issue_token(request.app.state.settings, principal)
    return JSONResponse({"access_token": access_token, "token_type": "bearer", "expires_in": expires_in},
                        headers={"Cache-Control": "no-store"})
