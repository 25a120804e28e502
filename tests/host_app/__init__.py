"""A small host back-end that embeds pdca (used by tests/test_host_embedding.py).

It stands for an intranet OA system: its own users table, its own alembic migrations, its
own SQLAlchemy session per request, and pdca's tables beside its own in the same database.
It is plain SQLAlchemy rather than Flask-SQLAlchemy: the object a Flask app hands pdca is
the same ``sqlalchemy.orm.Session`` (``db.session``), so plain SQLAlchemy exercises exactly
the embedding path every framework uses, without a web framework in the test dependencies.
"""
