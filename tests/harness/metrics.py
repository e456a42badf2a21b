"""Metric names the monitored software really exposes, and a PromQL tokenizer that lists the metric names an
expression reads. Rules and dashboards may only name metrics from this catalogue (or recording rules they
define): a typo or a metric an exporter does not have fails a test instead of drawing an empty panel."""
from __future__ import annotations

import re
from typing import Iterable


def _histogram(name: str) -> set[str]:
    return {f"{name}_bucket", f"{name}_count", f"{name}_sum"}


def _summary(name: str) -> set[str]:
    return {name, f"{name}_count", f"{name}_sum"}


# Seldon Core v1 executor (executor/api/metric/{constants,server,client}.go): each timing is both a histogram
# and a "_summary" summary. Labels: deployment_name, predictor_name, predictor_version, service, method, code;
# client series add model_name, model_image, model_version.
SELDON_EXECUTOR: frozenset[str] = frozenset(
    _histogram("seldon_api_executor_server_requests_seconds")
    | _summary("seldon_api_executor_server_requests_seconds_summary")
    | _histogram("seldon_api_executor_client_requests_seconds")
    | _summary("seldon_api_executor_client_requests_seconds_summary"))

# Seldon Core v1 python wrapper (python/seldon_core/metrics.py): feedback counters; user metrics have
# user-chosen names and are not catalogued.
SELDON_PYTHON_WRAPPER: frozenset[str] = frozenset({
    "seldon_api_model_feedback_total", "seldon_api_model_feedback_reward_total"})

# NVIDIA dcgm-exporter (etc/default-counters.csv and etc/dcp-metrics-included.csv). Labels: gpu, UUID, device,
# modelName, Hostname, and with Kubernetes attribution namespace, pod, container.
DCGM_EXPORTER: frozenset[str] = frozenset({
    "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL",
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_RESERVED",
    "DCGM_FI_DEV_RETIRED_SBE", "DCGM_FI_DEV_RETIRED_DBE",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "DCGM_FI_DEV_VGPU_LICENSE_STATUS",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE",
    "DCGM_FI_PROF_PCIE_TX_BYTES", "DCGM_FI_PROF_PCIE_RX_BYTES",
})

# kube-state-metrics v2 (docs/metrics/workload/*.md), the families a serving platform reads.
KUBE_STATE_METRICS: frozenset[str] = frozenset({
    # pods
    "kube_pod_info", "kube_pod_labels", "kube_pod_annotations", "kube_pod_owner", "kube_pod_created",
    "kube_pod_start_time", "kube_pod_completion_time", "kube_pod_status_phase", "kube_pod_status_ready",
    "kube_pod_status_scheduled", "kube_pod_status_scheduled_time", "kube_pod_status_reason",
    "kube_pod_status_unschedulable", "kube_pod_restart_policy", "kube_pod_deletion_timestamp",
    "kube_pod_container_info", "kube_pod_container_status_ready", "kube_pod_container_status_running",
    "kube_pod_container_status_waiting", "kube_pod_container_status_waiting_reason",
    "kube_pod_container_status_terminated", "kube_pod_container_status_terminated_reason",
    "kube_pod_container_status_last_terminated_reason", "kube_pod_container_status_last_terminated_exitcode",
    "kube_pod_container_status_restarts_total", "kube_pod_container_resource_requests",
    "kube_pod_container_resource_limits", "kube_pod_init_container_info",
    "kube_pod_init_container_status_restarts_total", "kube_pod_init_container_resource_requests",
    "kube_pod_init_container_resource_limits", "kube_pod_spec_volumes_persistentvolumeclaims_info",
    # deployments and replica sets
    "kube_deployment_labels", "kube_deployment_annotations", "kube_deployment_created",
    "kube_deployment_spec_replicas", "kube_deployment_spec_paused", "kube_deployment_metadata_generation",
    "kube_deployment_status_observed_generation", "kube_deployment_status_replicas",
    "kube_deployment_status_replicas_available", "kube_deployment_status_replicas_unavailable",
    "kube_deployment_status_replicas_updated", "kube_deployment_status_replicas_ready",
    "kube_deployment_status_condition", "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
    "kube_deployment_spec_strategy_rollingupdate_max_surge",
    "kube_replicaset_owner", "kube_replicaset_labels", "kube_replicaset_spec_replicas",
    "kube_replicaset_status_replicas", "kube_replicaset_status_ready_replicas",
    # horizontal pod autoscalers
    "kube_horizontalpodautoscaler_info", "kube_horizontalpodautoscaler_labels",
    "kube_horizontalpodautoscaler_annotations", "kube_horizontalpodautoscaler_metadata_generation",
    "kube_horizontalpodautoscaler_spec_min_replicas", "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_horizontalpodautoscaler_spec_target_metric", "kube_horizontalpodautoscaler_status_target_metric",
    "kube_horizontalpodautoscaler_status_current_replicas", "kube_horizontalpodautoscaler_status_desired_replicas",
    "kube_horizontalpodautoscaler_status_condition",
    # nodes
    "kube_node_info", "kube_node_labels", "kube_node_spec_taint", "kube_node_spec_unschedulable",
    "kube_node_status_capacity", "kube_node_status_allocatable", "kube_node_status_condition",
    # pod disruption budgets
    "kube_poddisruptionbudget_status_current_healthy", "kube_poddisruptionbudget_status_desired_healthy",
    "kube_poddisruptionbudget_status_expected_pods", "kube_poddisruptionbudget_status_pod_disruptions_allowed",
})

