"""Observability as code: the Grafana dashboards (iac/observability/dashboards)."""
