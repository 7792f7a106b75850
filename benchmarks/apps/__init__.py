"""HTTP apps the benchmark serves: no-op ceilings and the FastAPI + Celery + SQLite stack."""
