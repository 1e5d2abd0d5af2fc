"""Session buckets: which hash tag each session's keys carry.

A store's sessions are spread over ``B`` buckets (the ``session_buckets``
option, a power of two from 1 to 1024, fixed once the store holds sessions).
A session's bucket is the CRC-32 of its escaped scope and id, modulo ``B``:
stable across processes, versions and machines, unlike :func:`hash`.

Every key of a bucket carries the bucket's hash tag ``{:b<code>}``. The codes
in :data:`TAGS` were searched once (``python -m unistore_redis._buckets``
prints the table again) so that tag ``i`` lands on cluster slot ``16 * i``:
bucket ``b`` of ``B`` uses tag ``b * 1024 / B``, on slot ``b * 16384 / B``.
The buckets' slots are therefore evenly spaced over 0..16383, and a cluster
whose slots are split evenly between its masters holds the same number of
buckets on each. A tag starts with ``:``, which no escaped namespace holds, so
a bucket never shares a slot tag with a namespace.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import lru_cache
from typing import Final

from unistore_redis._keys import escape, glob_escape, unescape

__all__ = ["MAX_BUCKETS", "TAGS", "SessionLayout", "check_buckets"]

#: The most buckets a store may use: one tag per 16 cluster slots.
MAX_BUCKETS: Final = 1024

_CODES: Final = (
    "g7e nhe nn6 g16 bg 7gd 7a7 d4 cfk b0s 7xx 9s vh2 36j 309 glq 0zk 9ac 9g0 080 a8z "
    "5d2 5ba 44y 4om 59u hxf acn eit 1q4 13o 0ew fal g7t v37 3mo 7gu bv 6s6 bkv b0b cfz "
    "9b 7xi 3rs gj3 2f0 nwh 1hj 0zz 819 1n9 hgk 4v3 44h 5bp 59d il4 ijg hxw l6e 0c5 0ef "
    "1wv 29u 3om fcn g5v 6q4 bit 7ew 63o kk3 7zk 780 cdx 2d2 f8z 34y 2ba 8w3 dfk 1jh 0xx "
    "46j qh2 hei 409 ihe hzu 08u3 in6 0gd 1ut dyw 0a7 nl4 29d g5g njg 7c5 f6 6wv 7ef 7zz "
    "6hj 6n9 b2q 3v3 gns 2bp 34h 9e2 e0b 0xi 1jy 0eiv 4rs iwh 5f0 hzd aal 4mo q37 11m "
    "0gu ekv 1s6 618 bmp 7as dp 2yy 3ki fgj g1r gjf fxv 3tu 2fe ko7 b07 b6d 97 42n 5dv "
    "ham 4p5 8s7 dbo 1nl 08t 8jx 15x l0c 0e3 aey 591 yz2 4iz 7g1 b2 da 7ab 3kx 2yh g1c "
    "nnc 3r7 gjw 2ft 30l s26 6ln kiu b6u 5dg 4vw azt 5b4 9a6 e4f 08e 9ge 15i 0cq eor 1w2 "
    "quh 4o8 4ik hx3 fc bi0 7e3 k0c 291 fey 3iz g52 2dv 32n 3p5 ghu cbo b4w 78t 6nl axv "
    "qhv 5fe 4tu 8ww 9eg 9c4 e6d 8n8 118 17k 0as 4ki 5yy h8j agj 7cq fr 6w2 bor 3o8 g3p "
    "ox3 3ik 3vw 2dg 2b4 fzt b4f kkf yn 78e hco 4r7 40l 5ft 1ln 83n 8q5 liu 981 0g1 0ab "
    "17z 5yh 4kx inc q3s gbo f4w 38t 2nl 7m 72n 7p5 u6 691 bey 7iz ly 25x fi0 3e3 o0c "
    "0ki 1yy 9v2 egj amp 518 57k 4as a07 ho7 hid a6d exv djf 1fe 0tu f4f okf om5 38e 7vw "
    "st 6b4 bzt 7o8 c3p lh 7ik 3cq 25i 2w2 for 1yh 0kx 8d3 d1c h2a 4g1 4ab 57z 5ln p26 "
    "a6u hiu djw 0r7 00l 1ft oo7 f07 f6d oid cjf bxv 7tu qv nj 7ki bgj h9 218 fmp 3as "
    "27k 8f1 191 96z 0iz ai0 55x h0c 4e3 a4w hkw 5nl 48t 02n 1dv dhu 0p5 w26 2ln oiu f6u "
    "7r7 w4 5o 70l 7kx 6yh c1c jnc 3g1 o2a 27z 3ab 908 0o8 0ik 96k 55i 4cq aor 5w2 hkf "
    "a4f 48e hm5 1dg 0vw ezt 1b4 6d2 b8z 74y 1z ok3 3zk 380 gdx 2q4 fit 3ew 23o jn 7om "
    "bcn c5v 4gd 5ut h4g 4a7 8b5 d7e 9vv 8df 06j 9ij 9o9 009 a0s hos 5jh 4xx 7v3 78 1k "
    "74h 3zz 2hj 2n9 f2q 3c5 o6e 2wv 3ef jl4 69d c5g jjg 51m 4gu akv 5s6 9p4 eal 0mo 92o "
    "dj3 0rs 890 1f0 hob a0b 4xi 5jy 3i 76j 709 q2 gfk f0s 3xx 2jh 2ut 3gd 3a7 gyw c7e "
    "jhe jn6 c16 ait 5q4 53o 4ew 0om 19u 9r6 ecn e8z 1d2 1ba 04y 4zk hk3 qfh 480 7rs 3x "
    "6f0 jwh f0b gfz 2jy 3xi 3gu 21m 2s6 fkv bal c7t hl 7mo h6e 4c5 4ef 5wv 19d 8fd mjg "
    "d5g dns 0v3 04h 1bp 5hj 4zz a2q 5n9 86k 1ik 1o8 808 4w2 hfj 5cq 45i im5 58e hyv ikf "
    "0b4 dzt 1vw 0dg g6u niu 3ln v26 cw 7ft bjw 6r7 z8 b1c 7yh 8c 2ab 37z n2a 2g1 1iz "
    "86z 091 9f1 5e3 i0c 45x yb8 58t 4nl abo hyg j ehu 0dv 12n nid g6d g07 no7 7fe cf e5 "
    "bjf b1r cgj 8r 7yy 37k 2as gmp 318 e1c 9d3 1kx 0yh 47z 5ab 5g1 i2a iiu q4e q26 4ln "
    "0ft 10l 1r7 ejw 28e nm5 nkf g4f g7 7b4 7dg ad 6ik jx3 b3p 6o8 gor 3w2 35i 2cq dgj "
    "8v2 0yy 1ki 5as 47k 418 hdh q4t iid io7 08t2 1tu 0fe ejf dxv 3nl 28t g4w fbo bhu "
    "6p5 au 7dv b52 6iz cey 791 n0c 2e3 gi0 35x 4wv 5ef 5c5 i6e e5g ljg 9fd 09d 0bp 14h "
    "1v3 ens 4n9 q0a 5zz 4hj c3 7f0 bj3 6rs 2xi 3jy ffz g0b gkv 3s6 31m 2gu 6mo s37 b7t "
    "cal 5ew 43o 4q4 qkd dcn 8r6 09u 1om 14y 0ba 0d2 d8z 580 adx ik3 5zk blq 609 eq sh2 "
    "3jh 2xx g0s ffk fyw 2a7 2gd 3ut b16 zm 86 b7e 4s6 hbn 5gu 41m 82o 1mo dal 8p4 0f0 "
    "990 1rs ej3 4jy 5xi h9z afz gs 7bp bns 6v3 g2q 3n9 3hj 2zz 2ef 3wv n6e 2c5 kjg b5g "
    "79d xo 5a7 ayw 4ut 5gd 9df 8vv e7e 9b5 109 8o9 8ij 16j 5xx 4jh afk h9k 7ba gb a1 "
    "7d2 fdx 280 2zk nk3 33o 2ew git 3q4 b5v ccn 6om 79u 0jy 1xi d0b 8e2 4f0 hwh 5rs aj3 "
    "p37 5mo hht a7t 0s6 dkv 1gu 01m ojg f5g 39d ol4 ru 7wv j6e 6c5 c2q 7n9 7hj mi 24h "
    "3bp fns 2v3 1xx 0jh efk 9w3 509 alq ph2 56j hn6 a16 a7e hhe 1a7 eyw 0ut 1gd f5v gcn "
    "2om 39u 73o 6l t7 7q4 bdx 680 mx jk3 3ba 24y g8z 3d2 0n9 919 1zz 0hj 4bp 54h 5v3 "
    "ans a5g hjg hl4 49d 0wv 1ef 1c5 m6e 2mo w37 f7t gal v5 7s6 71m 4n oz 7jy bfz c0b "
    "owh 3f0 fj3 2rs 180 8g0 8ac 1zk 54y 4ba 4d2 h1b hjv a5v 49u 5om 1ew 03o 0q4 dit f16 "
    "on6 ohe f7e byw 6a7 pw 7ut 7jh ok i8 bfk flq 209 26j wh2 4ft 50l 5r7 ajw miu 9q5 "
    "93n 0ln 07z 1ab 1g1 881 a1c hnc 5kx 4yh 69 7w2 75i 0j 2ik nx3 f3p 2o8 gzt 3b4 3dg "
    "2vw 68e jm5 jkf c4f 5tu 4fe ajf h5f d6d 8c4 8eg 9ww 1as 07k 018 9n8 hnr a1r 4yy 5ki "
    "j0c 6e3 ts 75x f52 2iz gey 391 fhu 2p5 22n 3dv 7nl ko c4w bbo 4b4 h7d 5vw 4dg 8ge "
    "18e d4f 8a6 0w2 dor 1cq 05i ix3 5ik 5o8 a3p 2y 77z j2a 6g1 onc f1c 3yh 2kx 20l 3ft "
    "fjw 2r7 c6u jiu 7ln im 5p5 ahu 4dv 52n 18t 0nl ebo 9s7 1e3 m0c 05x 9jx 5iz a52 491 "
    "hla 77k 2h p3 718 f1r ggj 2ki 3yy 3fe 2tu gxv fjf jid c6d c07 jo7 "
)
#: Tag codes: ``{:b<TAGS[i]>}`` hashes to cluster slot ``16 * i``.
TAGS: Final[tuple[str, ...]] = tuple(_CODES.split())


def check_buckets(value: object) -> int:
    """Parse the ``session_buckets`` option: a power of two from 1 to 1024.

    Raises:
        ValueError: Any other value.
    """
    number: int = int(value)  # type: ignore[call-overload]
    if isinstance(value, bool) or number < 1 or number > MAX_BUCKETS or number & (number - 1):
        raise ValueError(f"expected a power of two from 1 to {MAX_BUCKETS}")
    return number


class SessionLayout:
    """Builds the session keys of one store (one key prefix, one bucket count).

    Args:
        prefix: The store's key prefix, UTF-8.
        buckets: The number of buckets (see :func:`check_buckets`).
    """

    __slots__ = ("buckets", "locate", "meta", "prefix", "script_keys", "tags")

    def __init__(self, prefix: bytes, buckets: int) -> None:
        self.prefix = prefix
        self.buckets = buckets
        step = MAX_BUCKETS // buckets
        #: Key start of each bucket: ``P:{:b<code>}``.
        self.tags = tuple(b"%s:{:b%s}" % (prefix, TAGS[i * step].encode()) for i in range(buckets))
        #: The store's session layout record (hash: ``buckets``).
        self.meta = prefix + b":{:meta}:sessions"
        # Sessions are called again and again: hash and escape each once.
        self.locate: Callable[[str, str], tuple[int, bytes]] = lru_cache(maxsize=4096)(self._locate)
        #: ``KEYS`` of a session script on a bucket: listing, clock, expiry (cached).
        self.script_keys: Callable[[int, str], tuple[bytes, bytes, bytes]] = lru_cache(
            maxsize=4096
        )(self._script_keys)

    def _locate(self, session_id: str, scope: str) -> tuple[int, bytes]:
        """Return (bucket, stem) of a session (cached as :attr:`locate`)."""
        bucket = self.bucket(session_id, scope)
        return bucket, b"%s:s:%s" % (self._base(bucket, scope), escape(session_id))

    def bucket(self, session_id: str, scope: str) -> int:
        """Return the bucket of a session."""
        # Escaped text holds no ":", so scope and id cannot run into each other.
        return zlib.crc32(escape(scope) + b":" + escape(session_id)) % self.buckets

    def _base(self, bucket: int, scope: str) -> bytes:
        tag = self.tags[bucket]
        return tag if not scope else b"%s:S:%s" % (tag, escape(scope))

    def stem(self, session_id: str, scope: str) -> bytes:
        """Return the stem of a session's keys (``:r``, ``:m``, ``:p``, ... follow)."""
        return self.locate(session_id, scope)[1]

    def listing(self, bucket: int, scope: str) -> bytes:
        """Return the listing of ``scope`` in ``bucket``."""
        return self._base(bucket, scope) + b":list"

    def clock(self, bucket: int) -> bytes:
        """Return the clock of ``bucket`` (last ``updated_at`` handed out)."""
        return self.tags[bucket] + b":clock"

    def expiry(self, bucket: int) -> bytes:
        """Return the expiry index of ``bucket``."""
        return self.tags[bucket] + b":expiry"

    def _script_keys(self, bucket: int, scope: str) -> tuple[bytes, bytes, bytes]:
        return self.listing(bucket, scope), self.clock(bucket), self.expiry(bucket)

    def bucket_of_stem(self, stem: bytes) -> int:
        """Return the bucket whose tag ``stem`` (any session key) starts with."""
        end = stem.index(b"}") + 1
        return self.tags.index(stem[:end])

    def listing_glob(self) -> bytes:
        """Return a ``SCAN MATCH`` pattern for every bucket listing of every scope.

        Session keys end in a one-letter suffix or ``:m:<generation>``, never
        in ``list``, so only listings match.
        """
        return glob_escape(self.prefix) + b":{:b*}*:list"

    def scope_of_listing(self, key: bytes) -> str:
        """Return the scope whose listing is ``key`` (one :meth:`listing_glob` matched)."""
        rest = key[key.index(b"}") + 1 : -len(b":list")]
        return unescape(rest[len(b":S:") :]) if rest else ""


def _search() -> list[str]:
    """Find, for each slot ``16 * i``, the shortest base-36 code whose tag hashes there."""
    import itertools
    import string

    from redis.crc import key_slot

    alphabet = string.digits + string.ascii_lowercase
    found: dict[int, str] = {}
    for length in range(1, 6):
        for letters in itertools.product(alphabet, repeat=length):
            code = "".join(letters)
            slot = key_slot(b":b" + code.encode())
            if slot % 16 == 0 and slot // 16 not in found:
                found[slot // 16] = code
        if len(found) == MAX_BUCKETS:
            break
    return [found[i] for i in range(MAX_BUCKETS)]


if __name__ == "__main__":
    print(" ".join(_search()))
