"""The ITB pump clinic project package."""

from itb.celery import app as celery_app

__all__ = ["celery_app"]
