"""The sql driver for unistore."""
