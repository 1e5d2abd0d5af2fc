"""The fs driver for unistore."""
