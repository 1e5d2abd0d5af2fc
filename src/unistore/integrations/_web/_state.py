"""The stored layout of a web session and the bookkeeping of one request.

A session is one namespace. The mapping the application sees (``session[key]``)
lives in the hash slot :data:`SLOT`: each key is the field ``"k:" + key`` and
holds the value as JSON; the field :data:`MARKER` holds the time of the last
touch and says that the session exists. Every other slot of the namespace is
the application's own (hashes, counters, compare-and-swap through the handle).

Writes go per key: at the end of a request the mapping is compared with what
the request loaded, and only keys whose JSON changed are written (``hset``) or
removed (``hdel``). Two concurrent requests that change different keys never
undo each other, and a value mutated in place (``session["cart"].append(...)``)
is still seen as changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from unistore.errors import ValidationError
from unistore.integrations._web._ids import namespace_id, new_token

#: The hash slot holding the session mapping.
SLOT: Final = "~session"
#: The field of :data:`SLOT` that marks a live session (its value: last touch).
MARKER: Final = "~touched"
_KEY: Final = "k:"


def encode(key: object, value: object) -> str:
    """Return the JSON stored for ``value``, or raise ``ValidationError``."""
    if type(key) is not str:
        raise ValidationError(f"session keys must be str, got {type(key).__name__}")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"the session value of {key[:64]!r} is not JSON-serialisable "
            f"({type(value).__name__}); store JSON types, or use the namespace handle"
        ) from exc


@dataclass
class Loaded:
    """What the store held for a session: its raw values and last touch."""

    raw: dict[str, str] = field(repr=False)
    values: dict[str, Any] = field(repr=False)
    touched_at: float | None


def decode(fields: Mapping[str, str]) -> Loaded:
    """Split a stored :data:`SLOT` hash into values and the marker."""
    marker = fields.get(MARKER)
    touched_at: float | None = None
    if marker is not None:
        try:
            touched_at = float(marker)
        except ValueError:
            touched_at = 0.0  # present but unreadable: alive, and due for a touch
    raw: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, data in fields.items():
        if not name.startswith(_KEY):
            continue
        try:
            value = json.loads(data)
        except ValueError:
            continue  # not written by us; leave it alone rather than fail the request
        raw[name[2:]] = data
        values[name[2:]] = value
    return Loaded(raw, values, touched_at)


@dataclass
class SessionState:
    """The bookkeeping of one session during one request.

    ``token`` is the id the client holds or will be given; ``None`` until a
    session is needed (an id the store does not know is dropped at load, so a
    client can never choose its own id). ``known`` says the namespace of
    ``token`` holds a live session.
    """

    # Kept out of the repr: the token is the session's secret, the values its data.
    token: str | None = field(default=None, repr=False)
    known: bool = False
    loaded: dict[str, str] = field(default_factory=dict, repr=False)
    touched_at: float | None = None
    #: The application used the namespace or regenerated: the session must exist.
    used: bool = False
    #: The response must (re)send the cookie (a new id).
    send_cookie: bool = False
    #: ``clear()`` forgot the session: the cookie goes unless a new one is made.
    cleared: bool = False
    #: Tokens whose namespaces are purged at the flush.
    purge: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_load(cls, token: str, loaded: Loaded) -> SessionState:
        """The state of a request whose cookie carried ``token``."""
        if loaded.touched_at is None:
            return cls()  # unknown, forged or expired: a fresh session, new id
        return cls(token=token, known=True, loaded=loaded.raw, touched_at=loaded.touched_at)

    def need_token(self) -> str:
        """Return the session's token, making one (and the session) if needed."""
        if self.token is None:
            self.token = new_token()
            self.send_cookie = True
        self.used = True
        return self.token

    def forget(self) -> None:
        """``clear()``: purge the session at the flush and drop its id."""
        if self.token is not None and self.known:
            self.purge.append(self.token)
        self.token = None
        self.known = False
        self.loaded = {}
        self.touched_at = None
        self.used = False
        self.send_cookie = False
        self.cleared = True


@dataclass
class Plan:
    """The writes that end a request, in the order they are made."""

    purge: list[str]
    namespace: str | None
    hset: dict[str, str] = field(repr=False)
    hdel: list[str]
    touch: bool
    cookie: str | None  # "set", "delete" or None
    raw: dict[str, str] = field(repr=False)
    now: float


def plan_flush(
    state: SessionState, current: Mapping[Any, Any], *, touch_interval: float, can_set_cookie: bool
) -> Plan:
    """Work out the writes for ``current`` against what ``state`` loaded.

    Raises:
        ValidationError: A key is not a ``str`` or a value is not JSON.
    """
    now = time.time()
    raw = {key: encode(key, value) for key, value in current.items()}
    changed = {_KEY + key: data for key, data in raw.items() if state.loaded.get(key) != data}
    gone = [_KEY + key for key in state.loaded if key not in raw]
    purge = [namespace_id(token) for token in state.purge]
    create = not state.known and (bool(changed) or state.used)
    if not state.known and not create:
        cookie = "delete" if state.cleared and can_set_cookie else None
        return Plan(purge, None, {}, [], False, cookie, raw, now)
    if create and not can_set_cookie:
        # The headers are gone: the client could never come back to this session.
        return Plan(purge, None, {}, [], False, None, {}, now)
    touch = not create and (state.touched_at is None or now - state.touched_at >= touch_interval)
    if create or touch:
        changed[MARKER] = repr(now)
    token = state.need_token() if create else state.token
    assert token is not None
    cookie = "set" if can_set_cookie and (create or touch or state.send_cookie) else None
    return Plan(purge, namespace_id(token), changed, gone, touch, cookie, raw, now)


def committed(state: SessionState, plan: Plan) -> None:
    """Record in ``state`` that ``plan`` was written."""
    state.purge = []
    state.cleared = False
    if plan.namespace is None:
        return
    state.known = True
    state.loaded = plan.raw
    if MARKER in plan.hset:
        state.touched_at = plan.now
    if plan.cookie == "set":
        state.send_cookie = False
