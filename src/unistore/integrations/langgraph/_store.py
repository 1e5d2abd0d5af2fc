"""``UnistoreStore``: LangGraph's long-term memory store on any unistore store.

Each namespace tuple is one store namespace (``<prefix>:<encoded tuple>``) and
each item one scalar slot in it, holding ``{"v": value, "c": created, "u":
updated, "t": ttl minutes}`` as JSON; an item's TTL is the slot's TTL. A
registry namespace (``<prefix>:#``) has one slot per namespace ever written,
named by its encoding, so a search or a listing reads only the namespaces under
the asked-for prefix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    validate_op_namespace,
)

from unistore.errors import NotSupportedError, ValidationError
from unistore.integrations._bridge import StoreBridge
from unistore.integrations.langgraph import _paths
from unistore.protocols import FullStore, Store

ItemT = TypeVar("ItemT", bound=Item)

_REGISTRY = "#"
_PRESENT = b"1"


class UnistoreStore(BaseStore):
    """LangGraph's ``BaseStore`` (items in tuple namespaces) on a unistore store.

    Args:
        store_or_url: A store URL (opened and owned; closed by :meth:`aclose`)
            or an open store (borrowed).
        prefix: Keeps this store's items apart from other data in the same
            store; two stores with different prefixes never see each other.
        ttl: LangGraph's ``TTLConfig``: ``default_ttl`` (minutes) for puts
            that give none, ``refresh_on_read`` (default ``True``). Expired
            items are dropped by the store itself, so
            ``sweep_interval_minutes`` is not needed.
        index: Vector search is not supported; passing an index raises.

    Raises:
        NotSupportedError: ``index`` was given.
        ValidationError: A bad store, prefix or TTL config.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        store_or_url: str | Store,
        *,
        prefix: str = "langgraph.store",
        ttl: TTLConfig | None = None,
        index: Mapping[str, Any] | None = None,
    ) -> None:
        if index is not None:
            raise NotSupportedError(
                "UnistoreStore has no vector index; leave index unset "
                "(search then matches by namespace and filter only)"
            )
        if not isinstance(prefix, str) or not prefix:
            raise ValidationError("UnistoreStore prefix must be a non-empty str")
        if ttl is not None and not isinstance(ttl, Mapping):
            raise ValidationError("UnistoreStore ttl must be a TTLConfig mapping")
        self.ttl_config = dict(ttl) if ttl is not None else None  # type: ignore[assignment]
        self._prefix = prefix
        self._registry = f"{prefix}:{_REGISTRY}"
        self._known: set[str] = set()
        self._bridge = StoreBridge(store_or_url, owner="UnistoreStore")

    def __repr__(self) -> str:
        return f"UnistoreStore(prefix={self._prefix!r})"

    async def aclose(self) -> None:
        """Close the store if it was opened from a URL."""
        await self._bridge.aclose()

    def close(self) -> None:
        """Blocking :meth:`aclose`."""
        self._bridge.close()

    async def __aenter__(self) -> UnistoreStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run operations in order of kind: reads first, then the puts, as LangGraph does."""
        todo = _checked(ops)
        return self._bridge.run(lambda s: self._batch(s, todo))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch`."""
        todo = _checked(ops)
        return await self._bridge.call(lambda s: self._batch(s, todo))

    # -- implementation ----------------------------------------------------

    def _ns(self, namespace: tuple[str, ...]) -> str:
        return f"{self._prefix}:{_paths.encode(namespace)}"

    async def _batch(self, store: FullStore, ops: list[Op]) -> list[Result]:
        results: list[Result] = [None] * len(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for position, op in enumerate(ops):
            if isinstance(op, GetOp):
                results[position] = await self._get(store, op)
            elif isinstance(op, SearchOp):
                results[position] = await self._search(store, op)
            elif isinstance(op, ListNamespacesOp):
                results[position] = await self._list_namespaces(store, op)
            else:
                # Like LangGraph's stores: the last put of a key in a batch wins.
                puts[(op.namespace, op.key)] = op
        for op in puts.values():
            await self._put(store, op)
        return results

    def _refresh(self, ttl: object, refresh: bool) -> float | None:
        return float(ttl) * 60.0 if refresh and isinstance(ttl, int | float) else None

    async def _get(self, store: FullStore, op: GetOp) -> Item | None:
        ns = self._ns(tuple(op.namespace))
        raw = await store.get(ns, op.key)
        if raw is None:
            return None
        record = json.loads(raw)
        refresh = self._refresh(record.get("t"), bool(op.refresh_ttl))
        if refresh is not None:
            await store.expire(ns, op.key, refresh)
        return _item(Item, tuple(op.namespace), op.key, record)

    async def _put(self, store: FullStore, op: PutOp) -> None:
        namespace = tuple(op.namespace)
        ns = self._ns(namespace)
        if op.value is None:
            await store.delete(ns, op.key)
            return
        ttl = op.ttl
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0
        ):
            raise ValidationError(
                f"UnistoreStore: ttl must be positive minutes or None, got {ttl!r}"[:200]
            )
        now = datetime.now(UTC).isoformat()
        previous = await store.get(ns, op.key)
        created = json.loads(previous)["c"] if previous is not None else now
        try:
            text = json.dumps({"v": dict(op.value), "c": created, "u": now, "t": ttl})
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"UnistoreStore: the value of key {op.key[:100]!r} is not JSON-serialisable"
            ) from exc
        await store.set(ns, op.key, text.encode(), ttl=None if ttl is None else ttl * 60.0)
        encoded = _paths.encode(namespace)
        if encoded not in self._known:
            await store.set(self._registry, encoded, _PRESENT, ttl=None)
            self._known.add(encoded)

    async def _namespaces_under(
        self, store: FullStore, prefix: tuple[str, ...]
    ) -> list[tuple[str, ...]]:
        names = await store.slots(self._registry, _paths.encode(prefix))
        return [_paths.decode(name) for name in names]

    async def _search(self, store: FullStore, op: SearchOp) -> list[SearchItem]:
        if op.limit < 0 or op.offset < 0:
            raise ValidationError("UnistoreStore.search: limit and offset must be >= 0")
        found: list[tuple[tuple[str, ...], str, dict[str, Any]]] = []
        for namespace in await self._namespaces_under(store, tuple(op.namespace_prefix)):
            ns = self._ns(namespace)
            keys = await store.slots(ns)
            if not keys:
                continue
            for key, raw in zip(keys, await store.get_many(ns, keys), strict=True):
                if raw is None:
                    continue  # expired or deleted since the listing
                record = json.loads(raw)
                if _paths.item_matches(record["v"], op.filter):
                    found.append((namespace, key, record))
        # Most recently updated first, as LangGraph's database stores order it.
        found.sort(key=lambda hit: (hit[0], hit[1]))
        found.sort(key=lambda hit: str(hit[2]["u"]), reverse=True)
        page = found[op.offset : op.offset + op.limit]
        for namespace, key, record in page:
            refresh = self._refresh(record.get("t"), bool(op.refresh_ttl))
            if refresh is not None:
                await store.expire(self._ns(namespace), key, refresh)
        return [_item(SearchItem, namespace, key, record) for namespace, key, record in page]

    async def _list_namespaces(
        self, store: FullStore, op: ListNamespacesOp
    ) -> list[tuple[str, ...]]:
        conditions = tuple(op.match_conditions or ())
        head: tuple[str, ...] = ()
        for condition in conditions:
            if condition.match_type == "prefix":
                head = _paths.literal_prefix(condition.path)
                break
        candidates = sorted(
            namespace
            for namespace in await self._namespaces_under(store, head)
            if all(_paths.condition_matches(c, namespace) for c in conditions)
        )
        wanted = op.offset + op.limit
        listed: list[tuple[str, ...]] = []
        for namespace in candidates:
            shown = namespace if op.max_depth is None else namespace[: op.max_depth]
            if listed and listed[-1] == shown:
                continue
            # The registry keeps every namespace ever written; list only those
            # that still hold an item.
            if await store.slots(self._ns(namespace)):
                listed.append(shown)
                if len(listed) >= wanted:
                    break
        if op.max_depth is not None:
            listed = sorted(set(listed))
        return listed[op.offset : wanted]


