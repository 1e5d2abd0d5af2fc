"""The Flask session interface on every driver, on the blocking facade."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import flask
import pytest

from unistore import ValidationError, sync
from unistore.integrations.flask import UnistoreSessionInterface, session_of


def ns_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_app(store: sync.Store, **options: Any) -> flask.Flask:
    app = flask.Flask("sessions")
    options.setdefault("ttl", 600)
    app.session_interface = UnistoreSessionInterface(store, **options)
    barrier: list[threading.Barrier] = []
    app.config["barrier"] = barrier

    @app.get("/s/<key>")
    def get(key: str) -> Any:
        return {"value": flask.session.get(key)}

    @app.put("/s/<key>")
    def put(key: str) -> Any:
        flask.session[key] = flask.request.get_json()
        if barrier:
            barrier[0].wait(5)  # both requests have loaded before either writes
            time.sleep(float(flask.request.args.get("linger", 0)))
        return {"ok": True}

    @app.get("/dump")
    def dump() -> Any:
        return dict(flask.session)

    @app.get("/noop")
    def noop() -> str:
        return "ok"

    @app.post("/regenerate")
    def regenerate() -> Any:
        session_of().regenerate()
        return {"ok": True}

    @app.post("/clear")
    def clear() -> Any:
        flask.session.clear()
        return {"ok": True}

    @app.post("/count")
    def count() -> Any:
        return {"hits": session_of().namespace.incr("hits")}

    return app


@pytest.fixture
def store(store_url: str) -> Iterator[sync.Store]:
    with sync.connect(store_url) as opened:
        yield opened


def token_of(response: Any) -> str:
    header = response.headers["Set-Cookie"]
    return str(header.split(";")[0].removeprefix("session="))


def with_cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"session={token}"}


def test_lifecycle(store: sync.Store) -> None:
    http = make_app(store).test_client(use_cookies=False)
    for path in ("/noop", "/dump", "/s/a"):
        response = http.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    response = http.put("/s/cart", json={"items": [1, "two"]})
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "Secure" in header
    assert "SameSite=Lax" in header
    assert "Max-Age=600" in header
    assert "Cookie" in response.headers["Vary"]
    token = token_of(response)
    assert len(token) == 43
    me = with_cookie(token)
    assert http.get("/s/cart", headers=me).json == {"value": {"items": [1, "two"]}}
    assert http.post("/count", headers=me).json == {"hits": 1}
    data = sync.NamespacedStore(store, prefix="session", default_ttl=60)
    assert data.namespace(ns_id(token)).slots() == ["hits", "~session"]

    # regenerate: same data under a new id, the old one is dead
    response = http.post("/regenerate", headers=me)
    new = token_of(response)
    assert new != token
    assert data.namespace(ns_id(token)).slots() == []
    assert http.get("/dump", headers=with_cookie(new)).json == {"cart": {"items": [1, "two"]}}
    assert http.post("/count", headers=with_cookie(new)).json == {"hits": 2}
    assert http.get("/dump", headers=me).json == {}

    # clear: purged, cookie deleted
    response = http.post("/clear", headers=with_cookie(new))
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert data.namespace(ns_id(new)).slots() == []
    assert http.get("/dump", headers=with_cookie(new)).json == {}


FORGED = ["A" * 43, "*", "../" * 20, "{x}:y", "%00", "a" * 10_000]


def test_forged_ids_get_a_fresh_session(store: sync.Store) -> None:
    http = make_app(store).test_client(use_cookies=False)
    alice = token_of(http.put("/s/secret", json="alice's"))
    for forged in FORGED:
        response = http.get("/dump", headers=with_cookie(forged))
        assert response.status_code == 200
        assert response.json == {}
        assert "Set-Cookie" not in response.headers
        fresh = token_of(http.put("/s/mine", json=1, headers=with_cookie(forged)))
        assert fresh not in (forged, alice)
        assert http.get("/dump", headers=with_cookie(fresh)).json == {"mine": 1}
    assert http.get("/dump", headers=with_cookie(alice)).json == {"secret": "alice's"}
    assert http.get("/dump", headers=with_cookie(ns_id(alice))).json == {}


def test_expired_session_is_fresh(store: sync.Store) -> None:
    http = make_app(store, ttl=0.6).test_client(use_cookies=False)
    token = token_of(http.put("/s/a", json=1))
    time.sleep(0.8)
    assert http.get("/dump", headers=with_cookie(token)).json == {}


def test_concurrent_requests_keep_each_others_keys(store: sync.Store) -> None:
    app = make_app(store)
    http = app.test_client(use_cookies=False)
    me = with_cookie(token_of(http.put("/s/x", json=0)))
    app.config["barrier"].append(threading.Barrier(2))
    results: list[int] = []

    def put(path: str, value: Any) -> None:
        results.append(
            app.test_client(use_cookies=False).put(path, json=value, headers=me).status_code
        )

    threads = [
        threading.Thread(target=put, args=("/s/a?linger=0.2", "first")),
        threading.Thread(target=put, args=("/s/x", 5)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    app.config["barrier"].clear()
    assert results == [200, 200]
    assert http.get("/dump", headers=me).json == {"x": 5, "a": "first"}


def test_touch_rolls_the_ttl(store: sync.Store) -> None:
    data = sync.NamespacedStore(store, prefix="session", default_ttl=60)
    http = make_app(store, ttl=600, touch_interval=0).test_client(use_cookies=False)
    token = token_of(http.put("/s/a", json=1))
    data.namespace(ns_id(token)).set("own", "1", ttl=5)
    response = http.get("/noop", headers=with_cookie(token))
    assert "Max-Age=600" in response.headers["Set-Cookie"]
    left = data.namespace(ns_id(token)).ttl("own")
    assert left is not None
    assert left > 500


def test_bad_values_and_settings(store: sync.Store) -> None:
    app = make_app(store)

    @app.get("/bad")
    def bad() -> str:
        flask.session["when"] = object()
        return "no"

    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ValidationError, match=r"when.*JSON"):
        app.test_client(use_cookies=False).get("/bad")
    with pytest.raises(ValidationError, match="same_site"):
        UnistoreSessionInterface(store, same_site="none", secure=False)
    with pytest.raises(ValidationError, match=r"unistore\.sync\.Store"):
        UnistoreSessionInterface(object())  # type: ignore[arg-type]
