"""The leaderboard site: Django + DRF + Celery over the scoring core in :mod:`evaluator`."""

from .celery import app as celery_app

__all__ = ["celery_app"]
