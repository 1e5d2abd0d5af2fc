"""The two-tab basket: server-side sessions on unistore, in a small Starlette app.

Run it with ``uv run python -m examples.basket`` (SQLite in a temporary folder)
or ``uv run python -m examples.basket --url redis://127.0.0.1:6379/0``; see the
README next to this file.
"""
