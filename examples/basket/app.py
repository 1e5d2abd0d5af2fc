"""The basket app: items in a hash, order ids from a counter, checkout by compare-and-swap.

Each visitor's session is a namespace (``SessionMiddleware``); the basket is the
hash slot ``basket`` in it, one field per item, so two tabs adding at once
never overwrite each other. Checkout watches the basket: if an item arrives
while the order is being made, the compare-and-swap runs again on the fresh
basket, so an order always holds exactly the items it removed.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

import unistore
from unistore import CasOps, CasSnapshot, ContentionError, NamespacedStore
from unistore.integrations.starlette import SessionMiddleware, session_of

PAGE = Path(__file__).with_name("static") / "index.html"
#: Where the data goes without ``--url``: a temporary folder, never the repository.
DEFAULT_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'unistore-basket' / 'basket.db'}"
SESSION_TTL = 3600  # an idle basket is forgotten after an hour
ORDER_TTL = 30 * 24 * 3600


class EmptyBasketError(Exception):
    """Checkout of an empty basket."""


def create_app(url: str = DEFAULT_URL) -> Starlette:
    """Build the app over the store at ``url``."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = unistore.connect(url)
    # Order numbers are shop-wide: a counter in a namespace of the shop's own.
    shop = NamespacedStore(store, prefix="shop", default_ttl=ORDER_TTL).namespace("orders")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with store:  # the middleware borrows it; the app closes it
            yield

    async def index(request: Request) -> HTMLResponse:
        # Writing once makes the session (and its cookie) exist before the page
        # scripts run, so every tab of the browser shares one basket.
        request.session.setdefault("since", datetime.now(UTC).isoformat(timespec="seconds"))
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def basket(request: Request) -> JSONResponse:
        ns = session_of(request).namespace
        items, orders = await ns.hgetall("basket"), await ns.hgetall("orders")
        return JSONResponse(
            {
                "items": _items(items),
                "total": sum(json.loads(item)["price"] for item in items.values()),
                "orders": sorted((json.loads(o) for o in orders.values()), key=_by_id),
            }
        )

    async def add_item(request: Request) -> JSONResponse:
        body = await request.json()
        name, price = body.get("name"), body.get("price")
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            return JSONResponse({"error": "name: 1 to 100 characters"}, status_code=422)
        if type(price) is not int or not 0 <= price <= 1_000_000:
            return JSONResponse({"error": "price: whole cents, 0 to 1000000"}, status_code=422)
        ns = session_of(request).namespace
        item_id = await ns.incr("item-ids")
        await ns.hset("basket", str(item_id), json.dumps({"name": name, "price": price}))
        return JSONResponse({"id": item_id}, status_code=201)

    async def checkout(request: Request) -> JSONResponse:
        ns = session_of(request).namespace
        # Allocated before the compare-and-swap: a number a retry wastes is harmless.
        order_id = await shop.incr("order-ids")

        async def take_basket(snap: CasSnapshot[str], ops: CasOps) -> dict[str, Any]:
            items = await snap.hgetall("basket")
            if not items:
                raise EmptyBasketError
            taken = _items(items)
            order = {
                "id": order_id,
                "items": taken,
                "total": sum(item["price"] for item in taken),
            }
            ops.delete("basket")
            ops.hset("orders", str(order_id), json.dumps(order))
            return order

        try:
            # Many retries: another tab may be adding items at this very moment.
            order = await ns.with_cas(["basket", "orders"], take_basket, max_retries=20)
        except EmptyBasketError:
            return JSONResponse({"error": "the basket is empty"}, status_code=409)
        except ContentionError:
            return JSONResponse({"error": "the basket is busy, try again"}, status_code=503)
        return JSONResponse(order, status_code=201)

    async def forget(request: Request) -> JSONResponse:
        request.session.clear()  # purges the whole namespace and drops the cookie
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/basket", basket),
            Route("/api/items", add_item, methods=["POST"]),
            Route("/api/checkout", checkout, methods=["POST"]),
            Route("/api/forget", forget, methods=["POST"]),
        ],
        middleware=[
            # Plain HTTP on a loopback address here; behind HTTPS keep secure=True.
            Middleware(SessionMiddleware, store, ttl=SESSION_TTL, secure=False)
        ],
        lifespan=lifespan,
    )


def _items(fields: dict[str, str]) -> list[dict[str, Any]]:
    items = [{"id": int(key), **json.loads(value)} for key, value in fields.items()]
    return sorted(items, key=_by_id)


def _by_id(entry: dict[str, Any]) -> int:
    return int(entry["id"])
