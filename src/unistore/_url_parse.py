"""The text rules of store URLs: where the userinfo ends, and redaction of raw text.

A password in a URL is often pasted as it was generated, unencoded, so it may
hold any of ``@ : / ? #``. The rules below read such a URL the way browsers
and SQLAlchemy do where they agree, and otherwise prefer reading too much as
password over letting a piece of it into the host, port or path, which are
printed:

* The text after ``//`` runs to the first ``/``, ``?`` or ``#`` (the
  authority), and its userinfo is everything before the authority's last
  ``@``. The user name ends at the userinfo's first ``:``: a user name may
  hold ``@`` (``admin@srv``), a password both ``@`` and ``:``.
* If that authority holds a ``:`` (a password, or a port) and an ``@`` comes
  after its end, the ``/``, ``?`` or ``#`` belongs to a password:
  the userinfo then runs to the last ``@`` of the URL, as SQLAlchemy reads
  ``redis://user:4821/S3cr3t@127.0.0.1:6379/0``. So an ``@`` in the path or
  query of such a URL must be written ``%40``.
* A URL without ``//`` may not hold ``@`` at all: ``redis:user:pw@host`` is
  a missing ``//``, and its password would otherwise end up in the path.

Nothing here echoes a piece of text that may be a misplaced password: the
password, the values of secret query keys, an invalid port and a scheme
that holds an ``@`` are shown as ``***``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from unistore.errors import InvalidURLError

__all__ = [
    "ENCODING_HINT",
    "REDACTED",
    "RawURL",
    "is_secret_key",
    "redact_raw",
    "split_url",
    "valid_port",
]

REDACTED = "***"

#: Query keys whose values are secrets and are redacted like the password; a
#: key also counts when it ends with one of these (``sslpassword``,
#: ``access_token``, ``client_secret``).
_SECRET_QUERY_KEYS = ("password", "passwd", "token", "secret", "api_key", "apikey")

#: Ends an invalid-port message when the URL holds an ``@`` (the port may be a
#: piece of a password that ended the userinfo early).
ENCODING_HINT = (
    "percent-encode any '@', ':', '/', '?', '#' or '%' in the user name or password "
    "(as %40, %3A, %2F, %3F, %23, %25)"
)

_PORT_RE = re.compile(r"[0-9]{1,5}")


def is_secret_key(key: str) -> bool:
    """Return whether a query key holds a secret (``password``, ``sslpassword``, ``token``...)."""
    return key.lower().endswith(_SECRET_QUERY_KEYS)


def valid_port(text: str) -> int | None:
    """Return the port ``text`` names, or ``None`` if it is no port from 1 to 65535."""
    # ASCII digits only: str.isdigit() accepts superscripts, and int() reads
    # the digits of other scripts.
    if _PORT_RE.fullmatch(text) is None:
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


@dataclass(frozen=True, slots=True)
class RawURL:
    """A URL's text cut into its parts, nothing decoded or checked yet.

    Attributes:
        scheme: The text before the first ``:``.
        authority: Whether ``//`` followed the scheme.
        userinfo: The text before the ``@`` that ends the userinfo, or ``None``.
        hostport: ``host[:port]`` as written (empty without an authority).
        path: The path as written.
        query: The query as written, without its ``?``.
    """

    scheme: str
    authority: bool
    userinfo: str | None
    hostport: str
    path: str
    query: str

    @property
    def user(self) -> str:
        """The raw user name: the userinfo up to its first ``:``."""
        return (self.userinfo or "").partition(":")[0]

    @property
    def password(self) -> str | None:
        """The raw password: the userinfo after its first ``:``, or ``None``."""
        if self.userinfo is None:
            return None
        _, colon, password = self.userinfo.partition(":")
        return password if colon else None

    def host_and_port(self) -> tuple[str, str | None, str]:
        """Split :attr:`hostport` into host, port text (``None`` if absent) and leftover.

        An IPv6 host keeps its brackets; the leftover is text after ``]``
        that is no ``:port`` (or an unclosed ``[`` and all after it), which
        :func:`split_url`'s caller reports. For a host list, see
        :meth:`hosts_and_ports`.
        """
        return split_host_port(self.hostport)

    def hosts_and_ports(self) -> list[tuple[str, str | None, str]]:
        """Split a host list ``h1:p1,h2:p2`` into :meth:`host_and_port` triples, in order.

        Commas inside an IPv6 host's brackets do not separate hosts (there
        are none in a valid one, but the split must not cut a bracket open).
        """
        return [split_host_port(part) for part in _host_list(self.hostport)]


def _host_list(text: str) -> list[str]:
    parts: list[str] = []
    start = depth = 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def split_host_port(text: str) -> tuple[str, str | None, str]:
    """Split one ``host[:port]`` into host, port text (``None`` if absent) and leftover."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return "", None, text
        host, after = text[: end + 1], text[end + 1 :]
        if not after:
            return host, None, ""
        if after.startswith(":"):
            return host, after[1:], ""
        return host, None, after
    host, colon, port = text.partition(":")
    return host, (port if colon else None), ""


