"""Alembic migrations; run them with ``advisor migrate`` (or ``alembic -c migrations/alembic.ini``)."""
