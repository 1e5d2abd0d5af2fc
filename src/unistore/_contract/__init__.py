"""The pieces of the driver contract; :mod:`unistore.protocols` is their public face."""
