"""Fixtures of the web-session tests: a Starlette app over the test's store, clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import unistore
from unistore.integrations.starlette import SessionMiddleware

BASE_URL = "https://testserver"


class Gate:
    """Holds requests until ``parties`` of them have loaded their session."""

    def __init__(self) -> None:
        self.parties = 0
        self.waiting = 0
        self.event = asyncio.Event()

    async def wait(self) -> None:
        if not self.parties:
            return
        self.waiting += 1
        if self.waiting >= self.parties:
            self.event.set()
        await asyncio.wait_for(self.event.wait(), 5)


def session_routes(gate: Gate) -> list[Any]:
    async def get(request: Request) -> JSONResponse:
        return JSONResponse({"value": request.session.get(request.path_params["key"])})

    async def put(request: Request) -> JSONResponse:
        request.session[request.path_params["key"]] = await request.json()
        await gate.wait()
        # Lets a test order the writes of concurrent requests.
        await asyncio.sleep(float(request.query_params.get("linger", 0)))
        return JSONResponse({"ok": True})

    async def remove(request: Request) -> JSONResponse:
        request.session.pop(request.path_params["key"], None)
        return JSONResponse({"ok": True})

    async def dump(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    async def noop(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def regenerate(request: Request) -> JSONResponse:
        await request.session.regenerate()
        return JSONResponse({"ok": True})

    async def clear(request: Request) -> JSONResponse:
        request.session.clear()
        return JSONResponse({"ok": True})

    async def count(request: Request) -> JSONResponse:
        return JSONResponse({"hits": await request.session.namespace.incr("hits")})

    async def count_then_regenerate(request: Request) -> JSONResponse:
        hits = await request.session.namespace.incr("hits")
        await request.session.regenerate()
        return JSONResponse({"hits": hits})

    async def save_then_fail(request: Request) -> JSONResponse:
        request.session["saved"] = True
        await request.session.save()
        request.session["lost"] = True
        raise RuntimeError("the handler failed after saving")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(dict(websocket.session))
        websocket.session["from-socket"] = await websocket.receive_json()
        await websocket.session.save()
        await websocket.send_json("saved")
        await websocket.close()

    async def info(request: Request) -> JSONResponse:
        ns = request.session.namespace
        return JSONResponse({"new": request.session.is_new, "slots": await ns.slots()})

    return [
        Route("/s/{key}", get, methods=["GET"]),
        Route("/s/{key}", put, methods=["PUT"]),
        Route("/s/{key}", remove, methods=["DELETE"]),
        Route("/dump", dump),
        Route("/noop", noop),
        Route("/regenerate", regenerate, methods=["POST"]),
        Route("/clear", clear, methods=["POST"]),
        Route("/count", count, methods=["POST"]),
        Route("/count-then-regenerate", count_then_regenerate, methods=["POST"]),
        Route("/info", info),
        Route("/save-then-fail", save_then_fail, methods=["POST"]),
        WebSocketRoute("/socket", socket),
    ]


MakeApp = Callable[..., Starlette]


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def web_routes(gate: Gate) -> list[Any]:
    """The routes of the test app (see :func:`session_routes`)."""
    return session_routes(gate)


@pytest.fixture
def make_app(store: unistore.Store, web_routes: list[Any]) -> MakeApp:
    """Build the test app over the test's store; keyword arguments go to the middleware."""

    def make(**options: Any) -> Starlette:
        options.setdefault("ttl", 600)
        return Starlette(
            routes=web_routes,
            middleware=[Middleware(SessionMiddleware, store, **options)],
        )

    return make


@pytest.fixture
async def client(make_app: MakeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()), base_url=BASE_URL
    ) as http:
        yield http