# Series Prometheus itself creates for every target and alert.
PROMETHEUS_SYNTHETIC: frozenset[str] = frozenset({
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
    "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE"})

# Recorded by charts/seldon-operator's PrometheusRule (metrics.certificateRule): the webhook serving certificate's
# expiry, from the certificate the chart made (its Secret's ml-serving-charts.io/not-after) or from cert-manager's
# certmanager_certificate_expiration_timestamp_seconds. Labels: namespace, service.
SELDON_OPERATOR_CHART: frozenset[str] = frozenset({"seldon_operator_webhook_certificate_expiry_timestamp_seconds"})

# cert-manager's controller (pkg/metrics): the certificate expiry seldon-operator's rule reads in certManager mode.
CERT_MANAGER: frozenset[str] = frozenset({"certmanager_certificate_expiration_timestamp_seconds"})

KNOWN_METRICS: frozenset[str] = (SELDON_EXECUTOR | SELDON_PYTHON_WRAPPER | DCGM_EXPORTER | KUBE_STATE_METRICS
                                 | PROMETHEUS_SYNTHETIC | SELDON_OPERATOR_CHART | CERT_MANAGER)


def unknown_metrics(names: Iterable[str], defined: Iterable[str] = ()) -> list[str]:
    """Names neither in the catalogue nor in `defined` (e.g. the recording rules of the same render)."""
    known = KNOWN_METRICS | set(defined)
    return sorted(set(names) - known)


# ------------------------------------------------------------------ PromQL tokenizer

FUNCTIONS = frozenset({
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "double_exponential_smoothing", "exp",
    "first_over_time", "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info",
    "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label",
    "sort_by_label_desc", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan",
    "tanh", "timestamp", "time", "ts_of_first_over_time", "ts_of_last_over_time", "ts_of_max_over_time",
    "ts_of_min_over_time", "vector", "year",
})
AGGREGATIONS = frozenset({
    "sum", "avg", "min", "max", "count", "count_values", "group", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "limitk", "limit_ratio"})
KEYWORDS = frozenset({
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
    "bool", "start", "end", "step", "inf", "nan", "smoothed", "anchored"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_COMMENT = re.compile(r"#[^\n]*")
_NAME_MATCHER = re.compile(r'__name__\s*(=~|!=|!~|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBER = re.compile(r"(?<![\w:])(0x[0-9a-fA-F]+|\d[\d_.]*(e[+-]?\d+)?([a-z]+)?)", re.IGNORECASE)
_IDENT = re.compile(r"(?<![\w:])[a-zA-Z_:][a-zA-Z0-9_:]*")


class PromQLTokenError(ValueError):
    """The expression has a construct the tokenizer does not understand (it would rather fail than guess)."""


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects. Skips label matchers and strings, range and subquery
    brackets, by/without/on/ignoring/group_* label lists, functions, aggregations, keywords, numbers and
    durations (`sum by (x) (...)` becomes `sum (...)`, a call); reads `{__name__="x"}` selectors. Raises
    PromQLTokenError on a __name__ regex or an unknown function, rather than guess."""
    names: set[str] = set()
    for op, value in _NAME_MATCHER.findall(expr):
        if op != "=":
            raise PromQLTokenError(f"__name__{op} selects metrics by pattern, which cannot be checked: {expr!r}")
        names.add(value[1:-1])
    text = _COMMENT.sub("", _STRING.sub(" ", expr))  # strings first: a "#" inside one is no comment
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    for match in _IDENT.finditer(text):
        word = match.group()
        following = text[match.end():].lstrip()
        is_call = following.startswith("(")
        if word in KEYWORDS:
            continue
        if is_call and (word in FUNCTIONS or word in AGGREGATIONS):
            continue
        if is_call:
            raise PromQLTokenError(f"unknown function {word!r} in {expr!r}")
        names.add(word)
    return names
