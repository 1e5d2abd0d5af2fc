"""``unistore demo``: the session manager and the namespaced store, end to end, on any URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from unistore import Conversation, NamespacedStore, SaveEvent, SessionManager
from unistore._cli._common import driver_name, open_store, require, run
from unistore._cli._output import clip, console, display, format_ttl, table, text
from unistore._url import StoreURL
from unistore.protocols import Capability, Store

__all__ = ["DEFAULT_URL", "demo"]

#: Files in a folder of the current directory: no server, and the data stays to explore.
DEFAULT_URL = "file:unistore-data"

#: Prefix of the demo's namespaced-store data (namespace "demo:shop-<run>").
DEMO_PREFIX = "demo"
#: The demo's slots expire after an hour, so repeated runs do not pile up.
DEMO_TTL = 3600.0

_SCRIPT: tuple[tuple[str, str], ...] = (
    ("user", "Three days in Lisbon in May: where should I start?"),
    ("assistant", "Alfama, early: Santa Luzia viewpoint, then tram 28 to Gra\u00e7a."),
    ("user", "Which pastries should I not miss?"),
    ("assistant", "Past\u00e9is de nata, warm, with cinnamon; travesseiros in Sintra."),
)


def _say(out: Console, role: str, content: str) -> None:
    out.print(Text.assemble(("  " + role.rjust(9) + " \u203a ", "bold cyan"), content))


def _step(out: Console, title: str) -> None:
    out.print()
    out.rule(Text(title, style="bold"), align="left")


async def _conversation_part(out: Console, store: Any, run_tag: str) -> list[str]:
    """Sessions: auto-save, auto-label, fork, child session, listing. Returns this run's ids."""
    _step(out, "1. A conversation, saved as it goes")
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:

        def on_save(event: SaveEvent) -> None:
            if not event.messages:
                return
            out.print(
                Text(
                    f"{'':14}auto-saved {len(event.messages)} message(s) at position "
                    f"{event.start}: {event.length} stored",
                    style="dim green",
                )
            )

        manager.on("save", on_save)
        session_id = await manager.start_new()
        out.print(Text(f"  started session {session_id}", style="bold"))
        for role, content in _SCRIPT[:2]:
            if role == "assistant":
                # A streamed reply: the draft becomes a message (and is saved) when complete.
                with conversation.begin("assistant") as draft:
                    for word in content.split(" "):
                        draft.write(word + " ")
                    draft.content = content
            else:
                conversation.add(role, content)
            _say(out, role, content)
            await manager.flush()
        record = await store.get_session(session_id)
        out.print("  auto-label from the first user message:")
        out.print(Text(f"    {record.label!r}", style="bold magenta"))

        _step(out, "2. A fork: the same start, another direction")
        fork_id = await manager.fork(session_id, at=2, label="Lisbon: if it rains")
        out.print(f"  forked {session_id} at message 2 (nothing copied)")
        out.print(f"    -> {fork_id}")
        branch = Conversation()
        async with SessionManager(store, branch) as fork_manager:
            await fork_manager.load(fork_id)
            out.print(f"  loaded the fork: {len(branch)} shared message(s); it goes on:")
            question = "And if it rains all three days?"
            answer = "Tile museum, the Gulbenkian, a long lunch at Time Out Market."
            branch.add("user", question)
            branch.add("assistant", answer)
            _say(out, "user", question)
            _say(out, "assistant", answer)
            await fork_manager.flush()
        out.print("  meanwhile the original goes on:")
        for role, content in _SCRIPT[2:]:
            conversation.add(role, content)
            _say(out, role, content)
        await manager.flush()

        _step(out, "3. A child session for delegated work")
        child = conversation.spawn_child("subagent")
        child_manager = manager.child_for(child)
        await manager.flush()
        child_id = child_manager.session_id if child_manager is not None else None
        out.print(f"  spawned a sub-agent conversation -> child session {child_id}")
        task = "Find three grilled-sardine places near the river."
        found = "Zapata, Sala de Corte, Taberna da Rua das Flores."
        child.add("user", task)
        child.add("assistant", found)
        _say(out, "user", task)
        _say(out, "assistant", found)
        await manager.flush()
        child.end()
        summary = "My helper found three sardine places: try Zapata."
        conversation.add("assistant", summary)
        out.print("  the child ends; back in the original:")
        _say(out, "assistant", summary)
        await manager.flush()

        loaded = Conversation()
        async with SessionManager(store, loaded, auto_save=False) as reader:
            await reader.load(session_id)
        await manager.save(metadata={"demo_run": run_tag})
        out.print(f"  a fresh manager loads {session_id}: {len(loaded)} messages")

    ours = [session_id, fork_id] + ([child_id] if child_id else [])
    await _list_part(out, store, ours)
    return ours


