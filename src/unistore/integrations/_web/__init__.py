"""What the web-session integrations (Starlette, Flask, Django) share.

* ``_ids``: the session ids the cookie carries and the namespace each maps to;
* ``_config``: the cookie policy and the TTL settings, checked once;
* ``_state``: the stored layout of the session mapping and the per-request
  bookkeeping that turns "what was loaded" and "what the mapping holds now"
  into per-key writes;
* ``_copy``: moving a session's slots to a new id (``regenerate``).
"""
