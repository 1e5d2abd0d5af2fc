"""StoreURL: parse, normalise and redact store URLs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, unquote, urlencode

from unistore._known import canonical_scheme
from unistore._url_parse import (
    ENCODING_HINT,
    REDACTED,
    is_secret_key,
    redact_raw,
    split_url,
    valid_port,
)
from unistore.errors import InvalidURLError

__all__ = ["StoreURL", "is_secret_key", "redact_url"]

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9.\-]*)(?:\+([A-Za-z][A-Za-z0-9_.\-]*))?$")
#: A scheme that fails _SCHEME_RE is echoed in its error only if it looks like a
#: mistyped scheme, not like a user name or host pasted without one.
_SHOWN_SCHEME_RE = re.compile(r"[\w.+\- ]{1,40}")

#: Schemes whose path names a local file or folder.
_PATH_SCHEMES = frozenset({"sqlite", "file"})


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL: ``scheme[+dialect]://user:password@host:port/path?query``.

    The user name and password may be percent-encoded, and need not be: the
    userinfo runs to the last ``@`` of the part after ``//``, so
    ``postgresql://admin@srv:p@ss@host/db`` has user ``admin@srv`` and
    password ``p@ss``, and a password may hold an unencoded ``/``, ``?`` or
    ``#`` as long as an ``@`` follows it (``redis://user:48/21@host/0``).

    ``str()`` and ``repr()`` redact the password and the values of secret query
    keys (``password``, ``token``, ...); :meth:`render` with ``hide_secrets=False``
    gives the full text for the driver that needs it.

    Path conventions: for ``sqlite`` and ``file``, three slashes introduce a
    relative path (``sqlite:///app.db`` is ``app.db``) and four an absolute one
    (``sqlite:////var/app.db``) as in SQLAlchemy, except that ``file:///var/x``
    is absolute as in RFC 8089; ``file:relative/dir`` and ``file://./dir`` are
    relative. :attr:`local_path` holds the normalised path.

    Attributes:
        scheme: Lower-cased, with the shipped drivers' aliases resolved
            (``postgres`` becomes ``postgresql``).
        dialect: The part after ``+`` (``asyncpg`` in ``postgresql+asyncpg``).
        username: Decoded user name, or ``None``.
        password: Decoded password, or ``None``. Never printed.
        host: Host name (lower-cased) or ``None``; for ``memory://NAME`` the name.
        port: Port number or ``None``.
        path: The decoded path as written (``/0`` in ``redis://h/0``).
        query: The query options as a read-only mapping of the last value per key.
        hosts: For a URL naming several hosts (``redis+cluster://h1:p1,h2:p2/``),
            every ``(host, port)`` in order, :attr:`host` and :attr:`port`
            being the first; empty for a URL with one host or none.
    """

    scheme: str
    dialect: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    path: str = ""
    query: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    hosts: tuple[tuple[str | None, int | None], ...] = ()

    @classmethod
    def parse(cls, url: str | StoreURL) -> StoreURL:
        """Parse a URL string.

        Raises:
            InvalidURLError: The text is not a store URL; the message says why
                and shows the URL with its password hidden.
        """
        if isinstance(url, StoreURL):
            return url
        if not isinstance(url, str):
            raise InvalidURLError(f"a store URL must be a str, not {type(url).__name__}")
        if not url.strip():
            raise InvalidURLError(
                "empty store URL; expected e.g. 'memory://' or 'sqlite:///app.db'"
            )
        if any(ch in url for ch in "\x00\r\n\t"):
            raise InvalidURLError("store URL contains a control character")
        raw = split_url(url)
        match = _SCHEME_RE.match(raw.scheme)
        if match is None:
            named = f"{raw.scheme!r} " if _SHOWN_SCHEME_RE.fullmatch(raw.scheme) else ""
            raise InvalidURLError(f"invalid scheme {named}in store URL {redact_raw(url)!r}")
        scheme = match.group(1).lower()
        # Aliases come from the drivers' declarations, mirrored in the known
        # table so that parsing imports no driver; connect() also resolves the
        # aliases of third-party drivers, which only their declaration knows.
        scheme = canonical_scheme(scheme)
        dialect = match.group(2).lower() if match.group(2) else None
        if not raw.authority and "@" in raw.path + raw.query:
            # 'redis:user:pw@host': without '//' the password would be read
            # as part of the path, which is printed.
            raise InvalidURLError(
                f"store URL {redact_raw(url)!r} holds an '@' but no '//' after its scheme; "
                f"write '{scheme}://user:password@host/...', or '%40' for an '@' in a path"
            )
        username = password = None
        if raw.userinfo is not None:
            username = unquote(raw.user) or None
            password = None if raw.password is None else unquote(raw.password)
        memory = scheme == "memory"
        # A memory store's name is any text, commas included: no host list.
        parts = [raw.host_and_port()] if memory else raw.hosts_and_ports()
        listed = [_host_and_port(part, url, keep_case=memory) for part in parts]
        host, port = listed[0]
        hosts = tuple(listed) if len(listed) > 1 else ()
        if hosts and any(name is None for name, _ in hosts):
            raise InvalidURLError(f"an empty host in the host list of {redact_raw(url)!r}")
        # Never raises: not strict, and no max_num_fields.
        pairs = parse_qsl(raw.query, keep_blank_values=True, strict_parsing=False)
        query = MappingProxyType(dict(pairs))
        return cls(
            scheme=scheme,
            dialect=dialect,
            username=username,
            password=password,
            host=host,
            port=port,
            path=unquote(raw.path),
            query=query,
            hosts=hosts,
        )

    @property
    def drivername(self) -> str:
        """``scheme`` or ``scheme+dialect``."""
        return f"{self.scheme}+{self.dialect}" if self.dialect else self.scheme

    @property
    def local_path(self) -> str | None:
        """The normalised file-system path for ``sqlite`` and ``file`` URLs.

        ``None`` for other schemes and for in-memory SQLite (``sqlite://`` or
        ``sqlite:///:memory:``).
        """
        if self.scheme not in _PATH_SCHEMES:
            return None
        path = self.path
        if self.scheme == "sqlite":
            if path in ("", "/", "/:memory:", ":memory:"):
                return None
            # SQLAlchemy convention: the first slash separates, the rest is the path.
            return path[1:] if path.startswith("/") else path
        if self.host in (".", ".."):
            return self.host + path
        if self.host not in (None, "localhost"):
            raise InvalidURLError(
                f"file URL {str(self)!r} names host {self.host!r}; only local paths are supported"
            )
        return path or "."

    def with_options(self, **options: str) -> StoreURL:
        """Return a copy with query options added or replaced."""
        merged = dict(self.query)
        merged.update(options)
        return replace(self, query=MappingProxyType(merged))

    def render(self, *, hide_secrets: bool = True) -> str:
        """Return the URL as text, with secrets replaced by ``***`` by default."""
        out = [self.drivername, ":"]
        netloc = ""
        if self.username is not None or self.password is not None:
            netloc += quote(self.username or "", safe="")
            if self.password is not None:
                netloc += ":" + (REDACTED if hide_secrets else quote(self.password, safe=""))
            netloc += "@"
        netloc += ",".join(
            _render_host(host, port) for host, port in (self.hosts or ((self.host, self.port),))
        )
        if netloc or not self.path or self.path.startswith("/"):
            out.append("//")
        out.append(netloc)
        # '@' is encoded: unencoded, it could read back as the end of a password.
        out.append(quote(self.path, safe="/:.-_~+,;="))
        if self.query:
            shown = {
                k: (REDACTED if hide_secrets and is_secret_key(k) else v)
                for k, v in self.query.items()
            }
            out.append("?" + urlencode(shown, safe="*"))
        return "".join(out)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"StoreURL({self.render()!r})"


