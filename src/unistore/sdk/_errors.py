"""Error mapping: one table per driver, one translation for every operation.

A driver lists its client library's exceptions and the unistore error each
becomes; the SDK's public methods catch exactly those types around every
primitive and raise the translation ``from`` the original (the pattern of
httpx's ``map_exceptions``). Errors already in the unistore tree pass through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from unistore.errors import DriverError, UnistoreError

__all__ = ["ErrorRule", "ErrorTable"]

Message = str | Callable[[BaseException], str]


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One row of a driver's error table.

    Attributes:
        catch: The client exception type(s) the row applies to.
        error: The unistore error raised instead.
        message: What the error says after the store's redacted URL: a text,
            or a function of the exception for texts that need its details.
            Never include values, and mind what the client puts in
            ``str(exc)``: the store's secrets are scrubbed from the result.
        when: A further test on the exception (``None``: every instance).
    """

    catch: type[BaseException] | tuple[type[BaseException], ...]
    error: type[UnistoreError]
    message: Message
    when: Callable[[BaseException], bool] | None = None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ErrorTable:
    """A driver's exception table: first matching row wins.

    Args:
        *rules: The rows, most specific first.
        fallback: The catch-all for a caught exception no row matched: its
            error is :class:`~unistore.errors.DriverError` unless given.
    """

    def __init__(self, *rules: ErrorRule, fallback: ErrorRule | None = None) -> None:
        self._rules = rules
        types: list[type[BaseException]] = []
        for rule in (*rules, *((fallback,) if fallback else ())):
            catch = rule.catch if isinstance(rule.catch, tuple) else (rule.catch,)
            types.extend(t for t in catch if t not in types)
        self._fallback = fallback
        #: The exception types the SDK catches around each primitive.
        self.catches: tuple[type[BaseException], ...] = tuple(types)

    def translate(
        self, exc: BaseException, where: str, secrets: Sequence[str] = ()
    ) -> UnistoreError:
        """Return the unistore error for a caught exception (raise it ``from exc``).

        Args:
            exc: The client library's exception.
            where: Names the store (its redacted URL).
            secrets: Texts to scrub from the message (the URL's password).
        """
        if isinstance(exc, UnistoreError):
            return exc
        rule = next(
            (
                row
                for row in self._rules
                if isinstance(exc, row.catch) and (row.when is None or row.when(exc))
            ),
            self._fallback,
        )
        if rule is None:
            error: type[UnistoreError] = DriverError
            text = _describe(exc)
        else:
            error = rule.error
            text = rule.message(exc) if callable(rule.message) else rule.message
        # Only the client's text can hold a secret (``where`` is redacted
        # already), and only as a whole word: replacing a one-letter password
        # everywhere would garble the message ("po***tgre***ql").
        for secret in secrets:
            if secret:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
        return error(f"{where}: {text}")

    @contextmanager
    def mapping(self, where: str, secrets: Sequence[str] = ()) -> Iterator[None]:
        """Translate the table's exceptions raised in the block (for code outside primitives)."""
        try:
            yield
        except self.catches as exc:
            raise self.translate(exc, where, secrets) from exc


#: The table of a driver whose primitives raise only unistore errors.
NO_ERRORS = ErrorTable()
