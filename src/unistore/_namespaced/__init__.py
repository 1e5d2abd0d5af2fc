"""The namespaced store: per-session slots with TTL discipline and compare-and-swap.

``_store`` holds :class:`NamespacedStore` (settings, handles, lifetime);
``_config`` the settings every handle shares; ``_handle`` the
:class:`Namespace` handle and ``_views`` its text and bytes reads; ``_cas``
compare-and-swap; ``_checks`` argument checks; ``_audit`` the audit log.
"""
