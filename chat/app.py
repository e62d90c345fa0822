"""The ASGI application: REST routes, health, metrics, lifespan (Starlette)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.auth import AuthError, bearer_token, issue_token, issuer_secret_ok
from chat.config import Settings
from chat.db import DatabaseUnavailable
from chat.logs import request_id
from chat.metrics import CONTENT_TYPE_LATEST
from chat.service import ChatService, SendRefused
from chat.validation import Invalid, SendRequest, TokenRequest, check_room, parse
from chat.ws import websocket_endpoint

__all__ = ["create_app"]

log = logging.getLogger(__name__)
MAX_HISTORY = 1000
_INTEGER = re.compile(r"[0-9]{1,19}")


def create_app(settings: Settings) -> Starlette:
    """A Starlette app for one replica; background tasks start and stop with its lifespan."""
    service = ChatService.create(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.db.open()
        tasks = [
            asyncio.create_task(service.db.keep_schema(), name="schema"),
            asyncio.create_task(service.db.probe.watch(), name="db-probe"),
            asyncio.create_task(service.fanout.run(), name="fanout"),
        ]
        if service.rebalancer is not None:
            service.rebalancer.is_draining = lambda: bool(app.state.draining)
            tasks.append(asyncio.create_task(service.rebalancer.run(), name="rebalance"))
        log.info("chat replica %s started (release %s)", settings.replica, settings.release)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await service.fanout.close()
            if service.rebalancer is not None:
                await service.rebalancer.close()
            await service.db.close()

    routes = [
        Route("/auth/token", _issue, methods=["POST"]),
        Route("/rooms/{room}/messages", _post_message, methods=["POST"]),
        Route("/rooms/{room}/messages", _get_messages, methods=["GET"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
        WebSocketRoute("/ws", websocket_endpoint),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={Exception: _internal_error})
    app.state.service = service
    app.state.draining = False  # set on SIGTERM (chat.shutdown): /readyz answers 503 from then on
    app.add_middleware(RequestContext, service=service)
    return app


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Unexpected errors: a JSON 500 (the traceback goes to the log with the request id)."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error")


def _service(request: Request) -> ChatService:
    service: ChatService = request.app.state.service
    return service


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _json_body(request: Request, limit: int) -> Any:
    """The JSON body, refusing more than ``limit`` bytes (413) and non-JSON (422)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Invalid(413, f"request body of {declared} bytes is more than the limit of {limit} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise Invalid(413, f"request body is more than the limit of {limit} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder's stack (a 500)
        raise Invalid(422, "request body must be JSON") from None


def _user(request: Request) -> str:
    return _service(request).user_of(bearer_token(request.headers))


async def _issue(request: Request) -> Response:
    settings = _service(request).settings
    if not settings.token_issuer:
        return _error(404, "the development token issuer is switched off (CHAT_TOKEN_ISSUER=0)")
    if not issuer_secret_ok(settings.issuer_secret, request.headers.get("x-issuer-secret")):
        return _error(403, "wrong or missing X-Issuer-Secret")
    try:
        req = parse(TokenRequest, await _json_body(request, 4096))
    except Invalid as exc:
        return _error(exc.status, str(exc))
    token, expires = issue_token(
        settings.jwt_secret, req.user, req.ttl_s, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    return JSONResponse({"token": token, "expires_at": expires})


async def _post_message(request: Request) -> Response:
    service = _service(request)
    try:
        user = _user(request)
    except AuthError as exc:
        return _error(401, str(exc), {"WWW-Authenticate": "Bearer"})
    room = request.path_params["room"]
    try:
        req = parse(SendRequest, await _json_body(request, 4 * service.settings.max_body_bytes + 1024))
        result = await service.send(room=room, user=user, client_id=req.client_id, body=req.body, transport="rest")
    except Invalid as exc:
        service.metrics.send_rejected.labels(transport="rest", status=str(exc.status)).inc()
        return _error(exc.status, str(exc))
    except SendRefused as exc:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after is not None else None
        return _error(exc.status, str(exc), headers)
    return JSONResponse(result.message.to_json(), status_code=201 if result.created else 200)


async def _get_messages(request: Request) -> Response:
    service = _service(request)
    try:
        _user(request)
    except AuthError as exc:
        return _error(401, str(exc), {"WWW-Authenticate": "Bearer"})
    room = request.path_params["room"]
    try:
        check_room(room)
        after = _int_param(request, "after", 0, 0, 2**63 - 1)
        limit = _int_param(request, "limit", 100, 1, MAX_HISTORY)
        messages = await service.db.history(room, after, limit)
    except Invalid as exc:
        return _error(exc.status, str(exc))
    except DatabaseUnavailable as exc:
        return _error(503, str(exc), {"Retry-After": "1"})
    return JSONResponse({"messages": [m.to_json() for m in messages]})


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw):
        raise Invalid(422, f"{name}: expected an integer of at most 19 digits, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise Invalid(422, f"{name}: must be between {low} and {high}, got {value}")
    return value


async def _healthz(request: Request) -> Response:
    s = _service(request).settings
    return JSONResponse({"status": "ok", "release": s.release, "replica": s.replica})


async def _readyz(request: Request) -> Response:
    service = _service(request)
    ready, unreachable = await service.readiness()
    body: dict[str, Any] = {
        "status": "ready" if not unreachable else "degraded",
        "unreachable": unreachable,
        "release": service.settings.release,
        "replica": service.settings.replica,
    }
    if request.app.state.draining:
        ready = False
        body["reason"] = "shutting down: draining"
    elif service.settings.release == "bad-readiness":
        ready = False
        body["reason"] = "release bad-readiness fails readiness on purpose"
    if not ready:
        body["status"] = "unready"
    elif service.rebalancer is not None:
        service.rebalancer.ready_seen()
    return JSONResponse(body, status_code=200 if ready else 503)


async def _metrics(request: Request) -> Response:
    service = _service(request)
    service.metrics.ws_connections.set(service.hub.connections())
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def route_label(path: str) -> str:
    """A low-cardinality route name for metrics."""
    if path.startswith("/rooms/"):
        return "/rooms/{room}/messages"
    if path in ("/auth/token", "/healthz", "/readyz", "/metrics", "/ws"):
        return path
    return "other"


class RequestContext:
    """Pure ASGI middleware: request id (X-Request-ID in and out), latency histogram, access log."""

    def __init__(self, app: ASGIApp, service: ChatService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        token = request_id.set(rid)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                request_id.reset(token)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope["path"])
            self.service.metrics.request_latency.labels(scope["method"], route, str(status)).observe(elapsed)
            if route not in ("/healthz", "/readyz", "/metrics") or status >= 500:
                log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed * 1000)
            request_id.reset(token)
