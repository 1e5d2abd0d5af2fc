"""Conversation memory for the OpenAI Agents SDK, on any unistore driver.

:class:`UnistoreSession` implements the SDK's ``Session`` protocol: pass it as
``session=`` to ``Runner.run``, ``Runner.run_sync`` or ``Runner.run_streamed``
and the agent's history lives in a unistore session document, one stored
message per item::

    from agents import Agent, Runner
    from unistore.integrations.openai_agents import UnistoreSession

    session = UnistoreSession("user-42", "redis://localhost:6379/0")
    result = await Runner.run(agent, "Hello", session=session)

Install with ``pip install "unistore[openai-agents]"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

try:
    from agents.items import TResponseInputItem
    from agents.memory.session_settings import (
        SessionSettings,
        coerce_session_settings,
        resolve_session_limit,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "unistore.integrations.openai_agents needs the OpenAI Agents SDK: "
        'pip install "unistore[openai-agents]"'
    ) from exc

from unistore._sessions._opening import check_scope, check_session_id, check_session_ttl
from unistore._url import StoreURL
from unistore.errors import (
    CorruptionError,
    SessionExistsError,
    SessionNotFoundError,
    StoreTimeoutError,
    StoreUnavailableError,
    ValidationError,
)
from unistore.integrations._bridge import StoreBridge
from unistore.protocols import FullStore, Store
from unistore.sdk import check_token

__all__ = ["UnistoreSession"]

_OWNER = "UnistoreSession"
# Failures after which an append may or may not have been applied.
_IN_DOUBT = (StoreTimeoutError, StoreUnavailableError)
# Our own resends of a write in doubt (drivers already resend token writes
# they know are safe); each resend carries the write's token, so it applies once.
_RESENDS = 2
# Rounds of create-then-append while another writer keeps clearing the session.
_FIRST_USE_TRIES = 3


class UnistoreSession:
    """An OpenAI Agents SDK ``Session`` stored in a unistore session document.

    Each item is stored as one message (its JSON text), in order. Items are
    never rewritten: ``add_items`` is one atomic append, ``pop_item`` one
    atomic pop, so any number of runners, threads and processes can share a
    session without losing an item.

    Args:
        session_id: The session's id: any text of 1 to 1024 characters.
        store_or_url: A store URL (the session opens the store and owns it;
            close it with :meth:`aclose` or :meth:`close`) or an open store
            (borrowed: the application closes it).
        scope: The scope the session lives in (a user, a tenant); ``None`` is
            the default scope. Sessions of other scopes are invisible.
        ttl: Seconds (or a ``timedelta``) the session lives after its last
            write; ``None`` keeps it until cleared. Applies when the session
            is created, by the first ``add_items``.
        session_settings: Defaults for the session, as in the SDK
            (``SessionSettings(limit=20)`` or ``{"limit": 20}``): ``limit``
            applies when ``get_items`` gets none.
        options: Driver options for a URL (see the driver's page).

    Raises:
        ValidationError: An argument is of the wrong type or out of range.
    """

    session_id: str
    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        store_or_url: str | StoreURL | Store,
        *,
        scope: str | None = None,
        ttl: float | timedelta | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.session_id = check_session_id(session_id)
        if not 0 < len(self.session_id) <= 1024:
            raise ValidationError("a session id must be 1 to 1024 characters")
        self._scope = check_scope(scope)
        self._ttl = check_session_ttl(ttl)
        if session_settings is not None and not isinstance(
            session_settings, SessionSettings | Mapping
        ):
            raise ValidationError(
                "session_settings must be a SessionSettings, a mapping or None, "
                f"got {type(session_settings).__name__}"
            )
        self.session_settings = _settings(session_settings)
        self._bridge = StoreBridge(store_or_url, owner=_OWNER, options=options)
        # A write whose reply was lost: (its texts, its token). The next
        # add_items of the same items resends it with that token, so the
        # natural retry after a timeout stores the items once.
        self._in_doubt: tuple[list[str], str] | None = None

    @property
    def scope(self) -> str | None:
        """The scope the session lives in (``None``: the default scope)."""
        return self._scope

    @property
    def store(self) -> FullStore:
        """The store holding the session."""
        return self._bridge.store

    def __repr__(self) -> str:
        return f"UnistoreSession({self.session_id[:80]!r}, scope={self._scope!r})"

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """Return the session's items in order, or only the latest ``limit``.

        Args:
            limit: How many of the latest items to return; ``None`` takes
                ``session_settings.limit`` (``None`` there too: all). ``0``
                or less returns none, as with the SDK's own sessions.

        Raises:
            ValidationError: ``limit`` is not an int.
            CorruptionError: A stored message is not an item's JSON.
        """
        wanted = resolve_session_limit(limit, self.session_settings)
        if wanted is not None:
            if isinstance(wanted, bool) or not isinstance(wanted, int):
                raise ValidationError(f"limit must be an int or None, got {type(wanted).__name__}")
            if wanted <= 0:  # as the SDK's sessions agree: no items
                return []
        sid, scope = self.session_id, self._scope
        try:
            texts = await self._bridge.call(
                lambda s: s.read_messages(sid, last=wanted, scope=scope)
            )
        except SessionNotFoundError:
            return []
        return [self._decode(text) for text in texts]

    async def add_items(
        self, items: Sequence[TResponseInputItem], *, token: str | None = None
    ) -> None:
        """Append items in one atomic step, creating the session on first use.

        Concurrent calls from tasks, threads and processes all land, each item
        once, in the order the store applied the calls.

        Args:
            items: The items (JSON-compatible mappings) to append.
            token: An idempotency token (1 to 200 printable ASCII characters):
                a call repeated with the same token is applied once. Without
                one, each call gets a fresh token, and a call repeated with
                the same items right after a timeout reuses it.

        Raises:
            ValidationError: An item is not a JSON-compatible mapping.
            StoreTimeoutError: The store did not answer after resending; the
                items may have been stored: call again with the same items
                (or the same token) to make sure they are, once.
        """
        if not isinstance(items, list | tuple):
            raise ValidationError(f"items must be a list, got {type(items).__name__}")
        texts = [_encode(item, index) for index, item in enumerate(items)]
        check_token(token)
        if not texts:
            return
        if token is None:
            doubt = self._in_doubt
            token = doubt[1] if doubt is not None and doubt[0] == texts else uuid.uuid4().hex
        for resend in range(_RESENDS + 1):
            try:
                await self._append(texts, token)
            except _IN_DOUBT:
                self._in_doubt = (texts, token)
                if resend == _RESENDS:
                    raise
            except asyncio.CancelledError:
                # The append may still land: a retry of these items must
                # carry the same token.
                self._in_doubt = (texts, token)
                raise
            else:
                self._in_doubt = None
                return

    async def _append(self, texts: list[str], token: str) -> None:
        sid, scope = self.session_id, self._scope
        for _ in range(_FIRST_USE_TRIES):
            try:
                await self._bridge.call(
                    lambda s: s.append_messages(sid, texts, token=token, scope=scope)
                )
                return
            except SessionNotFoundError:
                pass
            # First use. Of two first writers one creates the session and the
            # other sees it exists; both then append, so neither loses its
            # items. A clear_session in between sends us round again.
            with contextlib.suppress(SessionExistsError):
                await self._bridge.call(lambda s: s.create_session(sid, scope=scope, ttl=self._ttl))
        await self._bridge.call(lambda s: s.append_messages(sid, texts, token=token, scope=scope))

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the latest item atomically and return it (``None`` if empty).

        Two concurrent calls never return the same item. After a timeout the
        item may have been removed: read the session before popping again.

        Raises:
            CorruptionError: The stored message is not an item's JSON.
        """
        sid, scope = self.session_id, self._scope
        try:
            popped = await self._bridge.call(lambda s: s.pop_messages(sid, 1, scope=scope))
        except SessionNotFoundError:
            return None
        return self._decode(popped[0]) if popped else None

    async def clear_session(self) -> None:
        """Delete the session and all its items; the next ``add_items`` starts afresh."""
        sid, scope = self.session_id, self._scope
        await self._bridge.call(lambda s: s.delete_session(sid, scope=scope))
        self._in_doubt = None

    async def aclose(self) -> None:
        """Close the store if the session opened it from a URL."""
        await self._bridge.aclose()

    def close(self) -> None:
        """Blocking :meth:`aclose`, for code without an event loop."""
        self._bridge.close()

    async def __aenter__(self) -> UnistoreSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _decode(self, text: str) -> TResponseInputItem:
        try:
            item: TResponseInputItem = json.loads(text)
            return item
        except ValueError:
            # Skipping it (as the SDK's SQLite session does) would shift what
            # "the latest N items" means without a word; say so instead.
            raise CorruptionError(
                f"session {self.session_id[:80]!r} holds a message that is not JSON"
            ) from None


def _settings(value: SessionSettings | Mapping[str, Any] | None) -> SessionSettings:
    if value is None:
        return SessionSettings()
    if isinstance(value, SessionSettings):
        return value
    try:
        return coerce_session_settings(dict(value))
    except (TypeError, ValueError):
        # The SDK's message quotes the values; name the keys instead.
        keys = ", ".join(sorted(map(str, value)))[:200]
        raise ValidationError(
            f"session_settings has an unknown key or a bad value (keys: {keys}); "
            "the SDK's SessionSettings takes 'limit' (an int or None)"
        ) from None


def _encode(item: object, index: int) -> str:
    if not isinstance(item, Mapping):
        raise ValidationError(f"item {index} must be a mapping, got {type(item).__name__}")
    try:
        return json.dumps(dict(item), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"item {index} is not JSON-compatible: {exc}") from None
