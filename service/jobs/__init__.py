"""The job engine: states, queue, worker pool, the one runner, the training child and the reaper.

Kept light to import: the training child (:mod:`service.jobs.child`) is spawned from here and must not
pay for FastAPI or SQLAlchemy.
"""
