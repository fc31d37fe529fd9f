"""The Prometheus rule files (iac/observability/rules/*.yml) as Amazon Managed Prometheus
takes them: `exchange deploy` writes them into the observability template's rule groups
namespace, so the workspace always evaluates the rules the local Prometheus and
`promtool test rules` check, and the template never holds a copy that could drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "iac" / "observability" / "rules"
RULE_GROUPS_NAMESPACE = "AWS::APS::RuleGroupsNamespace"


class RulesError(Exception):
    """A rule file that Managed Prometheus could not take."""


def rule_groups(directory: Path = RULES_DIR) -> list[dict[str, Any]]:
    """Every group of every rule file, in file order; group names must be unique."""
    groups: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
            raise RulesError(f"{path} is not a Prometheus rule file (no groups list)")
        groups += document["groups"]
    names = [group["name"] for group in groups]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise RulesError(f"rule groups named twice in {directory}: {duplicated}")
    return groups


def namespace_data(directory: Path = RULES_DIR) -> str:
    """One rule file holding every group: a rule groups namespace's Data."""
    return yaml.safe_dump({"groups": rule_groups(directory)}, sort_keys=False, width=100)


def with_rules(template: dict[str, Any], directory: Path = RULES_DIR) -> dict[str, Any]:
    """`template` with every rule groups namespace's Data set to the rule files."""
    data = namespace_data(directory)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == RULE_GROUPS_NAMESPACE:
            resource["Properties"]["Data"] = data
    return template
