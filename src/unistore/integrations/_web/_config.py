"""The settings every web-session integration takes, checked once at start-up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Final, Literal

from unistore._namespaced._checks import check_prefix, check_ttl
from unistore.errors import ValidationError

SameSite = Literal["lax", "strict", "none"]

#: Fourteen days, the session lifetime Starlette and Django default to.
DEFAULT_TTL: Final = 14 * 24 * 3600
# RFC 6265 cookie-name characters (an HTTP token).
_COOKIE_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")
# What may follow "Path=" or "Domain=" without ending the attribute early.
_ATTRIBUTE: Final = re.compile(r"[\x21-\x3a\x3c-\x7e]{1,1024}")


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """How the session cookie is written.

    The cookie is always ``HttpOnly``: scripts never need the id, and a script
    injected into a page must not be able to read it.
    """

    name: str
    secure: bool
    same_site: SameSite
    path: str
    domain: str | None
    max_age: int

    def set_header(self, token: str) -> str:
        """Return the ``Set-Cookie`` header value that hands ``token`` to the client."""
        return self._header(token, self.max_age)

    def delete_header(self) -> str:
        """Return the ``Set-Cookie`` header value that makes the client drop the cookie."""
        return self._header("", 0)

    def _header(self, value: str, max_age: int) -> str:
        cookie: SimpleCookie = SimpleCookie()
        cookie[self.name] = value
        morsel = cookie[self.name]
        morsel["path"] = self.path
        morsel["max-age"] = max_age
        morsel["httponly"] = True
        morsel["samesite"] = self.same_site.capitalize()
        if self.secure:
            morsel["secure"] = True
        if self.domain is not None:
            morsel["domain"] = self.domain
        if max_age == 0:
            morsel["expires"] = "Thu, 01 Jan 1970 00:00:00 GMT"
        return morsel.OutputString()


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Checked settings of one web-session integration."""

    prefix: str
    ttl: float
    touch_interval: float
    cookie: CookiePolicy


def make_config(
    *,
    owner: str,
    prefix: str,
    ttl: float | timedelta,
    touch_interval: float | timedelta | None,
    cookie_name: str,
    secure: bool,
    same_site: str,
    path: str,
    domain: str | None,
) -> WebConfig:
    """Check the settings of ``owner`` and return them, or raise ``ValidationError``."""
    prefix = check_prefix(prefix)
    seconds = check_ttl(ttl)
    if touch_interval is None:
        # A tenth of the lifetime: one touch per session every so often instead
        # of one per request, and the session still lives at least 90% of its
        # TTL after the last request.
        interval = seconds / 10
    elif isinstance(touch_interval, timedelta):
        interval = touch_interval.total_seconds()
    elif isinstance(touch_interval, int | float) and not isinstance(touch_interval, bool):
        interval = float(touch_interval)
    else:
        raise ValidationError(
            f"{owner}: touch_interval must be seconds or a timedelta, "
            f"got {type(touch_interval).__name__}"
        )
    if not 0 <= interval <= seconds:
        raise ValidationError(f"{owner}: touch_interval must be between 0 and the ttl")
    if not isinstance(cookie_name, str) or not _COOKIE_NAME.fullmatch(cookie_name):
        raise ValidationError(
            f"{owner}: cookie_name must be 1 to 128 cookie-name characters "
            "(letters, digits and !#$%&'*+-.^_`|~)"
        )
    if not isinstance(secure, bool):
        raise ValidationError(f"{owner}: secure must be a bool, got {type(secure).__name__}")
    site = same_site.lower() if isinstance(same_site, str) else None
    if site not in ("lax", "strict", "none"):
        raise ValidationError(f"{owner}: same_site must be 'lax', 'strict' or 'none'")
    if site == "none" and not secure:
        # Browsers drop a SameSite=None cookie that is not Secure.
        raise ValidationError(f"{owner}: same_site='none' needs secure=True")
    if not isinstance(path, str) or not path.startswith("/") or not _ATTRIBUTE.fullmatch(path):
        raise ValidationError(f"{owner}: path must start with '/' and hold no ';' or spaces")
    if domain is not None and (not isinstance(domain, str) or not _ATTRIBUTE.fullmatch(domain)):
        raise ValidationError(f"{owner}: domain must be a host name or None")
    policy = CookiePolicy(
        name=cookie_name,
        secure=secure,
        same_site=site,  # type: ignore[arg-type]
        path=path,
        domain=domain,
        max_age=max(1, round(seconds)),
    )
    return WebConfig(prefix=prefix, ttl=seconds, touch_interval=interval, cookie=policy)
