"""The Django session engine on every driver, through Django's own middleware."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import path

from unistore import sync

BARRIER: list[threading.Barrier] = []


def get(request: HttpRequest, key: str) -> HttpResponse:
    return JsonResponse({"value": request.session.get(key)})


def put(request: HttpRequest, key: str) -> HttpResponse:
    request.session[key] = json.loads(request.body)
    if BARRIER:
        BARRIER[0].wait(5)  # both requests have loaded before either writes
        time.sleep(float(request.GET.get("linger", 0)))
    return JsonResponse({"ok": True})


def dump(request: HttpRequest) -> HttpResponse:
    return JsonResponse(dict(request.session.items()))


def noop(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def cycle(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()
    return JsonResponse({"ok": True})


def flush(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return JsonResponse({"ok": True})


def count(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"hits": request.session.namespace.incr("hits")})


class Urls:
    urlpatterns: ClassVar[list[Any]] = [
        path("s/<key>", lambda r, key: put(r, key) if r.method == "PUT" else get(r, key)),
        path("dump", dump),
        path("noop", noop),
        path("cycle", cycle),
        path("flush", flush),
        path("count", count),
    ]


if not settings.configured:
    settings.configure(
        SECRET_KEY="only-for-these-tests",
        ROOT_URLCONF=Urls,
        ALLOWED_HOSTS=["testserver"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
        INSTALLED_APPS=["django.contrib.sessions"],
        SESSION_ENGINE="unistore.integrations.django",
        SESSION_COOKIE_AGE=600,
        SESSION_COOKIE_SECURE=True,
        DATABASES={},
    )
    django.setup()


def ns_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def store(store_url: str) -> Iterator[sync.Store]:
    from unistore.integrations.django import close

    with sync.connect(store_url) as opened, override_settings(UNISTORE_SESSION_STORE=opened):
        try:
            yield opened
        finally:
            close()


def call(method: str, url: str, token: str | None = None, body: Any = None) -> Any:
    client = Client()
    if token is not None:
        client.cookies["sessionid"] = token
    if method == "PUT":
        return client.put(url, json.dumps(body), content_type="application/json")
    return getattr(client, method.lower())(url)


def token_of(response: Any) -> str:
    return str(response.cookies["sessionid"].value)


def test_lifecycle(store: sync.Store) -> None:
    for url in ("/noop", "/dump", "/s/a"):
        assert "sessionid" not in call("GET", url).cookies
    response = call("PUT", "/s/cart", body={"items": [1, "two"]})
    morsel = response.cookies["sessionid"]
    assert morsel["httponly"]
    assert morsel["secure"]
    assert morsel["samesite"] == "Lax"
    token = token_of(response)
    assert len(token) == 43
    assert call("GET", "/s/cart", token).json() == {"value": {"items": [1, "two"]}}
    assert call("POST", "/count", token).json() == {"hits": 1}
    data = sync.NamespacedStore(store, prefix="session", default_ttl=60)
    assert data.namespace(ns_id(token)).slots() == ["hits", "~session"]

    new = token_of(call("POST", "/cycle", token))
    assert new != token
    assert data.namespace(ns_id(token)).slots() == []
    assert call("GET", "/dump", new).json() == {"cart": {"items": [1, "two"]}}
    assert call("POST", "/count", new).json() == {"hits": 2}
    assert call("GET", "/dump", token).json() == {}

    response = call("POST", "/flush", new)
    assert response.cookies["sessionid"]["max-age"] == 0
    assert data.namespace(ns_id(new)).slots() == []


FORGED = ["A" * 43, "*", "../" * 20, "{x}:y", "%00", "a" * 10_000]


def test_forged_ids_get_a_fresh_session(store: sync.Store) -> None:
    alice = token_of(call("PUT", "/s/secret", body="alice's"))
    for forged in FORGED:
        response = call("GET", "/dump", forged)
        assert response.status_code == 200
        assert response.json() == {}
        fresh = token_of(call("PUT", "/s/mine", forged, body=1))
        assert fresh not in (forged, alice)
        assert call("GET", "/dump", fresh).json() == {"mine": 1}
    assert call("GET", "/dump", alice).json() == {"secret": "alice's"}
    assert call("GET", "/dump", ns_id(alice)).json() == {}


def test_concurrent_requests_keep_each_others_keys(store: sync.Store) -> None:
    token = token_of(call("PUT", "/s/x", body=0))
    BARRIER.append(threading.Barrier(2))
    codes: list[int] = []

    def run(url: str, value: Any) -> None:
        codes.append(call("PUT", url, token, body=value).status_code)

    threads = [
        threading.Thread(target=run, args=("/s/a?linger=0.2", "first")),
        threading.Thread(target=run, args=("/s/x", 5)),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        BARRIER.clear()
    assert codes == [200, 200]
    assert call("GET", "/dump", token).json() == {"x": 5, "a": "first"}


def test_touch_rolls_the_ttl(store: sync.Store, store_url: str) -> None:
    data = sync.NamespacedStore(store, prefix="session", default_ttl=60)
    with override_settings(UNISTORE_SESSION_TOUCH_INTERVAL=0):
        token = token_of(call("PUT", "/s/a", body=1))
        data.namespace(ns_id(token)).set("own", "1", ttl=5)
        response = call("GET", "/dump", token)
        assert token_of(response) == token  # the cookie is sent again
        left = data.namespace(ns_id(token)).ttl("own")
        assert left is not None
        assert left > 500
