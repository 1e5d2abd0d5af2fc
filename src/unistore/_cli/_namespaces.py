"""``unistore ns``: list namespaces, list slots with TTLs, read a slot, purge."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.text import Text

from unistore._cli._common import (
    CliError,
    ExitCode,
    driver_name,
    json_option,
    open_store,
    require,
    run,
    yes_option,
)
from unistore._cli._common import url_argument as _url
from unistore._cli._output import (
    console,
    decode_value,
    display,
    format_ttl,
    print_json,
    table,
    text,
)
from unistore.protocols import Capability, NamespaceListing, SlotKind

__all__ = ["ns"]


def _namespace_argument(func: Any) -> Any:
    func = click.option(
        "--prefix",
        "id_prefix",
        metavar="P",
        help='Read NAMESPACE as the id of a NamespacedStore with this prefix (namespace "P:ID").',
    )(func)
    return click.argument("namespace", metavar="NAMESPACE")(func)


def _full_name(namespace: str, id_prefix: str | None) -> str:
    return f"{id_prefix}:{namespace}" if id_prefix else namespace


@click.group()
def ns() -> None:
    """Inspect namespaces: the raw namespace strings drivers store slots under.

    A NamespacedStore(prefix="shop") keeps the data of namespace id "42" in the
    driver namespace "shop:42": pass "shop:42", or "42 --prefix shop".
    """


@ns.command("list")
@_url
@click.option("--prefix", default="", metavar="P", help="Only namespaces starting with P.")
@json_option
def list_namespaces(url: str, prefix: str, as_json: bool) -> None:
    """List the namespaces holding live slots (needs namespace listing)."""

    async def go() -> list[str]:
        async with open_store(url) as store:
            if Capability.NAMESPACE_LISTING not in store.capabilities or not isinstance(
                store, NamespaceListing
            ):
                raise CliError(f"this driver ({driver_name(store)}) cannot list namespaces")
            return sorted({name async for name in store.iter_namespaces(prefix)})

    names = run(go())
    if as_json:
        print_json(names)
        return
    out = console()
    for name in names:
        out.print(text(name, limit=200))
    out.print(f"[dim]{len(names)} namespace(s)[/dim]")


async def _slot_rows(store: Any, namespace: str) -> list[dict[str, Any]]:
    require(store, Capability.NAMESPACE_LIFECYCLE, "list the slots of a namespace")
    has_ttl = Capability.TTL in store.capabilities
    rows: list[dict[str, Any]] = []
    for slot in await store.slots(namespace):
        kind = await store.slot_kind(namespace, slot)
        if kind is None:
            continue  # expired since the listing
        ttl = await store.get_ttl(namespace, slot) if has_ttl else None
        if kind is SlotKind.HASH:
            size = len(await store.hkeys(namespace, slot))
        else:
            value = await store.get(namespace, slot)
            size = len(value) if value is not None else 0
        rows.append({"slot": slot, "kind": kind.value, "ttl": ttl, "size": size})
    return rows


@ns.command("slots")
@_url
@_namespace_argument
@json_option
def slots(url: str, namespace: str, id_prefix: str | None, as_json: bool) -> None:
    """List the slots of NAMESPACE with their kinds and remaining TTLs.

    SIZE is the number of bytes of a scalar, the number of fields of a hash.
    """
    full = _full_name(namespace, id_prefix)

    async def go() -> list[dict[str, Any]]:
        async with open_store(url) as store:
            return await _slot_rows(store, full)

    rows = run(go())
    if as_json:
        print_json({"namespace": full, "slots": rows})
        return
    out = console()
    if not rows:
        # Text, never a str: rich would read brackets in a hostile id as markup.
        out.print(Text(f"namespace {display(full)!r} has no live slots"))
        return
    grid = table(title=Text(f"namespace {display(full)}"))
    grid.add_column("slot")
    grid.add_column("kind")
    grid.add_column("size", justify="right")
    grid.add_column("expires in", justify="right")
    for row in rows:
        grid.add_row(text(row["slot"]), row["kind"], str(row["size"]), format_ttl(row["ttl"]))
    out.print(grid)


@ns.command("get")
@_url
@_namespace_argument
@click.argument("slot", metavar="SLOT")
@click.option("--raw", is_flag=True, help="Write a scalar's bytes to stdout as they are.")
@json_option
def get(
    url: str, namespace: str, slot: str, id_prefix: str | None, raw: bool, as_json: bool
) -> None:
    """Print the value of a scalar slot, or the fields of a hash slot.

    Values that are not UTF-8 are shown in base64 (or written as they are with --raw).
    """
    full = _full_name(namespace, id_prefix)

    async def go() -> tuple[SlotKind, bytes | dict[str, bytes], float | None]:
        async with open_store(url) as store:
            require(store, Capability.NAMESPACE_LIFECYCLE, "tell the kind of a slot")
            kind = await store.slot_kind(full, slot)
            if kind is None:
                raise CliError(
                    f"no slot {display(slot)!r} in namespace {display(full)!r}",
                    ExitCode.NOT_FOUND,
                )
            ttl = await store.get_ttl(full, slot) if Capability.TTL in store.capabilities else None
            if kind is SlotKind.HASH:
                return kind, await store.hgetall(full, slot), ttl
            value = await store.get(full, slot)
            if value is None:
                raise CliError(f"slot {display(slot)!r} expired", ExitCode.NOT_FOUND)
            return kind, value, ttl

    kind, value, ttl = run(go())
    if raw:
        if not isinstance(value, bytes):
            raise CliError("--raw reads scalar slots only; this one is a hash", ExitCode.USAGE)
        sys.stdout.flush()
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()
        return
    if as_json:
        print_json(_value_json(full, slot, kind, value, ttl))
        return
    out = console()
    out.print(f"[dim]{kind.value}, expires in {format_ttl(ttl)}[/dim]")
    if isinstance(value, bytes):
        shown, encoding = decode_value(value)
        out.print(text(shown, limit=1_000_000))
        if encoding != "utf-8":
            out.print(f"[dim]({encoding}: the value is not UTF-8)[/dim]")
        return
    grid = table()
    grid.add_column("field")
    grid.add_column("value")
    for field, data in sorted(value.items()):
        shown, encoding = decode_value(data)
        grid.add_row(text(field), text(shown if encoding == "utf-8" else f"base64:{shown}"))
    out.print(grid)


def _value_json(
    namespace: str, slot: str, kind: SlotKind, value: bytes | dict[str, bytes], ttl: float | None
) -> dict[str, Any]:
    data: dict[str, Any] = {"namespace": namespace, "slot": slot, "kind": kind.value, "ttl": ttl}
    if isinstance(value, bytes):
        data["value"], data["encoding"] = decode_value(value)
    else:
        fields: dict[str, Any] = {}
        for name, raw in value.items():
            shown, encoding = decode_value(raw)
            fields[name] = shown if encoding == "utf-8" else {"base64": shown}
        data["fields"] = fields
    return data


@ns.command("purge")
@_url
@_namespace_argument
@yes_option
@json_option
def purge(url: str, namespace: str, id_prefix: str | None, yes: bool, as_json: bool) -> None:
    """Delete every slot of NAMESPACE (asks first unless --yes)."""
    full = _full_name(namespace, id_prefix)

    async def count() -> int:
        async with open_store(url) as store:
            require(store, Capability.NAMESPACE_LIFECYCLE, "purge a namespace")
            return len(await store.slots(full))

    async def go() -> int:
        async with open_store(url) as store:
            require(store, Capability.NAMESPACE_LIFECYCLE, "purge a namespace")
            deleted: int = await store.purge(full)
            return deleted

    if not yes:
        live = run(count())
        if not live:
            _report_purge(full, 0, as_json)
            return
        click.confirm(
            f"Delete the {live} slot(s) of namespace {display(full)!r}?", abort=True, err=True
        )
    _report_purge(full, run(go()), as_json)


def _report_purge(namespace: str, deleted: int, as_json: bool) -> None:
    if as_json:
        print_json({"namespace": namespace, "purged": deleted})
    else:
        console().print(text(f"purged {deleted} slot(s) from {namespace}", limit=300))
