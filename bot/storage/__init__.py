"""Storage: SQLAlchemy models, engine set-up, migrations and the daemon lock."""
