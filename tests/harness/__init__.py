"""Shared test harness: render charts with real Helm binaries, validate what they produce."""
from .built import CI, require_built
from .paths import CHARTS, HELMS, KUBERNETES_MINORS, ROOT, VALUES, tool, tool_env
from .render import (RenderError, all_scenarios, chart_path, find, find_all, in_stable_order, mask_generated, pod_specs,
                     render, render_text, scenarios)
from .validate import assert_valid, known_custom_kinds, validate_object, validate_objects
from .values import merge_values, with_value
from .values_schema import values_errors, values_validator

__all__ = ["CI", "CHARTS", "HELMS", "KUBERNETES_MINORS", "ROOT", "VALUES", "RenderError", "all_scenarios", "assert_valid",
           "chart_path", "find", "find_all", "in_stable_order", "mask_generated", "known_custom_kinds", "merge_values", "with_value", "pod_specs", "render", "render_text", "require_built", "scenarios",
           "tool", "tool_env", "validate_object", "validate_objects", "values_errors", "values_validator"]
