"""The dashboard behind `evenhand serve`: FastAPI, Jinja2 templates and htmx, read-only."""

from evenhand.web.app import create_app

__all__ = ["create_app"]
