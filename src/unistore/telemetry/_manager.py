"""The instrument plugin manager: hook specifications, registration, entry points.

Instruments are pluggy plugins under unistore's project name, so the one
marker :data:`unistore.hookimpl` serves drivers and instruments alike; they
get a plugin manager of their own, because they come and go at run time
(``instrument()``, ``uninstrument()``) while the driver registry caches what
it found, and because a driver lookup must not wait on an instrument being
registered. Entry points of the group ``unistore.instruments`` are loaded
once, at the first ``connect()``.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import pluggy

from unistore._registry import PROJECT_NAME, hookspec
from unistore.errors import ConfigurationError
from unistore.telemetry import ENTRY_POINT_GROUP, _state
from unistore.telemetry._info import describe

if TYPE_CHECKING:
    from unistore.telemetry._info import (
        CasExhausted,
        CasRetry,
        OperationInfo,
        OperationObserver,
        SessionSave,
    )

__all__ = ["ENTRY_POINT_GROUP", "load_entry_points", "register", "registered", "unregister"]

logger = logging.getLogger("unistore.telemetry")


class _InstrumentSpecs:
    """The hooks an instrument may implement (each takes one argument, or none)."""

    @hookspec
    def unistore_operation(self, operation: OperationInfo) -> OperationObserver | None:
        """A store operation starts: return an observer told when it ends, or ``None``.

        Called in the task that runs the operation, just before it runs; the
        observer's ``finished`` is called in the same task right after, so
        an instrument may make a context current in between (a span).
        """

    @hookspec
    def unistore_cas_retry(self, retry: CasRetry) -> None:
        """A compare-and-swap run met a conflict and will run again."""

    @hookspec
    def unistore_contention_exhausted(self, exhausted: CasExhausted) -> None:
        """A compare-and-swap gave up after its last run met a conflict."""

    @hookspec
    def unistore_session_saved(self, save: SessionSave) -> None:
        """A session manager's save wrote changes, or failed."""


_HOOKS = {
    "unistore_operation": "operations",
    "unistore_cas_retry": "cas_retry",
    "unistore_contention_exhausted": "cas_exhausted",
    "unistore_session_saved": "session_saved",
}

_lock = threading.RLock()
_pm = pluggy.PluginManager(PROJECT_NAME)
_pm.add_hookspecs(_InstrumentSpecs)
_loaded = False


def _call_form(impl: pluggy.HookImpl) -> Any:
    # Pluggy lets an implementation take fewer arguments than the spec: ours
    # take their one argument or none.
    function = impl.function
    if impl.argnames:
        return function

    def without_argument(_event: object) -> object:
        return function()

    # So that a failure is logged under the instrument's name.
    without_argument.__self__ = impl.plugin  # type: ignore[attr-defined]
    return without_argument


def _refresh() -> None:
    """Rebuild the tuples the hot paths check from what is registered."""
    for hook, attribute in _HOOKS.items():
        caller = getattr(_pm.hook, hook)
        # Pluggy calls the last registered first (tryfirst/trylast aside); so do we.
        impls = tuple(_call_form(impl) for impl in reversed(caller.get_hookimpls()))
        setattr(_state, attribute, impls)
    _state.connect_check = not _loaded or bool(_state.operations)


def _implements_one(plugin: object) -> bool:
    return any(
        callable(getattr(plugin, hook, None))
        and hasattr(getattr(plugin, hook), f"{PROJECT_NAME}_impl")
        for hook in _HOOKS
    )


def register(plugin: object, name: str | None = None) -> str:
    """Register an instrument; return the name it is registered under.

    Raises:
        ConfigurationError: ``plugin`` implements no unistore telemetry hook,
            one of its hooks does not match the specification (or is a hook
            wrapper), or it is registered already.
    """
    if not _implements_one(plugin):
        raise ConfigurationError(
            f"{describe(plugin)} implements no unistore telemetry hook "
            f"(mark one of {', '.join(sorted(_HOOKS))} with @unistore.hookimpl)"
        )
    with _lock:
        if _pm.is_registered(plugin):
            raise ConfigurationError(f"instrument {describe(plugin)} is registered already")
        try:
            registered_name = _pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            # Pluggy's message names the hook and what is wrong with it.
            raise ConfigurationError(
                f"cannot register instrument {describe(plugin)}: {exc}"
            ) from None
        if registered_name is None:  # pragma: no cover - pluggy blocked the name
            raise ConfigurationError(f"instrument name {name!r} is blocked")
        for hook in _HOOKS:
            for impl in getattr(_pm.hook, hook).get_hookimpls():
                if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                    _pm.unregister(plugin)
                    raise ConfigurationError(
                        f"instrument {describe(plugin)}: {hook} must not be a hook wrapper"
                    )
        _refresh()
        return registered_name


def unregister(plugin: object | None = None, *, name: str | None = None) -> bool:
    """Unregister an instrument (by object or by name); return whether it was registered."""
    with _lock:
        if plugin is not None and not _pm.is_registered(plugin):
            return False
        if plugin is None and (name is None or _pm.get_plugin(name) is None):
            return False
        _pm.unregister(plugin, name=name)
        _refresh()
        return True


def registered() -> list[object]:
    """The registered instruments, in registration order."""
    with _lock:
        return [plugin for _, plugin in _pm.list_name_plugin()]


def load_entry_points() -> None:
    """Register the instruments published under ``unistore.instruments``, once per process.

    One that fails to import or to register is logged and skipped.
    """
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugin = ep.load()
                if not _pm.is_registered(plugin):
                    register(plugin, name=ep.name)
            except Exception:
                logger.warning(
                    "skipping unistore instrument %r: it failed to load or register",
                    ep.value,
                    exc_info=True,
                )
        _refresh()
