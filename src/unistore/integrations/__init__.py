"""Adapters that plug unistore into the frameworks applications already use.

Each adapter is a module of its own, installed with its extra, and none is
imported by ``import unistore``:

* :mod:`unistore.integrations.openai_agents` - ``pip install "unistore[openai-agents]"``
* :mod:`unistore.integrations.langchain` - ``pip install "unistore[langchain]"``
* :mod:`unistore.integrations.langgraph` - ``pip install "unistore[langgraph]"``
* :mod:`unistore.integrations.adk` - ``pip install "unistore[adk]"``
* :mod:`unistore.integrations.starlette` - ``pip install "unistore[starlette]"``
  (FastAPI too)
* :mod:`unistore.integrations.flask` - ``pip install "unistore[flask]"``
* :mod:`unistore.integrations.django` - ``pip install "unistore[django]"``
* :mod:`unistore.integrations.messages` - converters between conversation
  messages and the OpenAI and Anthropic message formats (no extra needed)
* :mod:`unistore.integrations.otel` - OpenTelemetry traces and metrics:
  ``pip install "unistore[otel]"``

Every adapter takes a store URL or an open store. Given a URL, it opens the store
and owns it; the store then lives on a private event-loop thread, so the adapter
works from any event loop, from ``asyncio.run`` inside a framework's blocking
runner, and from plain threads. Given a store, it borrows it: async calls run on
the caller's loop and the application closes the store.
"""
