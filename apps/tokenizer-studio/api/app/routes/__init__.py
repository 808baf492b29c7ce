"""HTTP routes, one module per resource of API.md."""

from app.routes import datasets, health, jobs, process, session, system, templates, web

__all__ = ["datasets", "health", "jobs", "process", "session", "system", "templates", "web"]
