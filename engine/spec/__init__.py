"""The spec language: YAML files -> validated runs."""
from .models import SCALES, SCHEMA_VERSION, RunConfig, SpecHeader  # noqa: F401
from .resolve import ExpandedSpec, Run, SpecDoc, expand, load_and_expand, load_spec, validate_file  # noqa: F401
