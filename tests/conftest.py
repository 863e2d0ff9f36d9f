"""Shared test configuration. Keep it minimal: each suite has its own conftest in its folder."""
