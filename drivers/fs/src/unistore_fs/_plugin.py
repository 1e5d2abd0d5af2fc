"""Entry point of the fs driver (placeholder until the driver lands)."""
