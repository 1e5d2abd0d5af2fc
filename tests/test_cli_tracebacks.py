"""No third-party traceback reaches stderr without ``--debug``.

When SQLite cannot open its file, aiosqlite used to leave its worker thread
reporting to an event loop that ``asyncio.run`` had already closed, and the
thread died with a traceback after the clean error line, in most runs. The
race needs a real process (a fresh loop per command, then exit), so this runs
the command many times in one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: Runs per command: without the fix, about two runs in three printed a traceback.
_RUNS = 8

_CODE = """
import json, sys, time
from unistore._cli import main

codes = []
for args in json.loads(sys.argv[1]):
    for _ in range({runs}):
        try:
            main(args)
        except SystemExit as exc:
            codes.append(exc.code)
time.sleep(0.3)  # a stray worker thread would report in this time
print(codes)
"""


def test_sqlite_that_cannot_open_its_file_prints_one_line_per_run(tmp_path: Path) -> None:
    (tmp_path / "folder.db").mkdir()
    commands = [
        # demo may create a store, so it reaches the connection, which fails:
        # the parent folder does not exist (SQLite creates files, never folders).
        ["demo", "--url", f"sqlite:///{tmp_path / 'no-such-folder' / 'demo.db'}"],
        # The read-only open finds the path, then SQLite cannot open a folder.
        ["sessions", "list", f"sqlite:///{tmp_path / 'folder.db'}"],
    ]
    out = subprocess.run(
        [sys.executable, "-c", _CODE.format(runs=_RUNS), json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == str([4] * (_RUNS * len(commands)))
    assert "Traceback" not in out.stderr
    assert "Exception in thread" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == _RUNS * len(commands)
    assert all(line.startswith("error: sqlite store ") for line in lines), lines[:3]
    assert not (tmp_path / "no-such-folder").exists()
