"""Database layer: declarative base, column types, ORM models, engine/session handling, migrations."""
