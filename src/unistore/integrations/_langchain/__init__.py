"""The LangChain adapter's parts; the public names live in ``unistore.integrations.langchain``."""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a test that hides the package
    raise ImportError(
        'unistore.integrations.langchain needs langchain-core: pip install "unistore[langchain]"'
    ) from exc
