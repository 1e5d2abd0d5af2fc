"""Converters between conversation messages and provider message formats."""