def _first_delimiter(text: str) -> int:
    found = [index for index in map(text.find, "/?#") if index >= 0]
    return min(found, default=len(text))


def split_url(text: str) -> RawURL:
    """Cut ``text`` into scheme, userinfo, host and port, path and query.

    The parts are checked by their reader, not here; the fragment is
    dropped. See the module docstring for where the userinfo ends.

    Raises:
        InvalidURLError: ``text`` has no ``:``, so no scheme.
    """
    scheme, colon, rest = text.partition(":")
    if not colon:
        raise InvalidURLError(
            f"store URL {redact_raw(text)!r} has no scheme; expected 'scheme://...'"
        )
    userinfo: str | None = None
    hostport = ""
    authority = rest.startswith("//")
    if authority:
        after = rest[2:]
        end = _first_delimiter(after)
        first_colon, last_at = after.find(":"), after.rfind("@")
        if last_at > end and 0 <= first_colon < end and not after.startswith("["):
            # 'user:pa/ss@host': the '/' (or '?', '#') is the password's.
            userinfo, tail = after[:last_at], after[last_at + 1 :]
            end = _first_delimiter(tail)
            hostport, body = tail[:end], tail[end:]
        else:
            netloc, body = after[:end], after[end:]
            info, at, hostport = netloc.rpartition("@")
            userinfo = info if at else None
    else:
        body = rest
    body = body.partition("#")[0]
    path, _, query = body.partition("?")
    return RawURL(scheme, authority, userinfo, hostport, path, query)


def redact_raw(text: str) -> str:
    """Render URL text that may not parse with every possible secret hidden.

    The password, the values of secret query keys and an invalid port become
    ``***``; so does everything before the last ``@`` of a URL without
    ``//``, whose userinfo cannot be told from its path. The fragment is
    dropped. Control characters are shown escaped.
    """
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    scheme, colon, rest = text.partition(":")
    if "@" in scheme:
        # No scheme, and what looks like one is a user name or worse.
        scheme = REDACTED + "@" + scheme.rpartition("@")[2]
    if not colon:
        return scheme
    if not rest.startswith("//"):
        rest = rest.partition("#")[0]
        if "@" in rest:
            rest = REDACTED + "@" + rest.rpartition("@")[2]
        path, question, query = rest.partition("?")
        return f"{scheme}:{path}{question}{_redact_query(query)}"
    raw = split_url(text)
    out = [scheme, "://"]
    if raw.userinfo is not None:
        out.append(raw.user)
        if raw.password is not None:
            out.append(":" + REDACTED)
        out.append("@")
    shown = []
    for host, port, leftover in raw.hosts_and_ports():
        part = host + leftover
        if port is not None:
            part += ":" + (port if valid_port(port) is not None else REDACTED)
        shown.append(part)
    out.append(",".join(shown))
    out.append(raw.path)
    if raw.query:
        out.append("?" + _redact_query(raw.query))
    return "".join(out)


def _redact_query(query: str) -> str:
    """Hide the values of secret keys in query text (as written, without its ``?``)."""
    items = []
    for item in query.split("&"):
        key, equals, _value = item.partition("=")
        items.append(f"{key}={REDACTED}" if equals and is_secret_key(unquote_plus(key)) else item)
    return "&".join(items)
