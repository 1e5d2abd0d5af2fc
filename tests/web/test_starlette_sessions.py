"""The Starlette session middleware on every driver: ids, lifecycle, per-key writes."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

import unistore
from unistore import NamespacedStore, ValidationError
from unistore.integrations.starlette import SessionMiddleware

BASE_URL = "https://testserver"
MakeApp = Callable[..., Starlette]


def cookie_of(response: httpx.Response) -> str | None:
    return response.headers.get("set-cookie")


def ns_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_untouched_requests_get_no_cookie_and_store_nothing(
    client: httpx.AsyncClient, store_url: str
) -> None:
    for path in ("/noop", "/s/anything", "/dump"):
        response = await client.get(path)
        assert response.status_code == 200
        assert cookie_of(response) is None
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
            tables = {row[0] for row in db.execute("select name from sqlite_master")}
            if "unistore_slots" in tables:  # made on the first write
                assert db.execute("select count(*) from unistore_slots").fetchone() == (0,)


async def test_values_round_trip_and_cookie_carries_only_a_random_id(
    client: httpx.AsyncClient, store: unistore.Store
) -> None:
    value = {"items": [1, 2.5, "three", None, True], "nested": {"k": "v"}}
    response = await client.put("/s/cart", json=value)
    header = cookie_of(response)
    assert header is not None
    token = client.cookies["session"]
    assert len(token) == 43
    assert "cart" not in header
    assert "items" not in header
    assert (await client.get("/s/cart")).json() == {"value": value}
    # The store knows the session by a digest of the id, never the id itself.
    data = NamespacedStore(store, prefix="session", default_ttl=60)
    assert await data.namespace(ns_id(token)).slots() == ["~session"]
    assert await data.namespace(token).slots() == []


async def test_cookie_flags_default_and_configured(make_app: MakeApp) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(ttl=120)), base_url=BASE_URL
    ) as http:
        header = cookie_of(await http.put("/s/a", json=1))
    assert header is not None
    parts = {p.strip().split("=")[0].lower() for p in header.split(";")}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= parts
    assert "SameSite=Lax" in header
    assert "Max-Age=120" in header
    assert "Path=/" in header
    app = make_app(
        secure=False, same_site="strict", cookie_name="sid", path="/app", domain="example.org"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://example.org"
    ) as http:
        header = cookie_of(await http.put("/s/a", json=1))
    assert header is not None
    assert header.startswith("sid=")
    assert "Secure" not in header
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    assert "Path=/app" in header
    assert "Domain=example.org" in header


FORGED = [
    "A" * 43,  # the right shape, but no such session
    "x",
    "*",
    "../" * 20,
    "{a}:b",
    "%00" * 10,
    "a" * 10_000,
]


async def test_forged_or_unknown_ids_get_a_fresh_session(client: httpx.AsyncClient) -> None:
    await client.put("/s/secret", json="alice's")
    alice = client.cookies["session"]
    for forged in FORGED:
        mallory = {"cookie": f"session={forged}"}
        response = await client.get("/dump", headers=mallory)
        assert response.status_code == 200
        assert response.json() == {}
        assert cookie_of(response) is None  # not even a delete: nothing to do yet
        response = await client.put("/s/mine", json=1, headers=mallory)
        header = cookie_of(response)
        assert header is not None
        fresh = header.split(";")[0].removeprefix("session=")
        assert fresh not in (forged, alice)
        own = {"cookie": f"session={fresh}"}
        assert (await client.get("/dump", headers=own)).json() == {"mine": 1}
    client.cookies.clear()
    client.cookies["session"] = alice
    assert (await client.get("/dump")).json() == {"secret": "alice's"}


async def test_the_store_side_id_is_not_a_cookie(client: httpx.AsyncClient) -> None:
    await client.put("/s/secret", json=1)
    digest = ns_id(client.cookies["session"])
    other = {"cookie": f"session={digest}"}
    assert (await client.get("/dump", headers=other)).json() == {}


async def test_expired_session_is_fresh(make_app: MakeApp) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(ttl=0.6)), base_url=BASE_URL
    ) as http:
        await http.put("/s/a", json=1)
        old = http.cookies["session"]
        await asyncio.sleep(0.8)
        assert (await http.get("/dump")).json() == {}
        await http.put("/s/b", json=2)
        assert http.cookies["session"] != old
        assert (await http.get("/dump")).json() == {"b": 2}


async def test_regenerate_keeps_data_and_kills_the_old_id(
    client: httpx.AsyncClient, store: unistore.Store
) -> None:
    await client.put("/s/user", json="ada")
    await client.post("/count")
    await client.post("/count")
    old = client.cookies["session"]
    response = await client.post("/regenerate")
    new = client.cookies["session"]
    assert cookie_of(response) is not None
    assert new != old
    assert (await client.get("/dump")).json() == {"user": "ada"}
    assert (await client.post("/count")).json() == {"hits": 3}
    data = NamespacedStore(store, prefix="session", default_ttl=60)
    assert await data.namespace(ns_id(old)).slots() == []
    stale = {"cookie": f"session={old}"}
    assert (await client.get("/dump", headers=stale)).json() == {}
    assert (await client.post("/count", headers=stale)).json() == {"hits": 1}
    current = {"cookie": f"session={new}"}
    assert (await client.get("/dump", headers=current)).json() == {"user": "ada"}


async def test_regenerate_a_new_session_makes_one(client: httpx.AsyncClient) -> None:
    response = await client.post("/regenerate")
    assert cookie_of(response) is not None
    assert (await client.get("/info")).json() == {"new": False, "slots": ["~session"]}


async def test_regenerate_after_namespace_writes_of_a_new_session(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/count-then-regenerate")
    assert response.json() == {"hits": 1}
    assert (await client.post("/count")).json() == {"hits": 2}


async def test_clear_purges_the_namespace_and_drops_the_cookie(
    client: httpx.AsyncClient, store: unistore.Store
) -> None:
    await client.put("/s/a", json=1)
    await client.post("/count")
    old = client.cookies["session"]
    response = await client.post("/clear")
    header = cookie_of(response)
    assert header is not None
    assert "Max-Age=0" in header
    assert "session" not in client.cookies
    data = NamespacedStore(store, prefix="session", default_ttl=60)
    assert await data.namespace(ns_id(old)).slots() == []
    assert (await client.get("/dump")).json() == {}


async def test_delete_a_key(client: httpx.AsyncClient) -> None:
    await client.put("/s/a", json=1)
    await client.put("/s/b", json=2)
    await client.delete("/s/a")
    assert (await client.get("/dump")).json() == {"b": 2}


async def test_save_writes_at_once(make_app: MakeApp) -> None:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        await http.put("/s/a", json=1)
        response = await http.post("/save-then-fail")
        assert response.status_code == 500
        assert (await http.get("/dump")).json() == {"a": 1, "saved": True}


async def test_concurrent_requests_keep_each_others_keys(
    client: httpx.AsyncClient, gate: Any
) -> None:
    await client.put("/s/x", json=0)
    gate.parties = 2  # both requests load the session before either writes
    first, second = await asyncio.gather(
        # The first writes last: a rewrite of what it loaded would undo x=5.
        client.put("/s/a?linger=0.2", json="from-first"),
        client.put("/s/x", json=5),
    )
    assert first.status_code == second.status_code == 200
    assert (await client.get("/dump")).json() == {"x": 5, "a": "from-first"}


async def test_touch_rolls_the_ttl_of_every_slot(make_app: MakeApp, store: unistore.Store) -> None:
    data = NamespacedStore(store, prefix="session", default_ttl=60)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(ttl=600, touch_interval=0)),
        base_url=BASE_URL,
    ) as http:
        await http.put("/s/a", json=1)
        ns = data.namespace(ns_id(http.cookies["session"]))
        await ns.set("own", "1", ttl=5)
        response = await http.get("/noop")  # any request with the session touches it
        assert cookie_of(response) is not None  # the cookie's Max-Age rolls too
        left = await ns.ttl("own")
        assert left is not None
        assert left > 500
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(ttl=600, touch_interval=300)),
        base_url=BASE_URL,
    ) as http:
        await http.put("/s/a", json=1)
        ns = data.namespace(ns_id(http.cookies["session"]))
        await ns.set("own", "1", ttl=5)
        response = await http.get("/noop")  # touched moments ago: not again
        assert cookie_of(response) is None
        left = await ns.ttl("own")
        assert left is not None
        assert left <= 5


async def test_values_must_be_json() -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def bad(request: Request) -> PlainTextResponse:
        request.session["when"] = object()
        return PlainTextResponse("no")

    app = Starlette(
        routes=[Route("/bad", bad)],
        middleware=[Middleware(SessionMiddleware, "memory://", secure=False)],
    )
    with TestClient(app) as http, pytest.raises(ValidationError, match=r"when.*JSON"):
        http.get("/bad")


def test_settings_are_checked() -> None:
    async def app(scope: object, receive: object, send: object) -> None: ...

    for options, word in [
        ({"same_site": "none", "secure": False}, "same_site"),
        ({"same_site": "sometimes"}, "same_site"),
        ({"cookie_name": "a b"}, "cookie_name"),
        ({"path": "nope"}, "path"),
        ({"ttl": -1}, "TTL|ttl"),
        ({"prefix": "a:b"}, "prefix"),
        ({"touch_interval": 10**9}, "touch_interval"),
    ]:
        with pytest.raises(ValidationError, match=word):
            SessionMiddleware(app, "memory://", **options)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="store URL or an open"):
        SessionMiddleware(app, 42)  # type: ignore[arg-type]


def test_a_url_store_is_opened_and_closed_with_the_app(
    tmp_path: object, web_routes: list[Any]
) -> None:
    app = Starlette(
        routes=web_routes,
        middleware=[Middleware(SessionMiddleware, f"sqlite:///{tmp_path}/s.db", secure=False)],
    )
    with TestClient(app) as http:
        http.put("/s/a", json=[1])
        assert http.get("/dump").json() == {"a": [1]}
    with TestClient(app) as http:  # a new event loop, after a lifespan shutdown
        assert http.get("/dump").json() == {}  # a new client: no cookie
        http.put("/s/a", json=2)
        with http.websocket_connect("/socket") as socket:
            assert socket.receive_json() == {"a": 2}
            socket.send_json("hello")
            assert socket.receive_json() == "saved"
        assert http.get("/dump").json() == {"a": 2, "from-socket": "hello"}
