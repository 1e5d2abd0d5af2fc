"""LangChain chat message history on a unistore session."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from unistore._url import StoreURL
from unistore.errors import (
    CorruptionError,
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore.integrations._bridge import BridgeOwner, StoreBridge
from unistore.integrations._langchain._checks import check_session_id, check_session_ttl
from unistore.protocols import FullStore, Store
from unistore.sdk import check_scope, short

_OWNER = "UnistoreChatMessageHistory"
#: Writes in doubt remembered per history: the store keeps at least this many
#: tokens per session, so an older one could not make a retry exactly-once anyway.
_IN_DOUBT_KEPT = 100


def _to_text(message: BaseMessage, position: int) -> str:
    data = message_to_dict(message)
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(
            f"{_OWNER}: message {position} of the batch is not JSON-serialisable: {exc}"
        ) from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate in the content: keep it as a JSON escape.
            text = json.dumps(data, separators=(",", ":"))
    return text


class UnistoreChatMessageHistory(BridgeOwner, BaseChatMessageHistory):
    """A LangChain chat message history stored as a unistore session.

    The history is the message log of the session ``session_id`` in
    ``scope``. Each message is stored as the JSON of langchain-core's
    ``message_to_dict``. The session is created by the first
    :meth:`aadd_messages`; reading a history that has no session yet returns
    no messages.

    Every :meth:`aadd_messages` is one atomic, unconditional append: writers
    in any number of tasks, threads and processes all succeed, and each
    batch lands whole and once. Each append carries an idempotency token; if
    an append fails (a timeout or a lost connection may hide that it was
    applied), the same messages given again to this history are sent with
    the same token, so a retry stores them exactly once.

    Args:
        session_id: The session holding the history: any text of 1 to 1024
            characters (``*``, ``:``, ``/`` and ``..`` are plain text).
        store_or_url: A store URL (opened here and closed by :meth:`close`)
            or an open unistore store (borrowed: the application closes it).
        scope: The scope of the session (an application, a user, a tenant);
            ``None`` is the default scope. Histories of one id in two scopes
            are unrelated.
        ttl: Seconds (or a ``timedelta``) the session lives after its last
            write; ``None``: it never expires.

    Raises:
        ValidationError: A bad session id, scope or ttl, or ``store_or_url``
            is neither a URL nor a store.
    """

    def __init__(
        self,
        session_id: str,
        store_or_url: str | StoreURL | Store,
        *,
        scope: str | None = None,
        ttl: float | timedelta | None = None,
    ) -> None:
        super().__init__()
        # Arguments are checked before the bridge opens anything.
        self._session_id = check_session_id(session_id, _OWNER)
        check_scope(scope)
        self._scope = scope
        self._ttl = check_session_ttl(ttl, _OWNER)
        self._bridge = StoreBridge(store_or_url, owner=_OWNER)
        self._lock = threading.Lock()
        self._in_doubt: OrderedDict[tuple[str, ...], str] = OrderedDict()

    @property
    def session_id(self) -> str:
        """The session holding the history."""
        return self._session_id

    @property
    def scope(self) -> str | None:
        """The scope of the session (``None``: the default scope)."""
        return self._scope

    @property
    def store(self) -> FullStore:
        """The unistore store the session lives in."""
        return self._bridge.store

    def __repr__(self) -> str:
        scope = "None" if self._scope is None else short(self._scope)
        return f"{_OWNER}(session_id={short(self._session_id)}, scope={scope})"

    # -- the operations, once for the async and the blocking API --------------------------

    def _texts(self, messages: Sequence[BaseMessage]) -> list[str]:
        given: object = messages
        if isinstance(given, str | bytes | BaseMessage) or not isinstance(given, Sequence):
            raise ValidationError(
                f"{_OWNER}: messages must be a sequence of BaseMessage, "
                f"got {type(messages).__name__}"
            )
        texts = []
        for position, message in enumerate(messages):
            if not isinstance(message, BaseMessage):
                raise ValidationError(
                    f"{_OWNER}: message {position} of the batch must be a BaseMessage, "
                    f"got {type(message).__name__}"
                )
            texts.append(_to_text(message, position))
        return texts

    def _token_for(self, texts: list[str]) -> tuple[tuple[str, ...], str]:
        key = tuple(texts)
        with self._lock:
            token = self._in_doubt.get(key)
        return key, token or uuid.uuid4().hex

    def _settled(self, key: tuple[str, ...], token: str, *, applied: bool) -> None:
        with self._lock:
            if applied:
                self._in_doubt.pop(key, None)
                return
            self._in_doubt[key] = token
            self._in_doubt.move_to_end(key)
            while len(self._in_doubt) > _IN_DOUBT_KEPT:
                self._in_doubt.popitem(last=False)

    async def _append(self, store: FullStore, texts: list[str], token: str) -> int:
        sid, scope = self._session_id, self._scope
        try:
            return await store.append_messages(sid, texts, token=token, scope=scope)
        except SessionNotFoundError:
            pass
        # Another writer may create it first: then append to theirs.
        with contextlib.suppress(SessionExistsError):
            await store.create_session(sid, scope=scope, ttl=self._ttl)
        return await store.append_messages(sid, texts, token=token, scope=scope)

    async def _read(self, store: FullStore) -> list[BaseMessage]:
        try:
            texts = await store.read_messages(self._session_id, scope=self._scope)
        except SessionNotFoundError:
            return []
        return self._parse(texts)

    def _parse(self, texts: list[str]) -> list[BaseMessage]:
        dicts: list[Any] = []
        for position, text in enumerate(texts):
            try:
                dicts.append(json.loads(text))
            except ValueError:
                raise self._corrupt(position) from None
        try:
            return messages_from_dict(dicts)
        except (KeyError, TypeError, ValueError, AttributeError):
            for position, one in enumerate(dicts):
                try:
                    messages_from_dict([one])
                except (KeyError, TypeError, ValueError, AttributeError):
                    raise self._corrupt(position) from None
            raise  # pragma: no cover - the batch failed, so one message fails

    def _corrupt(self, position: int) -> CorruptionError:
        return CorruptionError(
            f"{_OWNER}: message {position} of session {short(self._session_id)} "
            "is not a LangChain message (message_to_dict JSON)"
        )

    async def _clear(self, store: FullStore) -> None:
        await store.delete_session(self._session_id, scope=self._scope)

    # -- async API ------------------------------------------------------------------

    async def aget_messages(self) -> list[BaseMessage]:
        """Return the messages of the history, oldest first (none if it has no session).

        Raises:
            CorruptionError: A stored message is not a LangChain message.
        """
        return await self._bridge.call(self._read)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in one atomic step, creating the session if needed.

        A batch that failed (for any reason) is remembered: giving the same
        messages again sends the same idempotency token, so the retry is
        applied exactly once even if the failed call was applied.

        Raises:
            ValidationError: ``messages`` is not a sequence of messages or one
                is not JSON-serialisable; nothing was written.
        """
        texts = self._texts(messages)
        if not texts:
            return
        key, token = self._token_for(texts)
        try:
            await self._bridge.call(lambda store: self._append(store, texts, token))
        except BaseException:
            self._settled(key, token, applied=False)
            raise
        self._settled(key, token, applied=True)

    async def aclear(self) -> None:
        """Delete the session (record and messages); the next append creates it anew."""
        await self._bridge.call(self._clear)

    # -- blocking API -----------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """Blocking :meth:`aget_messages`."""
        return self._bridge.run(self._read)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Blocking :meth:`aadd_messages`."""
        texts = self._texts(messages)
        if not texts:
            return
        key, token = self._token_for(texts)
        try:
            self._bridge.run(lambda store: self._append(store, texts, token))
        except BaseException:
            self._settled(key, token, applied=False)
            raise
        self._settled(key, token, applied=True)

    def clear(self) -> None:
        """Blocking :meth:`aclear`."""
        self._bridge.run(self._clear)
