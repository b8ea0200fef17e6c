"""Onboard a Charge Point Operator onto a roaming platform over OIOI."""

__version__ = "0.1.0"
