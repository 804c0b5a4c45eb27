"""The web page tests use the world and its ``implant`` fixture from ``tests/conftest.py``."""
