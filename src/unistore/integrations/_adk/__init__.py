"""Private parts of :mod:`unistore.integrations.adk` (storage layout and reads)."""
