"""The deploy plan: which stacks, in which order, from which templates, with which
parameters for a stage (iac/README.md is the contract)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from chalicelib.settings import PROJECT_ROOT

IAC_DIR = PROJECT_ROOT / "iac"
TEMPLATES_DIR = IAC_DIR / "cloudformation"
STAGES_DIR = TEMPLATES_DIR / "stages"
K8S_DIR = IAC_DIR / "k8s"
API_DIR = PROJECT_ROOT / "api"
# Where a deploy writes the packaged API, the rendered manifests and the kubeconfig.
DEPLOY_STATE_DIR = Path(os.environ.get("EXCHANGE_DEPLOY_DIR", PROJECT_ROOT / ".local" / "deploy"))
API_STACK = "api"
# The web app's bucket and distribution; `exchange deploy` ships the build after it.
WEB_STACK = "web"
STAGES = ("dev", "prod")

# (stack, template) in deploy order; the api stack's template is chalice package's output.
STACKS: tuple[tuple[str, str], ...] = (
    ("network", "network.yaml"),
    ("keys", "keys.yaml"),
    ("data", "data.yaml"),
    ("cache", "cache.yaml"),
    ("streaming", "streaming.yaml"),
    ("cluster", "cluster.yaml"),
    (API_STACK, "api-merge.yaml"),
    ("edge", "edge.yaml"),
    ("observability", "observability.yaml"),
    (WEB_STACK, "web.yaml"),
)


class PlanError(Exception):
    """The plan on disk is inconsistent: a stage file or template to fix."""


@dataclass(frozen=True)
class StackPlan:
    name: str
    template_path: Path
    overrides: Mapping[str, str] = field(default_factory=dict)

    def stack_name(self, stage: str) -> str:
        return f"exchange-{stage}-{self.name}"


@dataclass(frozen=True)
class StagePlan:
    stage: str
    region: str
    stacks: tuple[StackPlan, ...]

    @property
    def state_dir(self) -> Path:
        return DEPLOY_STATE_DIR / self.stage

    def stack(self, name: str) -> StackPlan:
        return next(stack for stack in self.stacks if stack.name == name)


def load_stage(stage: str, region: str | None = None) -> StagePlan:
    """The stage's plan from iac/cloudformation/stages/<stage>.json."""
    path = STAGES_DIR / f"{stage}.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read the stage file {path}: {exc}") from exc
    overrides: dict[str, dict[str, Any]] = config.get("parameters", {})
    unknown = set(overrides) - {name for name, _ in STACKS}
    if unknown:
        raise PlanError(f"{path} sets parameters for unknown stacks: {sorted(unknown)}")
    stacks = tuple(
        StackPlan(name, TEMPLATES_DIR / template,
                  {key: str(value) for key, value in overrides.get(name, {}).items()})
        for name, template in STACKS)
    return StagePlan(stage=stage, region=region or str(config["region"]), stacks=stacks)


def parse_template(text: str) -> dict[str, Any]:
    """A template (JSON or YAML) as data."""
    # cfn-lint's loader reads CloudFormation's short-form tags (!Ref, !Sub, ...) as data.
    document = cfn_yaml.loads(text)
    if not isinstance(document, dict):
        raise PlanError("a template must be a mapping")
    return document


def declared_parameters(template: Mapping[str, Any]) -> set[str]:
    return set(template.get("Parameters", {}))


def stack_parameters(stage: str, stack: StackPlan, template: Mapping[str, Any],
                     computed: Mapping[str, str]) -> dict[str, str]:
    """`Stage`, the stage file's overrides, and the values only the deploy can compute
    (the brokers, the REST API's id) for each that the template declares."""
    declared = declared_parameters(template)
    undeclared = set(stack.overrides) - declared
    if undeclared:
        raise PlanError(f"stages/{stage}.json sets {sorted(undeclared)} for {stack.name}, "
                        f"but {stack.template_path.name} declares no such parameter")
    values = {key: value for key, value in computed.items() if key in declared}
    values.update(stack.overrides)
    values["Stage"] = stage
    return values
