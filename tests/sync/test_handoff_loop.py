"""The loop behind unistore.sync: run by an idle caller, shared otherwise, never moved mid-task."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from unistore.errors import StoreClosedError
from unistore.sync._loop import HandoffLoop

JOIN = 30.0  # a deadlock shows as a thread still alive after this


@pytest.fixture
def loop() -> Iterator[HandoffLoop]:
    runner = HandoffLoop(name="test-handoff")
    yield runner
    runner.close()


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(JOIN)
    assert not any(thread.is_alive() for thread in threads), "a call never returned"


def test_an_idle_loop_runs_on_the_calling_thread(loop: HandoffLoop) -> None:
    async def where() -> int:
        await asyncio.sleep(0)
        return threading.get_ident()

    assert loop.run(where()) == threading.get_ident()
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(loop.run(where())))
    worker.start()
    _join([worker])
    assert seen == [worker.ident]


def test_calls_from_threads_run_concurrently_and_never_change_thread(loop: HandoffLoop) -> None:
    arrived = 0
    everyone = asyncio.Event()
    moved: list[str] = []
    threads_count = 6

    async def meet(name: str) -> str:
        nonlocal arrived
        start = threading.get_ident()
        arrived += 1
        if arrived == threads_count:
            everyone.set()
        # Only concurrent calls get past this: each waits for all the others.
        await asyncio.wait_for(everyone.wait(), JOIN)
        for _ in range(20):
            await asyncio.sleep(0)
            if threading.get_ident() != start:
                moved.append(name)
        return name

    results: list[str] = []

    def call(name: str) -> None:
        results.append(loop.run(meet(name)))

    threads = [threading.Thread(target=call, args=(f"t{i}",)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    _join(threads)
    assert sorted(results) == sorted(f"t{i}" for i in range(threads_count))
    assert moved == []


def test_a_caller_returns_while_other_threads_keep_calling(loop: HandoffLoop) -> None:
    stop = threading.Event()

    async def short() -> None:
        await asyncio.sleep(0.001)

    def hammer() -> None:
        while not stop.is_set():
            loop.run(short())

    hammers = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in hammers:
        thread.start()
    done: list[int] = []

    def caller() -> None:
        for i in range(50):
            loop.run(short())
            done.append(i)

    me = threading.Thread(target=caller)
    me.start()
    me.join(JOIN)
    stop.set()
    _join(hammers)
    assert len(done) == 50, "a caller starved while others kept the loop busy"


def test_a_call_inside_a_call_is_served_while_the_driver_finishes(loop: HandoffLoop) -> None:
    async def inner() -> str:
        await asyncio.sleep(0)
        return "inner"

    async def outer() -> str:
        loop.mark_inside()
        # A worker thread makes a blocking call back into the loop, as
        # with_cas's function does; the outer call waits for it.
        return await asyncio.to_thread(loop.run, inner())

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(loop.run(outer()))) for _ in range(4)]
    for thread in threads:
        thread.start()
    _join(threads)
    assert results == ["inner"] * 4


def test_pinned_background_tasks_run_without_calls(loop: HandoffLoop) -> None:
    ticks = threading.Semaphore(0)

    async def background() -> None:
        while True:
            await asyncio.sleep(0.001)
            ticks.release()

    async def start() -> None:
        asyncio.get_running_loop().create_task(background())

    loop.pin()
    loop.run(start())
    # No call is running: only the helper thread can make it tick.
    for _ in range(5):
        assert ticks.acquire(timeout=JOIN)
    loop.close()  # cancels it and returns


def test_callbacks_scheduled_from_threads_run(loop: HandoffLoop) -> None:
    ran = threading.Event()
    loop.call_soon(ran.set)
    assert ran.wait(JOIN)


def test_errors_reach_the_caller(loop: HandoffLoop) -> None:
    async def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        loop.run(boom())
    loop.close()
    assert not loop.started


async def test_closing_from_async_code_does_not_run_the_loop_here() -> None:
    runner = HandoffLoop(name="test-handoff")

    async def one() -> int:
        return 1

    assert await asyncio.to_thread(runner.run, one()) == 1
    runner.close()  # on a thread running another loop
    assert not runner.started


def test_a_call_handed_over_while_the_driver_waits_on_a_thread_completes() -> None:
    runner = HandoffLoop(name="test-handoff")
    release = threading.Event()
    outcome: list[StoreClosedError | None] = []

    async def blocking() -> None:
        await asyncio.to_thread(release.wait, JOIN)

    async def later() -> None:
        return None

    driver = threading.Thread(target=lambda: runner.run(blocking()))
    driver.start()

    def second() -> None:
        try:
            runner.run(later())
            outcome.append(None)
        except StoreClosedError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=second)
    waiter.start()
    release.set()
    _join([driver, waiter])
    runner.close()
    assert outcome == [None]
