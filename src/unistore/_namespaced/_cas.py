"""Compare-and-swap for the namespaced store: snapshot, op queue, retry loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, overload

from unistore._namespaced._audit import log_cas
from unistore._namespaced._checks import (
    TTLArg,
    check_fields,
    check_slot,
    check_ttl,
    encode_mapping,
    encode_value,
    short,
)
from unistore.errors import (
    ContentionError,
    TransactionConflictError,
    ValidationError,
)
from unistore.sdk import Backoff, not_utf8
from unistore.telemetry import _state as _telemetry

if TYPE_CHECKING:
    import logging

    from unistore.protocols import Transaction, Transactions

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "CAS_BACKOFF", "CasOps", "CasSnapshot", "run_cas"]

V = TypeVar("V", str, bytes)
T = TypeVar("T")

#: First backoff bound after a conflict, in seconds; it doubles per retry.
BACKOFF_BASE: Final = 0.005
#: Largest backoff bound, in seconds.
BACKOFF_CAP: Final = 0.5
#: Full jitter: contending writers spread over the whole window.
CAS_BACKOFF: Final = Backoff(base=BACKOFF_BASE, cap=BACKOFF_CAP, jitter="full")

_MISSING: Final[Any] = object()


def _decode(data: bytes, slot: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise not_utf8(slot, exc) from None


class CasSnapshot(Generic[V]):
    """What a compare-and-swap closure reads: the watched slots as of the watch.

    A run only commits if every watched slot still holds what it held when
    the watch began, so whatever a committing run read is what it based its
    writes on. (Whether a run that is going to fail sees a change made after
    the watch depends on the driver: memory keeps a snapshot, Redis reads
    live; either way that run's writes are discarded and it runs again.)
    Writes queued through :class:`CasOps` are not visible here. Slots that are
    not watched can be read too; they show their current state and do not make
    the commit fail when they change.

    Valid only during the run of the closure it was passed to.
    """

    __slots__ = ("_live", "_text", "_tx")

    def __init__(self, tx: Transaction, decode: bool) -> None:
        self._tx = tx
        self._text = decode
        self._live = True

    def _check(self, slot: str) -> str:
        if not self._live:
            raise ValidationError("a CAS snapshot is only valid while its closure runs")
        return check_slot(slot)

    async def get(self, slot: str) -> V | None:
        """Return the value of a scalar slot, or ``None`` if absent.

        Raises:
            SlotKindError: The slot holds a hash.
        """
        slot = self._check(slot)
        data = await self._tx.get(slot)
        if data is None or not self._text:
            return data  # type: ignore[return-value]
        return _decode(data, slot)  # type: ignore[return-value]

    async def hget(self, slot: str, field: str) -> V | None:
        """Return one field of a hash slot, or ``None``.

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        slot = self._check(slot)
        if not isinstance(field, str):
            raise ValidationError(f"hash field names must be str, got {type(field).__name__}")
        data = await self._tx.hget(slot, field)
        if data is None or not self._text:
            return data  # type: ignore[return-value]
        return _decode(data, slot)  # type: ignore[return-value]

    async def hgetall(self, slot: str) -> dict[str, V]:
        """Return every field of a hash slot (an empty dict if absent).

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        slot = self._check(slot)
        fields = await self._tx.hgetall(slot)
        if not self._text:
            return fields  # type: ignore[return-value]
        return {name: _decode(data, slot) for name, data in fields.items()}  # type: ignore[misc]


class CasOps:
    """The writes of a compare-and-swap closure, queued and committed atomically.

    Each method checks its arguments at once (so a bad call raises inside the
    closure and nothing is written) and queues the write; the queue is
    committed when the closure returns, only if no watched slot changed.
    Writes carry the per-call ``ttl`` or the store's default, like the
    :class:`~unistore.Namespace` methods of the same names.

    There is no ``incr``: allocate ids with :meth:`Namespace.incr` before the
    compare-and-swap (an id wasted by a retry is harmless).

    Valid only during the run of the closure it was passed to.
    """

    __slots__ = ("_default_ttl", "_live", "_tx")

    def __init__(self, tx: Transaction, default_ttl: float) -> None:
        self._tx = tx
        self._default_ttl = default_ttl
        self._live = True

    def _ttl(self, ttl: TTLArg) -> float:
        if not self._live:
            raise ValidationError("CAS ops are only valid while their closure runs")
        return self._default_ttl if ttl is None else check_ttl(ttl)

    def set(self, slot: str, value: str | bytes, *, ttl: TTLArg = None) -> None:
        """Queue writing a scalar value (replacing a slot of any kind)."""
        seconds = self._ttl(ttl)
        self._tx.set(check_slot(slot), encode_value(value), ttl=seconds)

    def delete(self, slot: str) -> None:
        """Queue deleting a slot of any kind."""
        self._ttl(None)
        self._tx.delete(check_slot(slot))

    @overload
    def hset(self, slot: str, field: str, value: str | bytes, /, *, ttl: TTLArg = None) -> None: ...

    @overload
    def hset(
        self, slot: str, mapping: Mapping[str, str | bytes], /, *, ttl: TTLArg = None
    ) -> None: ...

    def hset(self, slot: str, field: Any, value: Any = _MISSING, /, *, ttl: TTLArg = None) -> None:
        """Queue setting hash fields: ``(slot, field, value)`` or ``(slot, mapping)``.

        The hash's expiry is re-applied with the write.
        """
        seconds = self._ttl(ttl)
        slot = check_slot(slot)
        if isinstance(field, str):
            if value is _MISSING:
                raise ValidationError("hset(slot, field, value) needs a value")
            mapping = {str(field): encode_value(value)}
        elif value is not _MISSING:
            raise ValidationError("hset takes (slot, field, value) or (slot, mapping)")
        else:
            mapping = encode_mapping(field)
        self._tx.hset(slot, mapping, ttl=seconds)

    def hdel(self, slot: str, *fields: str) -> None:
        """Queue deleting hash fields (an emptied hash disappears)."""
        self._ttl(None)
        self._tx.hdel(check_slot(slot), check_fields(fields))


@overload
async def run_cas(
    store: Transactions,
    ns: str,
    watch: tuple[str, ...],
    fn: Callable[[CasSnapshot[V], CasOps], Awaitable[T]],
    *,
    max_retries: int,
    decode: bool,
    default_ttl: float,
    logger: logging.Logger,
) -> T: ...


@overload
async def run_cas(
    store: Transactions,
    ns: str,
    watch: tuple[str, ...],
    fn: Callable[[CasSnapshot[V], CasOps], T],
    *,
    max_retries: int,
    decode: bool,
    default_ttl: float,
    logger: logging.Logger,
) -> T: ...


async def run_cas(
    store: Transactions,
    ns: str,
    watch: tuple[str, ...],
    fn: Callable[[CasSnapshot[V], CasOps], Any],
    *,
    max_retries: int,
    decode: bool,
    default_ttl: float,
    logger: logging.Logger,
) -> Any:
    """Run ``fn`` in a transaction until a commit succeeds or retries run out."""
    attempt = 0
    while True:
        attempt += 1
        async with store.transaction(ns, watch) as tx:
            snapshot: CasSnapshot[V] = CasSnapshot(tx, decode)
            ops = CasOps(tx, default_ttl)
            try:
                result = fn(snapshot, ops)
                if isinstance(result, Awaitable):
                    result = await result
            finally:
                snapshot._live = ops._live = False
            try:
                await tx.commit()
            except TransactionConflictError:
                pass
            else:
                return result
        if attempt > max_retries:
            log_cas(logger, ns, watch, attempt, exhausted=True)
            if _telemetry.cas_exhausted:
                from unistore.telemetry._events import cas_exhausted

                cas_exhausted(store, ns, attempt, len(watch))
            raise ContentionError(
                f"compare-and-swap on {', '.join(short(s) for s in watch)} in namespace "
                f"{short(ns)} gave up after {attempt} attempts",
                slots=watch,
                attempts=attempt,
            )
        log_cas(logger, ns, watch, attempt, exhausted=False)
        if _telemetry.cas_retry:
            from unistore.telemetry._events import cas_retry

            cas_retry(store, ns, attempt, len(watch))
        await CAS_BACKOFF.sleep(attempt)
