"""Entry point of the sql driver (placeholder until the driver lands)."""
