"""The ``unistore`` command: demo, inspection, conformance check, sessions, copy.

click and rich are imported only here, never by ``import unistore``; they come
with the ``cli`` extra (``pip install "unistore[cli]"``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_CLI_LIBRARIES = frozenset({"click", "rich"})


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``unistore`` command (the console-script entry point)."""
    try:
        from unistore._cli._app import cli
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in _CLI_LIBRARIES:
            raise
        sys.stderr.write(
            'error: the unistore command needs click and rich: pip install "unistore[cli]" '
            '(from a checkout of unistore: pip install ".[cli]")\n'
        )
        raise SystemExit(1) from None
    cli.main(args=list(argv) if argv is not None else None, prog_name="unistore")
