"""Reading LangGraph's ``RunnableConfig`` and the saver's own settings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from unistore.errors import ValidationError

# Checkpoint threads live in scopes of their own, apart from the sessions other
# code keeps in the same store. The configured scope follows a colon, so a
# derived scope names exactly one configured scope (or none).
SCOPE_ROOT = "langgraph.threads"


def derive_scope(scope: str | None) -> str:
    """The session scope of a saver configured with ``scope``."""
    if scope is None:
        return SCOPE_ROOT
    if not isinstance(scope, str) or not scope:
        raise ValidationError(
            f"UnistoreSaver scope must be a non-empty str or None, got {scope!r}"[:200]
        )
    return f"{SCOPE_ROOT}:{scope}"


def seconds(ttl: float | timedelta | None, what: str) -> float | None:
    """A TTL as positive seconds, or ``None``."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        value = ttl.total_seconds()
    elif isinstance(ttl, int | float) and not isinstance(ttl, bool):
        value = float(ttl)
    else:
        raise ValidationError(f"{what} must be seconds or a timedelta, got {type(ttl).__name__}")
    if not value > 0:
        raise ValidationError(f"{what} must be positive, got {value!r}")
    return value


def thread_id(value: object, what: str = "thread_id") -> str:
    """A thread id as the session id it is stored under.

    LangGraph applications pass strings, and sometimes ints or UUIDs; those
    are stored as their ``str``. Anything else is refused rather than turned
    into a surprising id.
    """
    if isinstance(value, str):
        if not value:
            raise ValidationError(f"UnistoreSaver: {what} must not be empty")
        return value
    if isinstance(value, int | uuid.UUID) and not isinstance(value, bool):
        return str(value)
    raise ValidationError(
        f"UnistoreSaver: {what} must be a str, int or UUID, got {type(value).__name__}"
    )


def configurable(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``config["configurable"]``, checked."""
    if not isinstance(config, Mapping):
        raise ValidationError(
            f"UnistoreSaver: a config must be a mapping, got {type(config).__name__}"
        )
    conf = config.get("configurable")
    if not isinstance(conf, Mapping):
        raise ValidationError("UnistoreSaver: config['configurable'] is missing")
    return conf


def thread_of(config: Mapping[str, Any]) -> str:
    """The thread a config names."""
    conf = configurable(config)
    if conf.get("thread_id") is None:
        raise ValidationError("UnistoreSaver: config['configurable']['thread_id'] is required")
    return thread_id(conf["thread_id"])


def namespace_of(config: Mapping[str, Any], default: str | None = "") -> str | None:
    """The checkpoint namespace a config names (``default`` when absent)."""
    value = configurable(config).get("checkpoint_ns", default)
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(f"UnistoreSaver: checkpoint_ns must be a str, got {type(value).__name__}")


def checkpoint_id_of(config: Mapping[str, Any] | None) -> str | None:
    """The checkpoint id a config names, or ``None``."""
    if config is None:
        return None
    value = configurable(config).get("checkpoint_id")
    if value is None or (isinstance(value, str) and value):
        return value
    if value == "":
        return None
    raise ValidationError(f"UnistoreSaver: checkpoint_id must be a str, got {type(value).__name__}")
