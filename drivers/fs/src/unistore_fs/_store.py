"""The file store: every capability on plain files in one folder."""

from __future__ import annotations

from unistore.protocols import Capability
from unistore_fs._store_sessions import SessionMethods
from unistore_fs._store_slots import SlotMethods

__all__ = ["FileStore"]


class FileStore(SlotMethods, SessionMethods):
    """A store kept in a folder: ``file:///var/lib/app/store``.

    Layout (browsable; names are encoded by :mod:`unistore_fs._names`)::

        <root>/VERSION
        <root>/ns/<namespace>/<slot>.json        one file per slot
        <root>/sessions/<id>/meta.json           the session record
        <root>/sessions/<id>/messages.jsonl      its messages, one per line
        <root>/session-index/updates.jsonl       the listing index

    Every write replaces files atomically (temporary file, fsync, rename,
    directory fsync) under a per-namespace or per-session ``flock`` lock, so
    several processes can share one folder. See the driver documentation for
    the durability options and what a crash can leave behind.
    """

    CAPABILITIES = frozenset(Capability)