def _render_host(host: str | None, port: int | None) -> str:
    text = ""
    if host is not None:
        text = f"[{host}]" if ":" in host else quote(host, safe=".-_~")
    if port is not None:
        text += f":{port}"
    return text


def _host_and_port(
    part: tuple[str, str | None, str], url: str, *, keep_case: bool
) -> tuple[str | None, int | None]:
    host_text, port_text, leftover = part
    if leftover:
        problem = "unclosed '['" if not host_text else "unexpected text after ']'"
        raise InvalidURLError(f"{problem} in the host of store URL {redact_raw(url)!r}")
    port = None
    if port_text is not None:
        port = valid_port(port_text)
        if port is None:
            # Never the value: it may be a piece of a password.
            hint = f"; {ENCODING_HINT}" if "@" in url else ""
            raise InvalidURLError(
                f"invalid port in store URL {redact_raw(url)!r}: "
                f"expected a number from 1 to 65535{hint}"
            )
    host = host_text[1:-1] if host_text.startswith("[") else unquote(host_text)
    if not host:
        return None, port
    return (host if keep_case else host.lower()), port


def redact_url(text: str) -> str:
    """Return URL text as it may be printed: with its secrets hidden, parsed or not.

    A URL that parses renders as ``str(StoreURL.parse(text))``. One that does
    not is shown as written, with ``***`` for its password, the values of
    secret query keys, an invalid port, and everything before the last ``@``
    of a URL without ``//``.
    """
    try:
        return StoreURL.parse(text).render()
    except InvalidURLError:
        return redact_raw(text)
