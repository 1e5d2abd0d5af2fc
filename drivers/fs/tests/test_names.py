"""File names for ids: reversible, bounded, safe, distinct even ignoring case."""

from __future__ import annotations

import random
import string

import pytest

from unistore.testing import HOSTILE_IDS
from unistore_fs._names import MAX_NAME, decode_name, encode_name

SAFE = set(string.ascii_lowercase + string.digits + "-_+%~")
SAMPLES = (*HOSTILE_IDS, "", "CON", "con", "nul", "Lpt1", "com0", "a.b", "..", "~x", "+")


def _random_ids(count: int) -> list[str]:
    rng = random.Random(7)
    alphabet = string.printable + "\u00e9\u00c9\U0001f600\x00\ud800"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(count)]


@pytest.mark.parametrize("name", SAMPLES, ids=range(len(SAMPLES)))
def test_encoding_is_safe_and_round_trips(name: str) -> None:
    encoded = encode_name(name)
    assert set(encoded) <= SAFE
    assert 0 < len(encoded) <= MAX_NAME
    assert encoded not in (".", "..")
    assert encoded.lower() == encoded
    assert encoded.split(".")[0] not in {"con", "prn", "aux", "nul", "com1", "lpt1"}
    decoded = decode_name(encoded)
    assert decoded is None or decoded == name
    if len(name) < 20:
        assert decoded == name


def test_distinct_ids_get_distinct_names_even_ignoring_case() -> None:
    ids = list(dict.fromkeys([*SAMPLES, *_random_ids(3000), "User", "user", "USER", "uSER"]))
    names = [encode_name(i).casefold() for i in ids]
    assert len(set(names)) == len(ids)


def test_long_ids_are_hashed_with_a_readable_prefix() -> None:
    long = "conversation-" + "x" * 5000
    other = long[:-1] + "y"
    assert encode_name(long) != encode_name(other)
    assert encode_name(long).startswith("conversation-x")
    assert "~" in encode_name(long)
    assert decode_name(encode_name(long)) is None


def test_unicode_normalisation_cannot_merge_ids() -> None:
    assert encode_name("\u00e9") != encode_name("e\u0301")


def test_decode_rejects_foreign_names() -> None:
    with pytest.raises(ValueError, match="not an encoded name"):
        decode_name("a.b")
