"""`POST /v1/auth/token` (a partner's client credentials) and `POST /v1/auth/staff-token` (a staff member's
username and password) → a bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api import staff_sign_in
from api.auth import authenticate_client, issue_token, unauthorized
from api.limits import LimitedRoute, enforce_sign_in_limit
from api.schemas import ErrorResponse, StaffTokenRequest, TokenRequest, TokenResponse

router = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=LimitedRoute)
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 429, 503)}


def _token_response(request: Request, principal) -> JSONResponse:
    access_token, expires_in = issue_token(request.app.state.settings, principal)
    return JSONResponse({"access_token": access_token, "token_type": "bearer", "expires_in": expires_in},
                        headers={"Cache-Control": "no-store"})


@router.post("/token", summary="Exchange client credentials for a bearer token", response_model=TokenResponse,
             responses=ERRORS)
async def token(body: TokenRequest, request: Request) -> JSONResponse:
    # Guessing secrets is rate limited per source address and per client id (scrypt makes each guess slow too).
    await enforce_sign_in_limit(request, body.client_id)
    principal = await authenticate_client(request.app.state.pg, body.client_id, body.client_secret)
    return _token_response(request, principal)


@router.post("/staff-token", summary="Exchange a staff member's username and password for an admin API token",
             response_model=TokenResponse, responses=ERRORS)
async def staff_token(body: StaffTokenRequest, request: Request) -> JSONResponse:
    try:
        found = await staff_sign_in.sign_in(request, body.username, body.password)
    except staff_sign_in.SignInThrottled as error:
        raise staff_sign_in.throttled(error) from None
    if found is None:
        raise unauthorized("invalid username or password")
    return _token_response(request, staff_sign_in.principal(found))
