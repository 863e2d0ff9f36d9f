"""Data access: keyword-only functions taking the session. They add, flush and query; never commit."""
