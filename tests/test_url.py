from __future__ import annotations

import pytest

from unistore import InvalidURLError, StoreURL


@pytest.mark.parametrize(
    ("text", "scheme", "dialect", "host", "port", "path"),
    [
        ("memory://", "memory", None, None, None, ""),
        ("memory://Shared", "memory", None, "Shared", None, ""),
        ("redis://localhost:6379/0", "redis", None, "localhost", 6379, "/0"),
        ("REDIS://LocalHost/0", "redis", None, "localhost", None, "/0"),
        ("postgres://u@h:5432/db", "postgresql", None, "h", 5432, "/db"),
        ("postgresql+psycopg://u@h/db", "postgresql", "psycopg", "h", None, "/db"),
        ("redis://[::1]:6380/2", "redis", None, "::1", 6380, "/2"),
        ("redis+unix:///run/redis.sock", "redis", "unix", None, None, "/run/redis.sock"),
    ],
)
def test_parse_parts(
    text: str, scheme: str, dialect: str | None, host: str | None, port: int | None, path: str
) -> None:
    url = StoreURL.parse(text)
    assert (url.scheme, url.dialect, url.host, url.port, url.path) == (
        scheme,
        dialect,
        host,
        port,
        path,
    )


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("sqlite:///app.db", "app.db"),
        ("sqlite:///data/app.db", "data/app.db"),
        ("sqlite:////var/lib/app.db", "/var/lib/app.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("file:///var/lib/app", "/var/lib/app"),
        ("file://localhost/var/lib/app", "/var/lib/app"),
        ("file:relative/dir", "relative/dir"),
        ("file://./data", "./data"),
        ("fs:///x", "/x"),
        ("redis://h/0", None),
    ],
)
def test_local_paths(text: str, local: str | None) -> None:
    assert StoreURL.parse(text).local_path == local


def test_file_url_with_remote_host_is_rejected() -> None:
    with pytest.raises(InvalidURLError, match="only local paths"):
        _ = StoreURL.parse("file://example.org/x").local_path


def test_password_and_secret_query_values_are_redacted() -> None:
    url = StoreURL.parse("redis://alice:p%40ss:w0rd@h:1/0?token=tok123&password=pw2&pool_size=3")
    assert url.password == "p@ss:w0rd"
    assert url.query["token"] == "tok123"
    for shown in (str(url), repr(url), url.render(), f"{url}", str([url])):
        assert "p@ss" not in shown
        assert "w0rd" not in shown
        assert "tok123" not in shown
        assert "pw2" not in shown
        assert "pool_size=3" in shown
    full = url.render(hide_secrets=False)
    assert StoreURL.parse(full) == url


def test_render_round_trips() -> None:
    for text in [
        "memory://",
        "memory://shared",
        "redis://h:6379/0?pool_size=5",
        "sqlite:///app.db",
        "sqlite:////abs/app.db",
        "file:///var/lib/app",
        "file:rel/dir",
        "postgresql+asyncpg://u:pw@[::1]:5432/test",
    ]:
        url = StoreURL.parse(text)
        assert StoreURL.parse(url.render(hide_secrets=False)) == url, text


def test_with_options_merges() -> None:
    url = StoreURL.parse("redis://h/0?a=1").with_options(b="2", a="3")
    assert dict(url.query) == {"a": "3", "b": "2"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("localhost", "no scheme"),
        ("redis://h:port/0", "invalid port"),
        ("redis://h:70000/0", "out of range"),
        ("9redis://h", "invalid scheme"),
        ("re dis://h", "invalid scheme"),
        ("redis://[::1/0", "unclosed"),
        ("redis://[::1]x/0", "unexpected"),
        ("redis://h/0\x00", "control character"),
    ],
)
def test_malformed_urls_raise_clear_errors(text: str, fragment: str) -> None:
    with pytest.raises(InvalidURLError, match=fragment):
        StoreURL.parse(text)


def test_malformed_url_error_hides_password() -> None:
    with pytest.raises(InvalidURLError) as info:
        StoreURL.parse("redis://u:sup3rsecret@h:bad/0")
    assert "sup3rsecret" not in str(info.value)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidURLError, match="must be a str"):
        StoreURL.parse(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "redis://u:sec@ret@h:bad/0",
        "redis://u:sec/ret@h/0",
        "redis://u:sec#ret@h/0",
        "redis://u:sec?ret@h/0",
        "redis://u:ret@h:bad/0?token=secret",
    ],
)
def test_malformed_url_error_hides_every_piece_of_the_password(text: str) -> None:
    # An unencoded '@', '/', '?' or '#' in a password breaks the parse; the
    # error must then show no piece of the password (neither 'sec' nor 'ret').
    with pytest.raises(InvalidURLError) as info:
        StoreURL.parse(text)
    message = str(info.value)
    assert "sec" not in message.replace("secret=", "")
    assert "ret" not in message


def test_non_ascii_digits_are_an_invalid_port() -> None:
    with pytest.raises(InvalidURLError, match="invalid port"):
        StoreURL.parse("redis://h:\u00b2/0")


def test_fragment_after_the_query_is_dropped() -> None:
    url = StoreURL.parse("redis://h/0?pool_size=3#top")
    assert dict(url.query) == {"pool_size": "3"}


@pytest.mark.parametrize("key", ["sslpassword", "access_token", "client_secret", "PASSWD"])
def test_query_keys_ending_in_a_secret_word_are_redacted(key: str) -> None:
    url = StoreURL.parse(f"postgresql://h/db?{key}=hunter2&sslmode=require")
    for shown in (str(url), repr(url)):
        assert "hunter2" not in shown
        assert "sslmode=require" in shown
    assert url.render(hide_secrets=False).endswith(f"{key}=hunter2&sslmode=require")
