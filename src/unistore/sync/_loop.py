"""An event loop that runs on the thread calling it, or on the thread already running it.

A blocking call has to run its coroutine on the store's loop. Handing every
call to a loop thread costs two thread wake-ups per call (tens of
microseconds, far more on a busy machine), which is more than a Redis round
trip. So the loop has no thread of its own: a call made while nobody runs it
runs it on the calling thread. A call made while another thread runs it is
handed to that thread and waits for its result, as with a portal.

The loop changes threads only while no task is alive on it. A task may be
suspended in the middle of work that belongs to the thread it started on
(SQLAlchemy's greenlets do), so the thread running the loop finishes the
calls handed to it before it leaves. Calls handed over while it finishes
show that threads contend for the store: they wait, and a helper thread
then runs the loop for everyone, as a portal would, until no call has come
for a moment (:data:`LINGER`). Background tasks that outlive calls (a
session manager's auto-saver) need a thread that stays:
:meth:`HandoffLoop.pin` moves the loop to the helper thread for good.

One loop object serves every thread in turn, so the store's connections,
which belong to their loop, stay valid whichever thread runs it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

from unistore.errors import StoreClosedError

T = TypeVar("T")

_running_loop = asyncio.events._get_running_loop
_HELPER = -1  # the driver id of the helper thread
#: Seconds the helper keeps running an idle loop before it leaves it to the
#: next caller: under contention, calls keep coming and the loop stays put.
LINGER = 0.02
# Set in the worker thread that runs a call's own callback (with_cas's
# function): the call waits for that thread, so whatever it hands over must
# start even while the driver is finishing up, or neither would ever end.
_INSIDE: contextvars.ContextVar[HandoffLoop | None] = contextvars.ContextVar(
    "unistore_sync_inside", default=None
)


class _Handed:
    """A call handed to the thread running the loop; its caller waits on it."""

    __slots__ = ("coro", "done", "error", "inside", "result")

    def __init__(self, coro: Coroutine[Any, Any, Any], inside: bool) -> None:
        self.coro = coro
        self.inside = inside
        # Released when the call ended: a pre-acquired lock is the cheapest
        # wake-up.
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None


class HandoffLoop:
    """An event loop run by whichever thread needs it.

    Args:
        name: The name of the helper thread (see :meth:`pin`).
    """

    def __init__(self, name: str = "unistore-sync") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        # _state guards the fields after it. _running is held by the thread
        # inside run_until_complete: a new driver waits for the last one to
        # be out of the loop before it goes in.
        self._state = threading.Lock()
        self._running = threading.Lock()
        self._driver: int | None = None  # the driving thread's id, _HELPER, or None
        self._draining = False  # the driver finishes what runs, starts nothing new
        self._pending: deque[_Handed] = deque()  # handed over, not started yet
        self._callbacks = 0  # call_soon callbacks not run yet
        self._tasks = 0  # live tasks on the loop (counted by its task factory)
        self._pinned = False
        self._closing = False
        self._helper: threading.Thread | None = None
        self._helper_wake = threading.Event()
        self._idle_task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        """Whether the loop was made and is not closed yet."""
        loop = self._loop
        return loop is not None and not loop.is_closed()

    def in_loop(self) -> bool:
        """Whether the caller runs inside this loop (on whichever thread drives it)."""
        loop = self._loop
        return loop is not None and _running_loop() is loop

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            self._tasks = 0
            self._loop.set_task_factory(self._count_task)
        return self._loop

    def _count_task(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Task[Any]:
        # Counted, so that leaving the loop needs no scan of every task in the
        # process (asyncio.all_tasks). The callback is added first, so it runs
        # before run_until_complete's own stop callback.
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        self._tasks += 1
        task.add_done_callback(self._uncount_task)
        return task

    def _uncount_task(self, _: asyncio.Task[Any]) -> None:
        self._tasks -= 1

    # -- calls ------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block until it is done.

        A caller inside another running event loop (closing a store in async
        code) cannot run this loop on its thread: its call goes to the
        helper thread. Other callers check for a running loop first, to raise
        the error that names their async twin.

        Args:
            coro: The coroutine to run.
            timeout: Give up waiting after this many seconds (``TimeoutError``;
                the call goes on). For exit hooks, which must not hang.
        """
        elsewhere = timeout is not None or _running_loop() is not None
        with self._state:
            loop = self._ensure_loop()
            if self._driver is None and not (elsewhere or self._pinned):
                self._driver = threading.get_ident()
                handed = None
            else:
                handed = _Handed(coro, _INSIDE.get() is self)
                self._pending.append(handed)
                if self._driver is None:
                    self._hand_to_helper()
                else:
                    loop.call_soon_threadsafe(self._start_pending)
        if handed is None:
            return self._drive(loop, coro)
        if not handed.done.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("the call did not finish in time")
        if handed.error is not None:
            raise handed.error
        return handed.result  # type: ignore[no-any-return]

    def call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the loop from any thread, and see that it runs."""
        with self._state:
            loop = self._ensure_loop()
            self._callbacks += 1
            loop.call_soon_threadsafe(self._run_callback, fn, args)
            if self._driver is None:
                self._hand_to_helper()

    def _run_callback(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        finally:
            with self._state:
                self._callbacks -= 1

    def mark_inside(self) -> None:
        """Mark the current context as part of a call running on this loop.

        Call it in the task before it hands work to a thread
        (``asyncio.to_thread`` copies the context): blocking calls that work
        makes are then served at once, whatever the loop is doing.
        """
        _INSIDE.set(self)

    def pin(self) -> None:
        """Run the loop on the helper thread from now on, for background tasks."""
        with self._state:
            self._ensure_loop()
            self._pinned = True
            if self._driver is None:
                self._hand_to_helper()

    def _drive(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
        """Run the loop on this thread for ``coro``, then until no task is left."""
        with self._running:
            try:
                return loop.run_until_complete(coro)
            finally:
                if self._tasks or self._callbacks or self._pending:
                    with self._state:
                        self._draining = True
                    loop.run_until_complete(self._until_idle(serve=False))
                self._leave()

    def _start_pending(self) -> None:
        # On the loop, in whichever thread drives it.
        with self._state:
            if self._draining:  # the rest waits for the next driver
                started = deque(h for h in self._pending if h.inside)
                self._pending = deque(h for h in self._pending if not h.inside)
            else:
                started, self._pending = self._pending, deque()
        for handed in started:
            try:
                task = asyncio.ensure_future(handed.coro)
            except BaseException as exc:  # not a coroutine: the caller gets the error
                self._finish(handed, None, exc)
                continue
            task.add_done_callback(functools.partial(self._end, handed))

    def _end(self, handed: _Handed, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            self._finish(handed, None, asyncio.CancelledError())
        elif (error := task.exception()) is not None:
            self._finish(handed, None, error)
        else:
            self._finish(handed, task.result(), None)

    @staticmethod
    def _finish(handed: _Handed, result: Any, error: BaseException | None) -> None:
        handed.result, handed.error = result, error
        handed.done.release()

    def _leave(self) -> None:
        """Stop driving (the loop is stopped): pass it on, or leave it idle."""
        with self._state:
            self._draining = False
            if self._closing:
                self._driver = None
                for handed in self._pending:
                    self._finish(handed, None, StoreClosedError("the store was closed"))
                self._pending.clear()
            elif self._pinned or self._tasks or self._callbacks or self._pending:
                # Pinned, contended (calls are waiting), or interrupted
                # (Ctrl-C) with work left: the helper carries on.
                self._hand_to_helper()
            else:
                self._driver = None

    # -- the helper thread ------------------------------------------------------

    def _hand_to_helper(self) -> None:
        # Called with _state held.
        self._driver = _HELPER
        if self._helper is None or not self._helper.is_alive():
            self._helper = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._helper.start()
        self._helper_wake.set()

    def _serve(self) -> None:
        while True:
            self._helper_wake.wait()
            self._helper_wake.clear()
            with self._state:
                loop = self._loop
                if self._closing or loop is None or loop.is_closed():
                    self._driver = None
                    return
                if self._driver != _HELPER:
                    continue
            with self._running:
                loop.call_soon(self._start_pending)
                loop.run_until_complete(self._until_idle(serve=True))
                self._leave()

    async def _until_idle(self, *, serve: bool) -> None:
        """Drive the loop until no task, callback or (when serving) call is left."""
        loop = asyncio.get_running_loop()
        me = self._idle_task = asyncio.current_task()
        idle_since: float | None = None
        while not self._closing:
            await asyncio.sleep(0)  # callbacks already scheduled run first
            others = asyncio.all_tasks(loop) - {me}
            if others:
                idle_since = None
                await asyncio.wait(others, return_when=asyncio.FIRST_COMPLETED)
                continue
            with self._state:
                busy = self._callbacks or (serve and (self._pinned or self._pending))
                if not busy:
                    now = loop.time()
                    if not serve or (idle_since is not None and now - idle_since >= LINGER):
                        return
                    idle_since = idle_since or now
                if any(h.inside for h in self._pending):
                    self._start_pending()
                    continue
            # Handed calls start from their own callbacks meanwhile; this only
            # notices idleness (or closing), so a pinned loop polls slowly.
            await asyncio.sleep(0.05 if self._pinned else 0.001)

    # -- closing ----------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what still runs on the loop and close it; idempotent.

        Args:
            timeout: How long to wait for the thread running the loop.
        """
        with self._state:
            loop, self._closing = self._loop, True
            helper = self._helper
            if loop is not None and not loop.is_closed() and self._driver is not None:
                # Whoever drives waits for background tasks: end them (the
                # store is closed already), so that it leaves the loop.
                loop.call_soon_threadsafe(self._cancel_background, loop)
        self._helper_wake.set()
        if helper is not None and helper is not threading.current_thread():
            helper.join(timeout)
        if loop is None or loop.is_closed():
            return
        if not self._running.acquire(timeout=timeout):
            return  # a call is stuck on the loop; interpreter exit takes it
        try:
            if _running_loop() is None:
                _close_loop(loop)
            else:  # closing from async code: this thread cannot run the loop
                closer = threading.Thread(target=_close_loop, args=(loop,), name=self._name)
                closer.start()
                closer.join(timeout)
        finally:
            self._running.release()

    def _cancel_background(self, loop: asyncio.AbstractEventLoop) -> None:
        for task in asyncio.all_tasks(loop):
            if task is not self._idle_task:
                task.cancel()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending on a stopped loop, then close it."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