def _item(kind: type[ItemT], namespace: tuple[str, ...], key: str, record: dict[str, Any]) -> ItemT:
    return kind(
        namespace=namespace,
        key=key,
        value=record["v"],
        created_at=datetime.fromisoformat(record["c"]),
        updated_at=datetime.fromisoformat(record["u"]),
    )


def _checked(ops: Iterable[Op]) -> list[Op]:
    """Validate every op before any runs, so a bad one changes nothing."""
    todo = list(ops)
    for op in todo:
        if not isinstance(op, GetOp | PutOp | SearchOp | ListNamespacesOp):
            raise ValidationError(f"UnistoreStore: unknown operation {type(op).__name__}")
        try:
            validate_op_namespace(op)
        except InvalidNamespaceError as exc:
            raise _paths.NamespaceError(str(exc)) from exc
        if isinstance(op, GetOp | PutOp):
            if not op.namespace:
                raise _paths.NamespaceError("UnistoreStore: a namespace cannot be empty")
            if not isinstance(op.key, str) or not op.key:
                raise ValidationError("UnistoreStore: a key must be a non-empty str")
        if isinstance(op, PutOp):
            if op.namespace[0] == "langgraph":
                raise _paths.NamespaceError('UnistoreStore: the root label cannot be "langgraph"')
            if op.value is not None and not isinstance(op.value, Mapping):
                raise ValidationError(
                    "UnistoreStore: a value must be a mapping (or None to delete)"
                )
    return todo
