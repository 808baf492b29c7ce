"""Named training presets and strict validation of user overrides (see API.md "Templates")."""

from templates.presets import TEMPLATES, Template, get_template, list_templates
from templates.validation import (
    CONFIG_KEYS,
    ConfigError,
    UnknownTemplateError,
    resolve_config,
    validate_config,
)

__all__ = [
    "CONFIG_KEYS",
    "TEMPLATES",
    "ConfigError",
    "Template",
    "UnknownTemplateError",
    "get_template",
    "list_templates",
    "resolve_config",
    "validate_config",
]
