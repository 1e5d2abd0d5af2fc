"""``unistore migrate URL``: bring a store's data into the layout its driver now writes."""

from __future__ import annotations

from typing import Any

import click

from unistore._cli._common import json_option, open_store, run
from unistore._cli._output import console, print_json
from unistore.errors import ConfigurationError, StoreNotFoundError

__all__ = ["migrate"]


async def _migrate(url: str) -> tuple[str, bool, int | None]:
    """Return (driver, whether it migrates, sessions moved or ``None``)."""
    # Migrating changes what exists: a missing store is "not found", never
    # made up. A store in an older layout may refuse a plain open; that is
    # what this command is for, so it goes on.
    try:
        async with open_store(url):
            pass
    except StoreNotFoundError:
        raise
    except ConfigurationError:
        pass
    async with open_store(url, create=True) as store:
        name = str(getattr(type(store), "NAME", "this"))
        mover: Any = getattr(store, "migrate", None)
        if mover is None:
            return name, False, None
        result = await mover()
        return name, True, result if isinstance(result, int) else None


@click.command()
@click.argument("url", metavar="URL")
@json_option
def migrate(url: str, as_json: bool) -> None:
    """Bring the data of URL into the layout its driver now writes.

    The sql driver creates or upgrades its tables (as `await store.migrate()`
    does); the redis driver moves sessions written before they were spread
    over buckets (a single server does this by itself on first use; a Redis
    Cluster needs this command). Other drivers have nothing to migrate. Safe
    to run twice, or while the store is in use: what was moved is not moved
    again.
    """
    driver, migrates, moved = run(_migrate(url))
    if as_json:
        print_json({"driver": driver, "migrates": migrates, "moved": moved})
    elif not migrates:
        console().print(f"the {driver} driver has nothing to migrate")
    elif moved is None:
        console().print(f"the {driver} store is in the current layout")
    else:
        console().print(f"moved {moved} session(s); the {driver} store is in the current layout")
