from __future__ import annotations

import pytest

from unistore import InvalidURLError, StoreURL
from unistore._url import redact_url


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
        ("redis://h:70000/0", "invalid port"),
        ("redis://h:0/0", "invalid port"),
        ("redis://h:/0", "invalid port"),
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
        "redis://u:sec/ret@h:bad/0",
        "redis://u:sec#ret@h:bad/0",
        "redis://u:sec?ret@h:bad/0",
        "redis://u:ret@h:bad/0?token=secret",
        "redis://u@x:sec@ret@h:bad/0",
        "redis://u:sec:ret@h:65536/0",
        "redis:u:sec:ret@h/0",
        ":sec:ret@h:1/0",
        "u@x:sec@ret@h:1/0",
    ],
)
def test_malformed_url_error_hides_every_piece_of_the_password(text: str) -> None:
    # The error must show no piece of the password (neither 'sec' nor 'ret'),
    # whatever character of it made the URL malformed.
    with pytest.raises(InvalidURLError) as info:
        StoreURL.parse(text)
    message = str(info.value)
    assert "sec" not in message.replace("secret=", "")
    assert "ret" not in message
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


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


# -- where the userinfo ends ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "user", "password", "host", "port", "path"),
    [
        # A raw '@' in the user name (Azure style) and in the password.
        (
            "postgresql://admin@srv:S3cr3t@127.0.0.1:5432/db",
            "admin@srv",
            "S3cr3t",
            "127.0.0.1",
            5432,
            "/db",
        ),
        ("redis://u:p@ss@h:1/0", "u", "p@ss", "h", 1, "/0"),
        ("redis://:p@ss:w@h/0", None, "p@ss:w", "h", None, "/0"),
        # An unencoded '/', '?' or '#' in a password, then an '@'.
        (
            "redis://user:4821/S3cr3t@127.0.0.1:6379/0",
            "user",
            "4821/S3cr3t",
            "127.0.0.1",
            6379,
            "/0",
        ),
        ("redis://default:740213?@127.0.0.1:6379/0", "default", "740213?", "127.0.0.1", 6379, "/0"),
        ("redis://u:a#b@h/0?pool_size=2", "u", "a#b", "h", None, "/0"),
        ("postgresql://app:s@cret/ive@127.0.0.1/db", "app", "s@cret/ive", "127.0.0.1", None, "/db"),
        ("postgresql://a@b:c/d?e#f@[::1]:5/db", "a@b", "c/d?e#f", "::1", 5, "/db"),
        # Percent-encoded, the same passwords read the same.
        (
            "redis://user:4821%2FS3cr3t@127.0.0.1:6379/0",
            "user",
            "4821/S3cr3t",
            "127.0.0.1",
            6379,
            "/0",
        ),
        ("postgresql://admin%40srv:S3cr3t@h/db", "admin@srv", "S3cr3t", "h", None, "/db"),
        # An '@' after the authority, with no ':' in it, is the path's or the query's.
        ("redis://h/0?client_name=a@b", None, None, "h", None, "/0"),
        ("redis://u@h/0?client_name=a:b@c", "u", None, "h", None, "/0"),
        ("redis://[::1]:6379/0?client_name=a@b", None, None, "::1", 6379, "/0"),
        ("file:///srv/a@b", None, None, None, None, "/srv/a@b"),
    ],
)
def test_userinfo_runs_to_the_last_at_sign(
    text: str, user: str | None, password: str | None, host: str, port: int | None, path: str
) -> None:
    url = StoreURL.parse(text)
    assert (url.username, url.password, url.host, url.port, url.path) == (
        user,
        password,
        host,
        port,
        path,
    )
    # What is printed reads back as the same URL, and shows no password.
    assert StoreURL.parse(url.render(hide_secrets=False)) == url
    if password:
        assert password not in str(url)
        assert password not in repr(url)


def test_an_at_sign_in_the_query_of_a_url_with_a_password_is_read_as_the_password() -> None:
    # The documented cost of the rule: such an '@' must be written %40.
    url = StoreURL.parse("postgresql://u:pw@h/db?application_name=me@x")
    assert (url.password, url.host) == ("pw@h/db?application_name=me", "x")
    url = StoreURL.parse("postgresql://u:pw@h/db?application_name=me%40x")
    assert (url.password, url.host, url.query["application_name"]) == ("pw", "h", "me@x")


def test_an_at_sign_without_double_slash_is_rejected() -> None:
    with pytest.raises(InvalidURLError, match="no '//'") as info:
        StoreURL.parse("redis:user:S3cr3t@127.0.0.1:6379/0")
    assert "S3cr3t" not in str(info.value)
    assert StoreURL.parse("file:a%40b").local_path == "a@b"


# -- the three leak forms of issue 17 ----------------------------------------------------


