"""Asynchronous jobs: the store (SQLAlchemy + Alembic), uploaded media, the queue (Dramatiq),
the worker that runs analyses, and webhooks."""
