"""Who is calling: every request to the agents' API is made by one account, known from its own
credential and nothing the client says about itself.

- ``Authorization: Bearer ldk_...``: a personal API token (CLI, scripts). Never in a URL: a
  request with a credential in its query string is refused, since URLs end up in logs,
  browser history and proxies.
- The ``lingodesk_session`` cookie, set by ``POST /login``: HttpOnly (no script reads it),
  SameSite=Strict, Secure outside local development, expiring with the session; the server
  keeps the session (bot/agent/accounts.py), so logout and an admin end it at once. A state
  change carried by the cookie must come from the console's own origin (the Origin header, or
  one of ``LINGODESK_AGENT_ORIGINS``): a cross-site form or script cannot act as the agent.

Failed logins are counted per account name and per client address; from the `MAX_FAILURES`-th
in the window on, logins from either answer 429 with Retry-After, whether or not the password
is right. The guesser is not told whether the account exists or is locked; its admin sees the
lock in ``lingodesk agents list`` and lifts it with ``lingodesk agents unlock``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.agent.accounts import NAME, Account, address_key, name_key
from bot.agent.context import Desk, desk_of
from bot.agent.errors import AuthenticationError, CrossSiteError, ThrottledError, json_body

COOKIE = "lingodesk_session"
PUBLIC_ROUTES = frozenset({("GET", "/health"), ("POST", "/login")})
CONSOLE_PREFIX = "/console/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Query parameters that look like a credential: refused, never read.
CREDENTIAL_PARAMETERS = frozenset({"token", "access_token", "api_key", "key", "session", COOKIE})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ACCOUNT = "account"  # request[ACCOUNT]: the caller's Account


def client_address(request: web.Request) -> str:
    """The peer's address. Proxy headers are client-chosen, so they are not read."""
    return request.remote or "unknown"


def account_of(request: web.Request) -> Account:
    return request[ACCOUNT]


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <your API token>'")
    return token.strip()


def _check_origin(request: web.Request, desk: Desk) -> None:
    origin = request.headers.get("Origin")
    own = f"{request.scheme}://{request.host}"
    if origin is None or (origin != own and origin not in desk.origins):
        raise CrossSiteError("refused: a change with the session cookie must come from the console")


def _console_file(request: web.Request) -> bool:
    """The console's own page, script and styles: public (they hold no data)."""
    return request.method in ("GET", "HEAD") and (
        request.path in ("/", "/favicon.ico") or request.path.startswith(CONSOLE_PREFIX)
    )


async def current_account(request: web.Request, token: str | None = None) -> Account | None:
    """The account the request's credential belongs to right now (None once it was revoked,
    logged out or expired): the bearer token if there is one, else the session cookie."""
    desk = desk_of(request)
    token = token or _bearer(request)
    if token is not None:
        return await desk.accounts.account_for_token(token)
    cookie = request.cookies.get(COOKIE)
    return await desk.accounts.account_for_session(cookie) if cookie else None


@web.middleware
async def identify(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the caller's account in ``request[ACCOUNT]``, or refuse the request."""
    if CREDENTIAL_PARAMETERS & set(request.query):
        raise AuthenticationError(
            "credentials go in the Authorization header or the session cookie, never in a URL"
        )
    desk = desk_of(request)
    if (request.method, request.path) in PUBLIC_ROUTES or _console_file(request):
        if request.method in UNSAFE_METHODS and "Origin" in request.headers:
            _check_origin(request, desk)  # no logging a victim in from another site
        return await handler(request)
    token = _bearer(request)
    if token is None:  # the console's cookie
        if not request.cookies.get(COOKIE):
            raise AuthenticationError("sign in: an API token (Authorization: Bearer) or /login")
        if request.method in UNSAFE_METHODS:
            _check_origin(request, desk)
    account = await current_account(request, token)
    if account is None:
        raise AuthenticationError("the credential is unknown, expired or revoked")
    request[ACCOUNT] = account
    return await handler(request)


async def login(request: web.Request) -> web.Response:
    """``{"name", "password"}`` -> the session cookie and the account."""
    desk = desk_of(request)
    body = await json_body(request)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise AuthenticationError('log in with {"name": "...", "password": "..."}')
    address = client_address(request)
    throttled = (name_key(name[:64]), address_key(address))
    if wait := await desk.accounts.locked_for(*throttled):
        raise ThrottledError(wait)
    account = await desk.accounts.check_password(name, password)
    if account is None:
        await desk.accounts.record_failure(*throttled)
        await desk.audit.record(_loggable(name), "login_failed", address=address)
        raise AuthenticationError("wrong name or password")
    await desk.accounts.clear_failures(name_key(name))
    session = await desk.accounts.start_session(account.name)
    await desk.audit.record(account.name, "login", address=address)
    response = web.json_response({"account": account.to_dict()})
    response.set_cookie(
        COOKIE,
        session,
        max_age=int(desk.accounts.session_seconds),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=desk.secure_cookies,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """End this session (a token caller: nothing to end) and clear the cookie."""
    desk = desk_of(request)
    if cookie := request.cookies.get(COOKIE):
        await desk.accounts.end_session(cookie)
    await desk.audit.record(account_of(request).name, "logout", address=client_address(request))
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


def _loggable(name: str) -> str:
    """A tried name as the audit log keeps it: only when it could be an account name (someone
    typing their password into the name field must not leave it in the log)."""
    return name if NAME.match(name) else "(not an account name)"
