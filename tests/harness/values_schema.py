"""A chart's values.schema.json as a compiled validator, and its errors as readable paths."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from .render import chart_path


@functools.cache
def values_validator(chart: str | Path) -> jsonschema.Validator:
    schema = json.loads((chart_path(chart) / "values.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def values_errors(chart: str | Path, values: dict[str, Any]) -> list[str]:
    """Schema errors for a complete values document, as 'path.to.key: message'."""
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in values_validator(chart).iter_errors(values)]