async def _list_part(out: Console, store: Any, ours: list[str]) -> None:
    _step(out, "4. Listing: newest first, records only (no messages read)")
    page = await store.list_sessions(limit=8)
    grid = table()
    grid.add_column("id", no_wrap=True)
    grid.add_column("label", no_wrap=True, overflow="ellipsis", max_width=max(20, out.width - 58))
    grid.add_column("msgs", justify="right", min_width=4)
    grid.add_column("forked from", no_wrap=True)
    grid.add_column("at", justify="right", min_width=2)
    names = dict(zip(ours, ("original", "fork", "child"), strict=False))
    for record in page.items:
        mine = record.id in names
        grid.add_row(
            text(record.id, style="bold" if mine else "dim"),
            text(record.label, limit=32),
            str(record.message_count),
            Text(names.get(record.parent_id or "", "") or clip(record.parent_id or "-", 10)),
            "" if record.fork_point is None else str(record.fork_point),
        )
    out.print(grid)
    others = sum(1 for record in page.items if record.id not in names)
    if others:
        out.print(Text(f"  (dimmed: {others} session(s) from earlier runs)", style="dim"))


async def _namespace_part(out: Console, store: Store, run_tag: str) -> str:
    """The namespaced store: hashes, a counter, TTLs and a contended CAS. Returns the namespace."""
    _step(out, "5. Namespaced data: hash slots, a counter, TTL on every write")
    data = NamespacedStore(
        store, prefix=DEMO_PREFIX, default_ttl=DEMO_TTL, logger=_audit_logger(out)
    )
    ns = data.namespace(f"shop-{run_tag}")
    out.print(f"  namespace {ns.store_namespace!r}, every write expires after {DEMO_TTL:.0f}s")
    await ns.hset("basket", {"tram-28-print": "1", "pasteis-box": "2"})
    await ns.hset("profile", {"name": "Ana", "city": "Lisbon"})
    await ns.set("currency", "EUR")
    first = await ns.incr("order-id")
    second = await ns.incr("order-id")
    out.print(f"  incr('order-id') twice -> {first}, {second}: ids without a race")

    _step(out, "6. Compare-and-swap with two contending writers")
    await _cas_part(out, ns)
    touched = await ns.touch()
    out.print(f"  touch() gave all {touched} slots a fresh {DEMO_TTL:.0f}s")
    out.print()

    grid = table(title=f"slots of {ns.store_namespace}")
    grid.add_column("slot")
    grid.add_column("kind")
    grid.add_column("value")
    grid.add_column("expires in", justify="right")
    slot_kind = getattr(store, "slot_kind", None)
    for slot in await ns.slots():
        kind = await slot_kind(ns.store_namespace, slot) if slot_kind is not None else None
        if kind is not None and kind.value == "hash":
            fields = await ns.hgetall(slot)
            shown = ", ".join(f"{k}={v}" for k, v in sorted(fields.items()))
        else:
            shown = await ns.get(slot) or ""
        ttl = await ns.ttl(slot) if Capability.TTL in store.capabilities else None
        grid.add_row(
            text(slot), kind.value if kind else "?", text(shown, limit=56), format_ttl(ttl)
        )
    out.print(grid)
    return ns.store_namespace


class _AuditPrinter(logging.Handler):
    """Shows the namespaced store's audit events (never values) as demo lines."""

    def __init__(self, out: Console) -> None:
        super().__init__(logging.INFO)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", "event")
        slots = getattr(record, "slots", ())
        where = f" on {', '.join(map(repr, slots))}" if slots else ""
        attempt = getattr(record, "attempt", None)
        detail = f", attempt {attempt} conflicted" if attempt else ""
        count = getattr(record, "slot_count", None)
        detail += f", {count} slots" if count is not None else ""
        self.out.print(Text(f"{'':14}audit log: {event}{where}{detail}", style="dim yellow"))


