"""Executors of the smsflow provider."""
