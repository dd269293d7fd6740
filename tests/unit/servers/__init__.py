"""Real loopback servers for unit tests (started by the fixtures in tests/unit/conftest.py)."""
