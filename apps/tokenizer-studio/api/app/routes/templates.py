"""`GET /api/v1/templates`: the presets with their defaults and adjustable knobs."""

from fastapi import APIRouter

from app.models import ERROR_RESPONSES, Template
from templates import list_templates

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.get("/templates")
def get_templates() -> list[Template]:
    return [Template.model_validate(t) for t in list_templates()]
