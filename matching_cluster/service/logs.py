"""Structured JSON logs on stdout: the formatter every process shares."""

from __future__ import annotations

from chalicelib.adapters.json_logs import JsonFormatter, configure_logging

__all__ = ["JsonFormatter", "configure_logging"]
