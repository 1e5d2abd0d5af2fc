"""The file-system driver for unistore: ``file:///path/to/folder``.

Every capability on plain files, crash-safe (atomic replacement, fsync) and
safe under several processes (``flock``). Open it through
``unistore.connect("file:///var/lib/app/store")``.
"""

from __future__ import annotations

from unistore_fs._store import FileStore

__all__ = ["FileStore"]