def _audit_logger(out: Console) -> logging.Logger:
    # A logger of this run only: a handler on the shared one would outlive the demo.
    logger = logging.Logger("unistore.namespaced.demo")
    logger.addHandler(_AuditPrinter(out))
    return logger


async def _cas_part(out: Console, ns: Any) -> None:
    a_read = asyncio.Event()
    b_done = asyncio.Event()
    attempts = {"A": 0, "B": 0}

    async def writer_a(snapshot: Any, ops: Any) -> int:
        attempts["A"] += 1
        basket = await snapshot.hgetall("basket")
        total = sum(int(qty) for qty in basket.values()) + 1
        out.print(
            f"  writer A, try {attempts['A']}: reads {total - 1} items, adds a tile -> {total}"
        )
        if attempts["A"] == 1:
            a_read.set()
            # Let B commit between A's read and A's commit: the conflict CAS exists for.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(b_done.wait(), timeout=5)
        ops.hset("basket", "azulejo-tile", "1")
        ops.set("basket-items", str(total))
        return total

    async def writer_b(snapshot: Any, ops: Any) -> None:
        attempts["B"] += 1
        basket = await snapshot.hgetall("basket")
        boxes = int(basket.get("pasteis-box", "0")) + 1
        out.print(f"  writer B, try {attempts['B']}: adds a pastry box -> {boxes} boxes")
        ops.hset("basket", "pasteis-box", str(boxes))

    task_a = asyncio.create_task(ns.with_cas("basket", writer_a))
    await a_read.wait()
    await ns.with_cas("basket", writer_b)
    out.print(Text("  writer B commits first", style="green"))
    b_done.set()
    total = await task_a
    if attempts["A"] > 1:
        out.print(
            Text(
                f"  writer A's first commit conflicted (B changed the basket), so it\n"
                f"  re-ran on a fresh snapshot and committed on try {attempts['A']}: "
                f"{total} items, no write lost",
                style="green",
            )
        )
    else:
        out.print(Text(f"  writer A committed: {total} items", style="green"))


async def _demo(url: str, out: Console) -> None:
    run_tag = secrets.token_hex(3)
    # The demo fills a store, so it creates one where there is none.
    async with open_store(url, create=True) as store:
        require(store, Capability.SESSION_DOCUMENTS, "store sessions, which the demo needs")
        for capability in (
            Capability.KEY_VALUE,
            Capability.HASH,
            Capability.COUNTER,
            Capability.NAMESPACE_LIFECYCLE,
            Capability.TRANSACTIONS,
        ):
            require(store, capability, f"do {capability.value}, which the demo needs")
        shown = display(str(StoreURL.parse(url)))
        out.rule(Text(f"unistore demo on {shown} ({driver_name(store)} driver)", style="bold"))
        ours = await _conversation_part(out, store, run_tag)
        namespace = await _namespace_part(out, store, run_tag)
    _step(out, "Explore what the demo stored")
    # ``./dev demo`` names its own runner: in a clone, ``unistore`` is not on the PATH.
    prog = os.environ.get("UNISTORE_DEMO_COMMAND") or "unistore"
    for command in (
        f"{prog} sessions list {shown}",
        f"{prog} sessions show {shown} {ours[1]}",
        f"{prog} ns slots {shown} {namespace}",
        f"{prog} info {shown}",
    ):
        # No wrapping: a command cut in two no longer works when pasted.
        out.print(Text("  " + command), soft_wrap=True)


@click.command()
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    metavar="URL",
    help="The store to run on. The default keeps files in ./unistore-data under the "
    "current folder: no server needed, and the data stays there to explore.",
)
def demo(url: str) -> None:
    """Run a scripted tour: a saved conversation, a fork, a child session, namespaced data.

    Each run uses fresh session ids and a fresh namespace, so runs never
    collide; the namespaced data expires after an hour.
    """
    run(_demo(url, console()))
