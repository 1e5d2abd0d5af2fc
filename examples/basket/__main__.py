"""``python -m examples.basket [--url URL] [--host HOST] [--port PORT]``."""

from __future__ import annotations

import argparse
import os

import uvicorn

from unistore import StoreURL

from .app import DEFAULT_URL, create_app


def main() -> None:
    """Parse the command line and serve the app until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m examples.basket", description=__doc__)
    parser.add_argument(
        "--url",
        default=os.environ.get("BASKET_STORE_URL", DEFAULT_URL),
        help="store URL (default: $BASKET_STORE_URL, else SQLite in a temporary folder)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    print(f"basket on http://{args.host}:{args.port}/ with {StoreURL.parse(args.url)}")
    uvicorn.run(create_app(args.url), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
