"""A fuzzer: no password of a store URL reaches any text unistore produces.

URLs get random passwords full of ``@ : / ? #`` and ``%`` (raw or
percent-encoded), random shipped schemes, ports good and bad, and random
queries with secret values. For each, the parse, the redacted rendering,
every exception (str, repr and traceback, through ``__cause__`` and
``__context__``), every log record, what ``connect()`` and a first operation
raise, and the output of ``unistore info URL`` must show no piece of a secret.

Secrets are built from pieces that cannot occur elsewhere by chance: each
piece is six or more characters, either a letter that is no hex digit, a
digit and more (``Q7xk2P``), or six or more digits, the form a password takes
when it is misread as a port. The checks look for every piece, ignoring case
(hosts are lower-cased when shown), so a leak of part of a password counts.

``UNISTORE_URL_FUZZ_EXAMPLES=5000`` runs a longer, random search locally.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import string
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unistore
from unistore import InvalidURLError, StoreURL
from unistore._url import redact_url
from unistore.protocols import Option
from unistore_test_support import POSTGRES_URL, REDIS_URL, invoke, require_server

_LONG_RUN = int(os.environ.get("UNISTORE_URL_FUZZ_EXAMPLES", "0"))


def _settings(examples: int) -> settings:
    return settings(
        max_examples=_LONG_RUN or examples,
        deadline=None,
        derandomize=not _LONG_RUN,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


#: Connections to it are refused at once, so opening a store fails fast.
CLOSED = _closed_port()

# -- the secrets -------------------------------------------------------------------------

_NOT_HEX = "GHJKLMNPQRSTUVWXYZ"  # a piece never starts a '%XX' escape
_ALNUM = string.ascii_letters + string.digits

_word = st.builds(
    lambda head, digit, tail: head + digit + tail,
    st.sampled_from(_NOT_HEX),
    st.sampled_from(string.digits),
    st.text(_ALNUM, min_size=4, max_size=8),
)
_number = st.text(string.digits, min_size=6, max_size=8)
_piece = st.one_of(_word, _number)
# '%' is never followed by a hex digit, or decoding would change the secret.
_separator = st.text("@:/?#%", min_size=1, max_size=3).map(
    lambda text: text + ":" if text.endswith("%") else text
)


@dataclass(frozen=True)
class Secret:
    """A secret as written in the URL, its value and the pieces to look for."""

    text: str
    value: str
    pieces: tuple[str, ...]


@st.composite
def _secrets(draw: st.DrawFn, *, encoded: bool | None = None) -> Secret:
    """A secret; ``encoded`` says whether the URL holds it percent-encoded (random if None)."""
    pieces = draw(st.lists(_piece, min_size=1, max_size=3))
    parts = [draw(_separator)] if draw(st.booleans()) else []
    for index, piece in enumerate(pieces):
        if index:
            parts.append(draw(_separator))
        parts.append(piece)
    if draw(st.booleans()):
        parts.append(draw(_separator))
    value = "".join(parts)
    if encoded is None:
        encoded = draw(st.booleans())
    text = quote(value, safe="") if encoded else value
    return Secret(text, value, tuple(pieces))


# -- the URLs ----------------------------------------------------------------------------

_SCHEMES = [
    "memory",
    "redis",
    "rediss",
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "sqlite",
    "sqlite3",
    "file",
    "fs",
]
_BAD_PORTS = ["0", "65536", "99999", "6379x", "x1", "", "\u0663\u0663", "+80"]
_USERS = ["", "user", "default", "admin@srv", "app"]
_PATHS = ["", "/0", "/15", "/db", "/x.db", "/x"]
_SECRET_KEYS = ["token", "password", "api_key", "sslpassword", "client_secret"]
_PLAIN_OPTIONS = [
    "retries=0",
    "socket_connect_timeout=1",
    "connect_timeout=1",
    "pool_size=2",
    "pool_size=many",
    "no_such_option=1",
]


@dataclass(frozen=True)
class Case:
    """A generated URL and what it must parse to."""

    url: str
    user: str
    password: Secret
    query_secrets: tuple[Secret, ...]
    port_ok: bool

    @property
    def pieces(self) -> tuple[str, ...]:
        found = list(self.password.pieces)
        for secret in self.query_secrets:
            found += secret.pieces
        return tuple(found)

    @property
    def scheme(self) -> str:
        return self.url.partition(":")[0]


#: For the cases that open stores: no reconnection attempts on a refused port.
_FAST = {"redis": "retries=0", "rediss": "retries=0"}


@st.composite
def _cases(draw: st.DrawFn, *, fast: bool = False) -> Case:
    scheme = draw(st.sampled_from(_SCHEMES))
    user = draw(st.sampled_from(_USERS))
    password = draw(_secrets())
    # A file URL on localhost would open a real folder; 127.0.0.1 is refused.
    hosts = ["127.0.0.1", "[::1]"] if scheme in ("file", "fs") else ["127.0.0.1", "localhost"]
    host = draw(st.sampled_from(hosts))
    port_ok = draw(st.integers(0, 3)) > 0
    port = str(CLOSED) if port_ok else draw(st.sampled_from(_BAD_PORTS))
    path = draw(st.sampled_from(_PATHS))
    items = [_FAST[scheme]] if fast and scheme in _FAST else []
    query_secrets: list[Secret] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            # Unencoded, a '&' or '#' would end a query value; that is no secret's fault.
            secret = draw(_secrets(encoded=True))
            query_secrets.append(secret)
            items.append(f"{draw(st.sampled_from(_SECRET_KEYS))}={secret.text}")
        else:
            items.append(draw(st.sampled_from(_PLAIN_OPTIONS)))
    query = "?" + "&".join(items) if items else ""
    url = f"{scheme}://{user}:{password.text}@{host}:{port}{path}{query}"
    return Case(url, user, password, tuple(query_secrets), port_ok)


# -- the checks --------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and every exception it carries, suppressed or not."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += getattr(current, "exceptions", ())


def _exception_text(exc: BaseException) -> str:
    parts = ["".join(traceback.format_exception(exc))]
    for each in _chain(exc):
        parts += [str(each), repr(each)]
    return "\n".join(parts)


def _assert_no_secret(case: Case, text: str, where: str) -> None:
    lowered = text.lower()
    for piece in case.pieces:
        assert piece.lower() not in lowered, f"{where} shows {piece!r} of {case.url!r}:\n{text}"


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def _parse(case: Case) -> None:
    """Parse ``case.url``: it must read back exactly, or fail only for its port."""
    if not case.port_ok:
        with pytest.raises(InvalidURLError, match="invalid port") as info:
            StoreURL.parse(case.url)
        assert "percent-encode" in str(info.value)
        _assert_no_secret(case, _exception_text(info.value), "the parse error")
        return
    url = StoreURL.parse(case.url)
    assert url.password == case.password.value, case.url
    assert url.username == (case.user or None), case.url
    assert url.port == CLOSED, case.url
    for shown in (str(url), repr(url), url.render(), f"{url!r}", str([url])):
        _assert_no_secret(case, shown, "the rendered URL")


async def _open(url: str) -> list[str]:
    """Connect, show the store, run one read; return every text that produced."""
    texts: list[str] = []
    try:
        store = unistore.connect(url)
        texts += [repr(store), str(store), str(store.url)]
        async with store:
            await asyncio.wait_for(store.get("fuzz", "slot"), timeout=20)
    except Exception as exc:
        texts.append(_exception_text(exc))
    return texts


# -- the fuzzers -------------------------------------------------------------------------


@_settings(150)
@given(case=_cases())
def test_no_parse_error_or_rendering_shows_a_secret(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        _parse(case)
        _assert_no_secret(case, redact_url(case.url), "redact_url()")
    _assert_no_secret(case, _log_text(caplog), "a log record")


@_settings(20)
@given(case=_cases(fast=True))
def test_no_driver_error_log_or_cli_output_shows_a_secret(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        _parse(case)
        for text in asyncio.run(_open(case.url)):
            _assert_no_secret(case, text, f"opening a {case.scheme} store")
        result = invoke("info", case.url)
    assert result.exit_code != 0 or case.scheme == "memory", result.output
    _assert_no_secret(case, result.output + result.stdout + result.stderr, "unistore info")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        _assert_no_secret(case, _exception_text(result.exception), "unistore info")
    _assert_no_secret(case, _log_text(caplog), "a log record")


# -- the three leak forms of issue 17, end to end ----------------------------------------

_ISSUE_FORMS = [
    # A raw '@' in the user name and a bad port: the error showed the whole URL.
    (f"postgresql://admin@srv:S3cr3t@127.0.0.1:{CLOSED}x/db", ("S3cr3t",)),
    # A password of digits before a '?': 'port 740213 out of range'.
    (f"redis://default:740213?@127.0.0.1:{CLOSED}/0", ("740213",)),
    # A '/' in the password: read as port 4821 plus a path, shown everywhere.
    (f"redis://user:4821/S3cr3t@127.0.0.1:{CLOSED}/0", ("4821", "S3cr3t")),
]


# Stable ids: the closed port differs per process, and xdist workers must
# collect the same test names.
@pytest.mark.parametrize(
    ("url", "pieces"), _ISSUE_FORMS, ids=["at-in-user", "digits-query", "slash"]
)
def test_the_issue_forms_show_no_password_anywhere(
    url: str, pieces: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        texts = asyncio.run(_open(url))
        result = invoke("info", url)
    texts += [result.output, result.stderr, redact_url(url), _log_text(caplog)]
    assert result.exit_code in (2, 4), result.output
    for text in texts:
        for piece in pieces:
            assert piece not in text, text


# -- real servers refusing the credentials -----------------------------------------------

_SERVER_SECRET = "Q7zv/Kp?3#m@X9"


@pytest.mark.redis
def test_a_redis_server_refusing_the_password_does_not_show_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_server(REDIS_URL, "UNISTORE_TEST_REDIS_URL")
    server = StoreURL.parse(REDIS_URL)
    url = f"redis://nobody_u17:{_SERVER_SECRET}@{server.host}:{server.port or 6379}/15?retries=0"
    with caplog.at_level(logging.DEBUG):
        texts = asyncio.run(_open(url))
        result = invoke("info", url)
    assert result.exit_code != 0
    texts += [result.output, result.stderr, _log_text(caplog)]
    assert any("nobody_u17" in text for text in texts)  # the failure was about the login
    for text in texts:
        for piece in ("Q7zv", "Kp?3", "m@X9"):
            assert piece not in text, text


@pytest.mark.postgres
def test_a_postgresql_server_refusing_the_role_does_not_show_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_server(POSTGRES_URL, "UNISTORE_TEST_POSTGRES_URL")
    server = StoreURL.parse(POSTGRES_URL)
    host = f"{server.host}:{server.port or 5432}"
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for scheme in ("postgresql", "postgresql+psycopg"):
            url = f"{scheme}://nobody_u17:{_SERVER_SECRET}@{host}{server.path}"
            texts += asyncio.run(_open(url))
            result = invoke("info", url)
            assert result.exit_code != 0
            texts += [result.output, result.stderr]
    texts.append(_log_text(caplog))
    for text in texts:
        for piece in ("Q7zv", "Kp?3", "m@X9"):
            assert piece not in text, text


# -- a third party's secret option -------------------------------------------------------


def _strict_token(text: str) -> str:
    # A careless parser: its message quotes the value it refused.
    raise ValueError(f"token {text!r} is not a valid token")


def _never_opened(url: StoreURL, options: Mapping[str, Any]) -> unistore.Store:
    raise AssertionError("options are checked before a store is opened")


@pytest.fixture
def secret_option_driver() -> Iterator[str]:
    token = Option("token", _strict_token, None, "An API token.", secret=True)
    unistore.register("secretopt17", _never_opened, options=(token,))
    yield "secretopt17://h/x?token=Q7tokenvalue"
    unistore.unregister("secretopt17")


def test_a_secret_options_parser_message_is_not_carried_along(secret_option_driver: str) -> None:
    with pytest.raises(unistore.InvalidOptionError) as info:
        unistore.connect(secret_option_driver)
    assert "token" in str(info.value)
    for each in _chain(info.value):
        assert "Q7tokenvalue" not in str(each) + repr(each)
