r"""Key layout: how namespaces, slots and sessions become Redis keys.

Every id is percent-escaped before it enters a key, so that no id can contain
the characters that matter to Redis (``{`` and ``}`` delimit the hash tag that
keeps one namespace on one cluster slot; ``*?[]\`` are glob characters) or to
the layout itself (``:`` separates parts). Escaping is injective: ``%`` is
escaped too, so two different ids never give the same key.

Layout (``P`` is the store's key prefix, ``<e>`` an escaped scope, ``<T>``
the tag code of one session bucket, see :mod:`unistore_redis._buckets`)::

    P:{<ns>}:s:<slot>          a slot (string or hash)
    P:{<ns>}:idx               per-namespace index: ZSET slot -> expiry (ms, +inf: never)
    P:{<ns>}:names             the same slot names, all scored 0, for lexical ranges
    P:{:meta}:sessions         the session layout record (hash: ``buckets``)
    P:{:b<T>}:s:<id>:r         a default-scope session's record (hash)
    P:{:b<T>}:s:<id>:m:<g>     the messages of its generation <g> (list; ``:m`` for 0)
    P:{:b<T>}:s:<id>:p         the pins its forks hold on its generations (hash)
    P:{:b<T>}:s:<id>:t         its idempotency tokens: token -> length (hash)
    P:{:b<T>}:s:<id>:q         the same tokens, oldest first (list)
    P:{:b<T>}:s:<id>:z:<nonce> a fork pin a check revoked (string, expires in a day)
    P:{:b<T>}:list             the bucket's listing of the default scope (ZSET, lexical)
    P:{:b<T>}:S:<e>:s:<id>:r, ...   a session of scope <e> (same suffixes)
    P:{:b<T>}:S:<e>:list       the bucket's listing of scope <e>
    P:{:b<T>}:expiry           the bucket's sessions with a TTL: ZSET stem -> expiry (us)
    P:{:b<T>}:clock            last ``updated_at`` the bucket handed out (microseconds)
    P:{:b<T>}:gen              last generation number the bucket handed out

A session's bucket is a stable hash of its scope and id, and every key of a
session, its bucket's listings, clock and expiry index share the bucket's
hash tag: each session operation is one script on one cluster slot, and the
buckets spread sessions evenly over a cluster's masters. A fork reads the
messages it shares from a *generation* of its base, which it pinned before it
was created; its base never changes a pinned generation (an edit below a pin
starts a new one), so nothing has to be atomic across slots (see
:mod:`unistore_redis._lua_session_helpers`).

The previous layout kept every session key under one tag, ``{:sessions}``
(``P:{:sessions}:s:<id>:r``, ``:m``, ``:f``, ``:t``, ``:q``,
``P:{:sessions}:list``, ``P:{:sessions}:S:<e>:...``, ``:expiry``, ``:clock``).
:class:`KeyLayout` still names those keys (``session_stem`` and friends) so
that :mod:`unistore_redis._migrate` can move such stores into buckets.

An escaped id or scope never contains ``:``, so the internal tags
``{:meta}``, ``{:b<T>}`` and ``{:sessions}`` cannot collide with a namespace,
``:S:<e>:`` cannot run into another scope and ``:s:<id>:`` cannot run into
another id; every key of the store starts with ``P:{``, which is what
:meth:`KeyLayout.glob` matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

__all__ = ["KeyLayout", "escape", "glob_escape", "lex_range", "unescape"]

_SPECIAL = re.compile(rb"[%{}*?\[\]:\\\x00-\x1f\x7f]")
_ESCAPED = re.compile(rb"%([0-9A-F]{2})")
_GLOB = re.compile(rb"([*?\[\]\\])")


def _hex(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


def escape(text: str) -> bytes:
    """Return ``text`` as UTF-8 with the special bytes percent-encoded.

    Lone surrogates are kept (``surrogatepass``) so that any ``str`` round-trips.
    """
    raw = text.encode("utf-8", "surrogatepass")
    return _SPECIAL.sub(_hex, raw)


def unescape(raw: bytes) -> str:
    """Invert :func:`escape`."""
    return _ESCAPED.sub(lambda m: bytes((int(m.group(1), 16),)), raw).decode(
        "utf-8", "surrogatepass"
    )


def lex_range(prefix: str) -> tuple[bytes, bytes]:
    r"""Return the ``ZRANGEBYLEX`` bounds of the escaped names starting with ``prefix``.

    Escaping maps each character on its own, so a name starts with
    ``prefix`` exactly when its escaped form starts with ``escape(prefix)``.
    Escaped text is UTF-8, which never contains the byte ``0xFF``: every
    escaped name with that start sorts below ``escape(prefix) + b"\xff"``.
    """
    if not prefix:
        return b"-", b"+"
    start = escape(prefix)
    return b"[" + start, b"(" + start + b"\xff"


def glob_escape(raw: bytes) -> bytes:
    """Escape the glob characters of ``raw`` for ``SCAN MATCH``."""
    return _GLOB.sub(rb"\\\1", raw)


class KeyLayout:
    """Builds the keys of one store (one key prefix)."""

    __slots__ = (
        "_namespace_cached",
        "clock",
        "expiry",
        "listing",
        "member",
        "prefix",
        "sessions",
    )

    def __init__(self, key_prefix: str) -> None:
        self.prefix = key_prefix.encode("utf-8")
        self.sessions = self.prefix + b":{:sessions}"
        #: The listing of the default scope.
        self.listing = self.sessions + b":list"
        self.clock = self.sessions + b":clock"
        self.expiry = self.sessions + b":expiry"
        # Namespaces and slot names repeat across calls; escaping each once
        # saves work on the hot path.
        self._namespace_cached = lru_cache(maxsize=4096)(self._namespace)
        #: The escaped form of a slot name (:func:`escape`, cached).
        self.member: Callable[[str], bytes] = lru_cache(maxsize=4096)(escape)

    def namespace(self, ns: str) -> tuple[bytes, bytes, bytes]:
        """Return (slot key prefix, expiry index key, name index key) of ``ns``."""
        return self._namespace_cached(ns)

    def _namespace(self, ns: str) -> tuple[bytes, bytes, bytes]:
        # An empty hash tag ``{}`` would not be a tag at all for Redis Cluster;
        # a lone "%" can never come out of escape(), so it stands for "".
        stem = b"%s:{%s}:" % (self.prefix, escape(ns) or b"%")
        return stem + b"s:", stem + b"idx", stem + b"names"

    def slot(self, ns: str, slot: str) -> bytes:
        """Return the key of one slot."""
        return self._namespace_cached(ns)[0] + self.member(slot)

    # -- the previous session layout (read by _migrate) --------------------------

    def _scope_base(self, scope: str) -> bytes:
        # The default scope has no part of its own: its keys are the ones the
        # driver wrote before scopes existed. escape() of a non-empty scope is
        # non-empty and has no ":", so ":S:<e>" names one scope only.
        return self.sessions if not scope else b"%s:S:%s" % (self.sessions, escape(scope))

    def session_stem(self, session_id: str, scope: str = "") -> bytes:
        """Return the stem of a session's keys in the previous layout (``:r``, ``:m``, ...)."""
        return b"%s:s:%s" % (self._scope_base(scope), escape(session_id))

    def scope_listing(self, scope: str) -> bytes:
        """Return the listing index of a scope (``""``: the default scope)."""
        return self._scope_base(scope) + b":list"

    def scope_glob(self) -> bytes:
        """Return a ``SCAN MATCH`` pattern for the listings of the non-default scopes.

        Session keys end in a one-letter suffix, never in ``:list``, so only
        listings match.
        """
        return glob_escape(self.sessions) + b":S:*:list"

    def scope_of_listing(self, key: bytes) -> str:
        """Return the scope whose listing is ``key`` (one :meth:`scope_glob` matched)."""
        return unescape(key[len(self.sessions) + len(b":S:") : -len(b":list")])

    def index_glob(self, ns_prefix: str) -> bytes:
        """Return a ``SCAN MATCH`` pattern for the indexes of the namespaces under a prefix.

        Escaping maps each byte on its own, so ``escape(prefix)`` starts
        ``escape(ns)`` exactly when ``prefix`` starts ``ns``; the escaped id
        cannot contain ``}``, so the ``}:idx`` suffix cannot match a slot key.
        """
        return b"%s:{%s*}:idx" % (glob_escape(self.prefix), glob_escape(escape(ns_prefix)))

    def namespace_of_index(self, key: bytes) -> str:
        """Return the namespace whose index is ``key``."""
        tag = key[len(self.prefix) + 2 : -len(b"}:idx")]
        return "" if tag == b"%" else unescape(tag)

    def glob(self) -> bytes:
        """Return a ``SCAN MATCH`` pattern matching every key of this store and no other."""
        return glob_escape(self.prefix) + b":{*"
