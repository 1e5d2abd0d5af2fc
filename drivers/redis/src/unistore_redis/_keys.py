r"""Key layout: how namespaces, slots and sessions become Redis keys.

Every id is percent-escaped before it enters a key, so that no id can contain
the characters that matter to Redis (``{`` and ``}`` delimit the hash tag that
keeps one namespace on one cluster slot; ``*?[]\`` are glob characters) or to
the layout itself (``:`` separates parts). Escaping is injective: ``%`` is
escaped too, so two different ids never give the same key.

Layout (``P`` is the store's key prefix)::

    P:{<ns>}:s:<slot>          a slot (string or hash)
    P:{<ns>}:idx               per-namespace index: ZSET slot -> expiry (ms)
    P:{:sessions}:s:<id>:r     a session's record (hash)
    P:{:sessions}:s:<id>:m     a session's own messages (list)
    P:{:sessions}:s:<id>:f     the sessions forked from it (set of key stems)
    P:{:sessions}:list         listing index of every session (ZSET, lexical)
    P:{:sessions}:clock        last ``updated_at`` handed out (microseconds)

Every session key shares one hash tag with the listing because one script may
touch several sessions (a fork, its base chain, the listing) and Redis Cluster
only runs a script whose keys live in one slot. An escaped id never contains
``:``, so the internal tag ``{:sessions}`` cannot collide with a namespace and
``:s:<id>:`` cannot run into another id; every key of the store starts with
``P:{``, which is what :meth:`KeyLayout.glob` matches.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["KeyLayout", "escape", "glob_escape", "unescape"]

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


def glob_escape(raw: bytes) -> bytes:
    """Escape the glob characters of ``raw`` for ``SCAN MATCH``."""
    return _GLOB.sub(rb"\\\1", raw)


class KeyLayout:
    """Builds the keys of one store (one key prefix)."""

    __slots__ = ("_namespace_cached", "clock", "listing", "prefix")

    def __init__(self, key_prefix: str) -> None:
        self.prefix = key_prefix.encode("utf-8")
        self.listing = self.prefix + b":{:sessions}:list"
        self.clock = self.prefix + b":{:sessions}:clock"
        # Namespaces repeat across calls; escaping them once saves work on the hot path.
        self._namespace_cached = lru_cache(maxsize=4096)(self._namespace)

    def namespace(self, ns: str) -> tuple[bytes, bytes]:
        """Return (slot key prefix, index key) of ``ns``."""
        return self._namespace_cached(ns)

    def _namespace(self, ns: str) -> tuple[bytes, bytes]:
        # An empty hash tag ``{}`` would not be a tag at all for Redis Cluster;
        # a lone "%" can never come out of escape(), so it stands for "".
        stem = b"%s:{%s}:" % (self.prefix, escape(ns) or b"%")
        return stem + b"s:", stem + b"idx"

    def slot(self, ns: str, slot: str) -> bytes:
        """Return the key of one slot."""
        return self.namespace(ns)[0] + escape(slot)

    def session_stem(self, session_id: str) -> bytes:
        """Return the common stem of a session's keys (``:r``, ``:m``, ``:f`` follow)."""
        return b"%s:{:sessions}:s:%s" % (self.prefix, escape(session_id))

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
