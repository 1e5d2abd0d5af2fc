"""Conformance tests of prefix listing: ``slots(ns, prefix)`` is exact for any text.

A driver filters natively (a key range, ``LIKE``, a sorted index); each prefix
here breaks one way of doing so: LIKE and glob wildcards, escape characters,
code points past the Basic Multilingual Plane, U+10FFFF (no code point
follows it), NUL, and prefixes equal to or longer than the names.
"""

from __future__ import annotations

import pytest

from unistore.errors import ValidationError
from unistore.protocols import Capability
from unistore.testing._clock import ManualClock, pass_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, IdFactory, gather, require

__all__ = ["PrefixSuite"]

KV = Capability.KEY_VALUE
HASH = Capability.HASH
COUNTER = Capability.COUNTER
LIFECYCLE = Capability.NAMESPACE_LIFECYCLE

#: The prefixes listed, by test id.
PREFIXES: dict[str, str] = {
    "empty": "",
    "percent": "%",
    "underscore": "_",
    "star": "*",
    "question": "?",
    "bracket": "[",
    "range": "[a-z]",
    "backslash": "\\",
    "like-escape": "a\\_",
    "colon": ":",
    "dot": ".",
    "caret": "^",
    "quote": "'",
    "letter": "a",
    "whole-name": "ab",
    "longer-than-names": "abcdefghijklmnopqrstuvwxyz-and-more",
    "e-acute": "\u00e9",
    "emoji": "\U0001f600",
    "bmp-last": "\uffff",
    "max-code-point": "\U0010ffff",
    "max-then-letter": "\U0010ffffa",
    "nul": "\x00",
}

#: Names written for every prefix: look-alikes, wildcard victims and neighbours in
#: code point order (U+FFFF < U+10000 < U+10FFFF; "A" < "a"; "\\" sorts between).
NAMES: tuple[str, ...] = (
    "a",
    "A",
    "ab",
    "abc",
    "aB",
    "ab\U0010ffff",
    "ax",
    "b",
    "%",
    "%a",
    "%%",
    "_",
    "_a",
    "a_",
    "a\\_",
    "a\\_x",
    "a\\x",
    "*",
    "*a",
    "?",
    "?a",
    "[",
    "[a",
    "[a-z]",
    "[a-z]x",
    "\\",
    "\\a",
    "\\\\",
    ":",
    ":a",
    "a:b",
    "::",
    ".",
    ".a",
    "^",
    "^a",
    "'",
    "'a",
    "\u00e9",
    "\u00e9a",
    "e",
    "e\u0301",
    "\ue000",
    "\ufffe",
    "\uffff",
    "\uffffa",
    "\U00010000",
    "\U0001f600",
    "\U0001f600a",
    "\U0010ffff",
    "\U0010ffffa",
    "\U0010ffff\U0010ffff",
    "\x00",
    "\x00a",
    "\x01",
    "zz",
    "~",
)


def names_for(prefix: str) -> list[str]:
    """:data:`NAMES` plus names that extend ``prefix`` with the characters that sort last."""
    extra = []
    if prefix:
        tails = ("", "x", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "\x00", prefix)
        extra = [prefix + tail for tail in tails] + ["x" + prefix]
    return sorted(set(NAMES) | set(extra))


class PrefixSuite(SuiteFixtures):
    """slots(ns, prefix): exactly the live slots that start with the prefix, sorted."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("prefix", list(PREFIXES.values()), ids=list(PREFIXES))
    async def test_slots_with_a_prefix_are_exactly_those_starting_with_it(
        self, store: FullStore, ids: IdFactory, prefix: str
    ) -> None:
        """The prefix is plain text: no wildcard, escape or collation changes the result."""
        require(store, LIFECYCLE, KV)
        ns = ids.ns()
        names = names_for(prefix)
        # Neighbour namespaces hold look-alikes: a range over ns + slot must not reach them.
        neighbours = [ids.track_ns(ns + ":"), ids.track_ns(ns + prefix + "\U0010ffff")]
        await gather(*(store.set(ns, name, b"v", ttl=LONG_TTL) for name in names))
        await gather(
            *(store.set(other, prefix + "-neighbour", b"v", ttl=LONG_TTL) for other in neighbours)
        )
        expected = sorted(name for name in names if name.startswith(prefix))
        got = await store.slots(ns, prefix)
        missing = sorted(set(expected) - set(got))
        assert not missing, f"prefix {prefix!r} missed {missing!r}"
        assert got == expected
        assert await store.slots(ns) == names

    @pytest.mark.asyncio
    async def test_prefix_listing_excludes_expired_and_deleted_slots(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """Expired and deleted slots are not listed under their prefix."""
        require(store, LIFECYCLE, KV)
        await store.set(ns, "p:gone", b"v", ttl=self.short_ttl)
        await store.set(ns, "p:kept", b"v", ttl=LONG_TTL)
        await store.set(ns, "p:deleted", b"v", ttl=LONG_TTL)
        await store.set(ns, "q:gone", b"v", ttl=self.short_ttl)
        await store.delete(ns, "p:deleted")
        await pass_time(clock, self.expiry_wait)
        assert await store.slots(ns, "p:") == ["p:kept"]
        assert await store.slots(ns, "q:") == []
        assert await store.slots(ns) == ["p:kept"]

    @pytest.mark.asyncio
    async def test_prefix_listing_covers_every_kind(self, store: FullStore, ns: str) -> None:
        """Scalars, hashes and counters are all listed under their prefix."""
        require(store, LIFECYCLE)
        caps = store.capabilities
        written = []
        if KV in caps:
            await store.set(ns, "p:scalar", b"v", ttl=LONG_TTL)
            written.append("p:scalar")
        if HASH in caps:
            await store.hset(ns, "p:hash", {"f": b"v"}, ttl=LONG_TTL)
            await store.hset(ns, "other", {"f": b"v"}, ttl=LONG_TTL)
            written.append("p:hash")
        if COUNTER in caps:
            await store.incr(ns, "p:counter", ttl=LONG_TTL)
            written.append("p:counter")
        if not written:
            pytest.skip("no capability that writes slots")
        assert await store.slots(ns, "p:") == sorted(written)
        assert await store.slots(ns, "p:h") == [name for name in ["p:hash"] if name in written]

    @pytest.mark.asyncio
    async def test_prefix_listing_of_many_slots_is_complete(
        self, store: FullStore, ns: str
    ) -> None:
        """Hundreds of matches come back in full (no page or scan batch is dropped)."""
        require(store, LIFECYCLE, KV)
        wanted = [f"p:{i:04d}" for i in range(300)]
        others = [f"{c}:{i:04d}" for c in "ioq" for i in range(50)]
        await gather(*(store.set(ns, name, b"v", ttl=LONG_TTL) for name in wanted + others))
        assert await store.slots(ns, "p:") == wanted
        assert await store.slots(ns, "p:00") == wanted[:100]
        assert await store.slots(ns, "p:0299") == ["p:0299"]
        assert await store.slots(ns, "p:0300") == []

    @pytest.mark.asyncio
    @pytest.mark.parametrize("bad", [5, None, b"p"], ids=repr)
    async def test_a_prefix_that_is_not_str_is_refused(
        self, store: FullStore, ns: str, bad: object
    ) -> None:
        """The prefix is a str: anything else raises ValidationError naming the prefix."""
        require(store, LIFECYCLE)
        with pytest.raises(ValidationError, match="prefix"):
            await store.slots(ns, bad)  # type: ignore[arg-type]