def test_bad_port_after_a_user_name_with_an_at_sign_hides_the_password() -> None:
    with pytest.raises(InvalidURLError) as info:
        StoreURL.parse("postgresql://admin@srv:S3cr3t@127.0.0.1:5432x/db")
    message = str(info.value)
    assert "S3cr3t" not in message
    assert "5432x" not in message
    assert "invalid port" in message
    assert "percent-encode" in message
    assert "admin@srv:***@127.0.0.1" in message


def test_a_password_that_looks_like_a_port_is_never_shown() -> None:
    url = StoreURL.parse("redis://default:740213?@127.0.0.1:6379/0")
    assert "740213" not in str(url) + repr(url)
    # With a bad port after it, the error names neither the port nor the password.
    with pytest.raises(InvalidURLError) as info:
        StoreURL.parse("redis://default:740213?@127.0.0.1:6379x/0")
    message = str(info.value)
    assert "740213" not in message
    assert "6379x" not in message
    assert "out of range" not in message
    assert "invalid port" in message
    assert "percent-encode" in message


def test_a_password_with_a_slash_is_not_read_as_a_port_and_a_path() -> None:
    url = StoreURL.parse("redis://user:4821/S3cr3t@127.0.0.1:6379/0")
    assert (url.host, url.port, url.path) == ("127.0.0.1", 6379, "/0")
    for shown in (str(url), repr(url), url.render()):
        assert "4821" not in shown
        assert "S3cr3t" not in shown


def test_a_bad_port_is_never_echoed() -> None:
    # Not even without a password: 'redis://user:secret/0' lost its '@host'.
    with pytest.raises(InvalidURLError, match="invalid port") as info:
        StoreURL.parse("redis://user:s3cr3t/0")
    assert "s3cr3t" not in str(info.value)
    assert "percent-encode" not in str(info.value)


# -- redact_url: the printable form of any URL text ---------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://u:pw@H:1/0?token=t&pool_size=2", "redis://u:***@h:1/0?token=***&pool_size=2"),
        (
            "postgresql://admin@srv:S3cr3t@127.0.0.1:5432x/db",
            "postgresql://admin@srv:***@127.0.0.1:***/db",
        ),
        ("redis://u:sec/ret@h:bad/0?api_key=k#frag", "redis://u:***@h:***/0?api_key=***"),
        ("re dis://u:p/w@h:1/0", "re dis://u:***@h:1/0"),
        ("redis:u:pw@h/0?secret=s", "redis:***@h/0?secret=***"),
        ("u@pw:x@h:1", "***@pw:***@h:1"),
        ("redis://u:pw@[::1/0", "redis://u:***@[::1/0"),
        ("redis://u:p\x00w@h/0", "redis://u:***@h/0"),
        ("no scheme here", "no scheme here"),
    ],
)
def test_redact_url_hides_secrets_whether_or_not_the_url_parses(text: str, shown: str) -> None:
    assert redact_url(text) == shown


# -- host lists: redis+cluster://h1:p1,h2:p2/ --------------------------------------------


def test_a_host_list_keeps_every_host_in_order() -> None:
    url = StoreURL.parse("redis+cluster://u:s3cr3t@H1:7000,h2:7001,[::1]:7002/?key_prefix=x")
    assert url.hosts == (("h1", 7000), ("h2", 7001), ("::1", 7002))
    assert (url.host, url.port) == ("h1", 7000)
    assert str(url) == "redis+cluster://u:***@h1:7000,h2:7001,[::1]:7002/?key_prefix=x"
    assert StoreURL.parse(url.render(hide_secrets=False)) == url
    assert "s3cr3t" not in repr(url)
    assert StoreURL.parse("redis+cluster://a,b/").hosts == (("a", None), ("b", None))


def test_one_host_has_no_host_list() -> None:
    assert StoreURL.parse("redis://h:1/0").hosts == ()
    # A memory store's name is any text, commas included.
    named = StoreURL.parse("memory://a,b")
    assert (named.host, named.hosts) == ("a,b", ())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("redis+cluster://h1:7000,:7001/", "empty host"),
        ("redis+cluster://h1:7000,/", "empty host"),
        ("redis+cluster://u:pw@h1:7000,h2:s3cr3t/", "invalid port"),
        ("redis+cluster://h1:7000,[::1/", "unclosed"),
    ],
)
def test_a_bad_host_list_names_the_problem_and_no_secret(text: str, problem: str) -> None:
    with pytest.raises(InvalidURLError, match=problem) as info:
        StoreURL.parse(text)
    assert "s3cr3t" not in str(info.value)


def test_redact_url_hides_a_bad_port_in_a_host_list() -> None:
    assert redact_url("redis+cluster://u:pw@h1:7000,h2:pw2/") == (
        "redis+cluster://u:***@h1:7000,h2:***/"
    )
