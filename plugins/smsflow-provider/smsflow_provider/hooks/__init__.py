"""Hooks of the smsflow provider."""
