"""The blocking store side of the web sessions (Flask, Django), on ``unistore.sync``.

Same layout and bookkeeping as the Starlette middleware (see ``_state``), with
the blocking facade: one store shared by every thread of a WSGI server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unistore._url import StoreURL
from unistore.errors import ValidationError
from unistore.integrations._web._config import WebConfig
from unistore.integrations._web._copy import copy_session_sync
from unistore.integrations._web._ids import namespace_id, new_token, parse_token
from unistore.integrations._web._state import (
    SLOT,
    SessionState,
    committed,
    decode,
    plan_flush,
)


class SyncEngine:
    """Load a session, write what changed, move it to a new id; blocking.

    Args:
        store: A store URL (opened here, closed by :meth:`close`) or a
            :class:`unistore.sync.Store` (borrowed).
        config: The checked settings.
        owner: The integration's name, for error messages.
    """

    def __init__(self, store: Any, config: WebConfig, owner: str) -> None:
        from unistore import sync

        self.config = config
        if isinstance(store, str | StoreURL):
            self.store = sync.connect(store)
            self.owned = True
        elif isinstance(store, sync.Store):
            self.store = store
            self.owned = False
        else:
            raise ValidationError(
                f"{owner} takes a store URL or a unistore.sync.Store "
                f"(from unistore.sync.connect), not {type(store).__name__}"
            )
        self.text: sync.NamespacedStore[str] = sync.NamespacedStore(
            self.store, prefix=config.prefix, default_ttl=config.ttl
        )
        self.raw: sync.NamespacedStore[bytes] = sync.NamespacedStore(
            self.store, prefix=config.prefix, default_ttl=config.ttl, decode=False
        )

    def load(self, cookie: object) -> tuple[SessionState, dict[str, Any]]:
        """Return the state and the values of the session ``cookie`` names."""
        token = parse_token(cookie)
        if token is None:
            return SessionState(), {}
        loaded = decode(self.text.namespace(namespace_id(token)).hgetall(SLOT))
        return SessionState.from_load(token, loaded), loaded.values

    def namespace(self, state: SessionState) -> Any:
        """The namespace handle of the session (made, with an id, if new)."""
        return self.text.namespace(namespace_id(state.need_token()))

    def flush(
        self, state: SessionState, current: Mapping[Any, Any], *, can_set_cookie: bool = True
    ) -> str | None:
        """Write the changes; return ``"set"``, ``"delete"`` or ``None`` for the cookie."""
        plan = plan_flush(
            state,
            current,
            touch_interval=self.config.touch_interval,
            can_set_cookie=can_set_cookie,
        )
        for old in plan.purge:
            self.text.namespace(old).purge()
        if plan.namespace is not None:
            ns = self.text.namespace(plan.namespace)
            if plan.hset:
                ns.hset(SLOT, plan.hset)
            if plan.hdel:
                ns.hdel(SLOT, *plan.hdel)
            if plan.touch:
                ns.touch()
        committed(state, plan)
        return plan.cookie

    def regenerate(self, state: SessionState) -> None:
        """Move the session to a new id; the old one stops working."""
        # A token is only held for a live session or one this request made
        # (its namespace may already hold the application's writes): move both.
        old = state.token
        state.token = new_token()
        state.used = True
        state.send_cookie = True
        if old is not None:
            copy_session_sync(
                self.raw.namespace(namespace_id(old)),
                self.raw.namespace(namespace_id(state.token)),
            )

    def close(self) -> None:
        """Close the store if this engine opened it."""
        if self.owned:
            self.store.close()
