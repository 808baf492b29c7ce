"""`GET /api/v1/templates`: the presets with their defaults and adjustable knobs."""

from fastapi import APIRouter

from templates import list_templates

router = APIRouter(prefix="/api/v1")


@router.get("/templates")
def get_templates() -> list[dict]:
    return list_templates()
