"""Operators of the smsflow provider."""
