"""Key layout: escaping is injective and keeps ids out of hash tags and globs."""

from __future__ import annotations

import fnmatch
import itertools
import re

import pytest

from unistore_redis._buckets import SessionLayout
from unistore_redis._keys import KeyLayout, escape, glob_escape, unescape

HOSTILE = [
    "",
    "*",
    "?",
    "[",
    "]",
    "[a-z]",
    ":",
    "::",
    "{",
    "}",
    "{}",
    "{tag}",
    "a}b{c",
    "%",
    "%25",
    "%7B",
    "%%",
    "\\",
    "\\*",
    "/",
    "..",
    "../x",
    "\x00",
    "\x00\x01",
    "\n",
    "\r\n",
    "\x7f",
    " ",
    "é",
    "日本",
    "\ud800",
    "s:x",
    "idx",
    "x:idx",
    ":s:",
    "sessions",
    ":sessions",
    "a" * 10240,
]


def test_escape_round_trips() -> None:
    for text in HOSTILE:
        assert unescape(escape(text)) == text


def test_escaped_text_has_no_special_bytes() -> None:
    for text in HOSTILE:
        assert re.search(rb"[{}*?\[\]:\\\x00-\x1f\x7f]", escape(text)) is None


def test_escape_is_injective() -> None:
    escaped = [escape(text) for text in HOSTILE]
    assert len(set(escaped)) == len(HOSTILE)


def test_keys_never_collide() -> None:
    layout = KeyLayout("p")
    ids = HOSTILE[:-1]  # the 10 KB id makes the product slow without adding cases
    keys: dict[bytes, tuple[str, str]] = {}
    for ns, slot in itertools.product(ids, ids):
        key = layout.slot(ns, slot)
        assert keys.setdefault(key, (ns, slot)) == (ns, slot)
    indexes = {layout.namespace(ns)[1] for ns in ids}
    assert len(indexes) == len(ids)
    assert not indexes & set(keys)
    sessions = {layout.session_stem(sid) + suffix for sid in ids for suffix in (b":r", b":m")}
    assert len(sessions) == 2 * len(ids)
    assert not sessions & (set(keys) | indexes)
    assert not {layout.listing, layout.clock} & (set(keys) | indexes | sessions)


def test_hash_tag_is_the_whole_escaped_namespace() -> None:
    layout = KeyLayout("p")
    for ns in HOSTILE:
        key = layout.slot(ns, "{slot}")
        tag = key[key.index(b"{") + 1 : key.index(b"}")]
        assert tag, "an empty hash tag would not be a tag"
        assert tag == (escape(ns) or b"%")
        assert layout.namespace(ns)[1].startswith(key[: key.index(b"}") + 1])


def test_glob_matches_only_this_prefix() -> None:
    layout = KeyLayout("a*b")
    pattern = layout.glob().decode()
    mine = [layout.slot("ns", "x"), layout.namespace("*")[1], layout.session_stem("s")]
    mine.append(layout.listing)
    others = [
        KeyLayout("aXb").slot("ns", "x"),
        KeyLayout("a*b:c").slot("ns", "x"),
        KeyLayout("a*bc").slot("ns", "x"),
        b"a*b",
        b"a*b:",
    ]
    # Redis globs follow fnmatch rules for these characters, backslash escapes included.
    regex = re.compile(fnmatch.translate(pattern.replace("\\*", "\x01")).replace("\x01", r"\*"))
    for key in mine:
        assert regex.match(key.decode("utf-8", "surrogatepass"))
    for key in others:
        assert not regex.match(key.decode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("raw", [b"a*b", b"[x]", b"q?", b"back\\slash"])
def test_glob_escape(raw: bytes) -> None:
    escaped = glob_escape(raw)
    assert escaped.replace(b"\\", b"") == raw.replace(b"\\", b"")
    assert re.search(rb"(?<!\\)[*?\[\]]", escaped) is None


def test_namespace_of_index_inverts_the_layout() -> None:
    layout = KeyLayout("p*")
    for ns in HOSTILE:
        assert layout.namespace_of_index(layout.namespace(ns)[1]) == ns
        pattern = layout.index_glob(ns)
        # Only the final "*" before "}:idx" is a live glob character.
        assert pattern.endswith(b"*}:idx")
        assert re.search(rb"(?<!\\)[*?\[\]]", pattern[:-6]) is None


def test_bucketed_session_keys_never_collide() -> None:
    layout, sessions = KeyLayout("p"), SessionLayout(b"p", 64)
    ids = HOSTILE[:-1]
    stems = {sessions.stem(sid, scope): (scope, sid) for scope in ids[:12] for sid in ids}
    assert len(stems) == 12 * len(ids)
    namespace_keys = {layout.slot(ns, "x") for ns in ids} | {layout.namespace(ns)[1] for ns in ids}
    keys = {stem + suffix for stem in stems for suffix in (b":r", b":m:1", b":p", b":t")}
    listings = {sessions.listing(b, scope) for b in range(64) for scope in ids[:12]}
    assert not keys & (namespace_keys | listings | {sessions.meta})
    assert len(listings) == 64 * 12
    # Every session key starts with its bucket's tag, and the store's glob matches it.
    pattern = re.compile(fnmatch.translate(layout.glob().decode()))
    for stem, (scope, sid) in stems.items():
        assert stem.startswith(sessions.tags[sessions.bucket(sid, scope)] + b":")
        assert pattern.match(stem.decode("utf-8", "surrogatepass"))


def test_listing_glob_finds_listings_only() -> None:
    sessions = SessionLayout(b"p*", 8)
    regex = re.compile(
        fnmatch.translate(sessions.listing_glob().decode().replace("\\*", "\x01")).replace(
            "\x01", r"\*"
        )
    )
    for scope in HOSTILE[:-1]:
        listing = sessions.listing(3, scope)
        assert regex.match(listing.decode("utf-8", "surrogatepass"))
        assert sessions.scope_of_listing(listing) == scope
        stem = sessions.stem("list", scope)
        for suffix in (b":r", b":m:12", b":p", b":t", b":q"):
            assert not regex.match((stem + suffix).decode("utf-8", "surrogatepass"))
