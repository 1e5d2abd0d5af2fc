"""StoreURL: parse, normalise and redact store URLs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, unquote, urlencode

from unistore._known import canonical_scheme
from unistore.errors import InvalidURLError

__all__ = ["StoreURL", "is_secret_key"]

#: Query keys whose values are secrets and are redacted like the password; a
#: key also counts when it ends with one of these (``sslpassword``,
#: ``access_token``, ``client_secret``).
_SECRET_QUERY_KEYS = ("password", "passwd", "token", "secret", "api_key", "apikey")

_REDACTED = "***"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9.\-]*)(?:\+([A-Za-z][A-Za-z0-9_.\-]*))?$")

#: Schemes whose path names a local file or folder.
_PATH_SCHEMES = frozenset({"sqlite", "file"})


def is_secret_key(key: str) -> bool:
    """Return whether a query key holds a secret (``password``, ``sslpassword``, ``token``...)."""
    return key.lower().endswith(_SECRET_QUERY_KEYS)


def _parse_port(text: str, raw: str) -> int:
    # The text is not quoted: when a password holds an unencoded '/', '?' or
    # '#', what looks like the port is a piece of that password.
    if not (text.isascii() and text.isdigit()):
        raise InvalidURLError(f"invalid port in store URL {raw!r}: expected digits")
    port = int(text)
    if not 0 < port < 65536:
        raise InvalidURLError(f"port {port} out of range 1-65535 in store URL {raw!r}")
    return port


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL: ``scheme[+dialect]://user:password@host:port/path?query``.

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
    """

    scheme: str
    dialect: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    path: str = ""
    query: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

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
        shown = _redact_raw(url)
        scheme_text, sep, rest = url.partition(":")
        if not sep:
            raise InvalidURLError(f"store URL {shown!r} has no scheme; expected 'scheme://...'")
        match = _SCHEME_RE.match(scheme_text)
        if match is None:
            raise InvalidURLError(f"invalid scheme {scheme_text!r} in store URL {shown!r}")
        scheme = match.group(1).lower()
        # Aliases come from the drivers' declarations, mirrored in the known
        # table so that parsing imports no driver; connect() also resolves the
        # aliases of third-party drivers, which only their declaration knows.
        scheme = canonical_scheme(scheme)
        dialect = match.group(2).lower() if match.group(2) else None

        rest, _, _fragment = rest.partition("#")
        rest, _, query_text = rest.partition("?")
        netloc = ""
        if rest.startswith("//"):
            netloc, slash, path = rest[2:].partition("/")
            path = slash + path
        else:
            path = rest

        username = password = host = None
        port = None
        if netloc:
            userinfo, at, hostport = netloc.rpartition("@")
            if at:
                user_text, colon, pass_text = userinfo.partition(":")
                username = unquote(user_text) or None
                password = unquote(pass_text) if colon else None
            if hostport.startswith("["):
                end = hostport.find("]")
                if end < 0:
                    raise InvalidURLError(f"unclosed '[' in the host of store URL {shown!r}")
                host = hostport[1:end]
                after = hostport[end + 1 :]
                if after:
                    if not after.startswith(":"):
                        raise InvalidURLError(f"unexpected {after!r} after the host in {shown!r}")
                    port = _parse_port(after[1:], shown)
            else:
                host_text, colon, port_text = hostport.partition(":")
                if colon:
                    port = _parse_port(port_text, shown)
                host = unquote(host_text)
            host = host.lower() if host and scheme != "memory" else (host or None)

        try:
            pairs = parse_qsl(query_text, keep_blank_values=True, strict_parsing=False)
        except ValueError as exc:  # pragma: no cover - parse_qsl only fails when strict
            raise InvalidURLError(f"invalid query in store URL {shown!r}: {exc}") from None
        query = MappingProxyType(dict(pairs))
        return cls(
            scheme=scheme,
            dialect=dialect,
            username=username,
            password=password,
            host=host,
            port=port,
            path=unquote(path),
            query=query,
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
                netloc += ":" + (_REDACTED if hide_secrets else quote(self.password, safe=""))
            netloc += "@"
        if self.host is not None:
            netloc += f"[{self.host}]" if ":" in self.host else quote(self.host, safe=".-_~")
        if self.port is not None:
            netloc += f":{self.port}"
        if netloc or not self.path or self.path.startswith("/"):
            out.append("//")
        out.append(netloc)
        out.append(quote(self.path, safe="/:.-_~@+,;="))
        if self.query:
            shown = {
                k: (_REDACTED if hide_secrets and is_secret_key(k) else v)
                for k, v in self.query.items()
            }
            out.append("?" + urlencode(shown, safe="*"))
        return "".join(out)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"StoreURL({self.render()!r})"


def _redact_raw(url: str) -> str:
    """Best-effort redaction of a URL we could not parse, for error messages.

    Everything from the user's ':' to the last '@' goes: a password may hold
    unencoded '@', '/', '?' or '#', and hiding too much beats showing a piece.
    """
    text = re.sub(r"(//[^/?#@:]*:).*@", rf"\g<1>{_REDACTED}@", url)
    keys = "|".join(_SECRET_QUERY_KEYS)
    return re.sub(rf"(?i)([?&][^&#=]*(?:{keys})=)[^&#]*", rf"\g<1>{_REDACTED}", text)
