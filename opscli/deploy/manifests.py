"""The matching cluster's manifests with the stacks' outputs: copy iac/k8s, write the
overlay's stack-outputs.env and image, render with kustomize, and apply the migrations
Job before the matcher (iac/README.md, last section)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chalicelib.settings import PROJECT_ROOT
from opscli.deploy.stages import K8S_DIR, TEMPLATES_DIR, StagePlan, parse_template

Report = Callable[[str], None]
IMAGE_NAME = "exchange-matcher"
PLACEHOLDER_ACCOUNT = "000000000000"  # the committed overlay's, so it renders offline
# The topics' partition counts per stage: the one source the release Job's *_PARTITIONS
# and KEDA's maximum are written from.
TOPICS_TEMPLATE = TEMPLATES_DIR / "streaming.yaml"
TOPICS_METADATA = "Exchange::Topics"
# What runs the matcher's pods; everything else (the Job among it) goes first.
MATCHER_KINDS = {"StatefulSet", "ScaledObject", "TriggerAuthentication",
                 "HorizontalPodAutoscaler", "PodDisruptionBudget", "PodMonitor"}
JOB_TIMEOUT = "15m"
# (variable, stack, output) for every value the manifests take from a stack's outputs.
FROM_OUTPUTS = (
    ("DATABASE_SECRET_ARN", "keys", "MatcherDbSecretArn"),
    # The migrations Job sets the service logins' passwords from their secrets.
    ("API_DB_SECRET_ARN", "keys", "ApiDbSecretArn"),
    ("MATCHER_DB_SECRET_ARN", "keys", "MatcherDbSecretArn"),
    ("FUNCTIONS_DB_SECRET_ARN", "keys", "FunctionsDbSecretArn"),
    ("VPC_CIDR", "network", "VpcCidr"),  # the NetworkPolicy's AWS endpoints
    ("SIGNING_SECRET_ARN", "keys", "SigningSecretArn"),
    ("KMS_KEY_ID", "keys", "SecretsKeyArn"),
    ("REDIS_AUTH_SECRET_ARN", "keys", "CacheAuthSecretArn"),
    ("DATABASE_HOST", "data", "DatabaseWriterHost"),
    ("DATABASE_READ_HOST", "data", "DatabaseReaderHost"),
    ("DATABASE_PORT", "data", "DatabasePort"),
    ("EXCHANGE_DB_NAME", "data", "DatabaseName"),
    ("MIGRATIONS_SECRET_ARN", "data", "DatabaseMasterSecretArn"),
    ("MATCHER_ROLE_ARN", "cluster", "MatcherRoleArn"),
    ("MIGRATIONS_ROLE_ARN", "cluster", "MigrationsRoleArn"),
)


class ManifestError(Exception):
    """Rendering or applying the manifests failed; the message says what to do."""


@dataclass(frozen=True)
class Rendered:
    directory: Path
    migrations: Path  # the Job and what it needs: namespace, accounts, config
    matcher: Path
    jobs: tuple[tuple[str, str], ...]  # (namespace, name)
    matcher_namespace: str

    def commands(self, kubectl: list[str]) -> list[list[str]]:
        deletes = [[*kubectl, "delete", "job", name, "-n", ns, "--ignore-not-found"]
                   for ns, name in self.jobs]
        waits = [[*kubectl, "wait", "--for=condition=complete", f"job/{name}", "-n", ns,
                  f"--timeout={JOB_TIMEOUT}"] for ns, name in self.jobs]
        # The matcher ran as a Deployment before it was a StatefulSet (whose pods' stable
        # names are their static group memberships): on a cluster deployed before, the
        # Deployment goes once its pods have stopped (leaving the consumer group), before
        # the new pods start.
        retire = [*kubectl, "delete", "deployment", "matcher", "-n", self.matcher_namespace,
                  "--ignore-not-found", "--cascade=foreground"]
        return [*deletes, [*kubectl, "apply", "-f", str(self.migrations)], *waits, retire,
                [*kubectl, "apply", "-f", str(self.matcher)]]


def missing_outputs(outputs: Mapping[str, Mapping[str, str]]) -> list[str]:
    needed = [*((stack, output) for _, stack, output in FROM_OUTPUTS),
              ("cache", "RedisPrimaryHost"), ("cache", "RedisPort")]
    return [f"{stack}.{output}" for stack, output in needed
            if not outputs.get(stack, {}).get(output)]


def topic_partitions(stage: str) -> dict[str, str]:
    """`<TOPIC>_PARTITIONS` for each topic of the stage in streaming.yaml's metadata."""
    metadata = parse_template(TOPICS_TEMPLATE.read_text()).get("Metadata", {})
    topics = metadata.get(TOPICS_METADATA, {}).get(stage)
    if not isinstance(topics, dict) or not topics:
        raise ManifestError(f"{TOPICS_TEMPLATE.name} has no {TOPICS_METADATA} for {stage}: "
                            "give each topic's partition count there")
    return {f"{topic.upper().replace('-', '_')}_PARTITIONS": str(count)
            for topic, count in topics.items()}


def stack_values(stage: str, region: str, outputs: Mapping[str, Mapping[str, str]],
                 bootstrap_servers: str) -> dict[str, str]:
    """The stack-outputs.env values (iac/README.md "What the processes read in AWS")."""
    cache = outputs["cache"]
    values = {variable: outputs[stack][output] for variable, stack, output in FROM_OUTPUTS}
    values.update({
        "AWS_REGION": region,
        "REDIS_URL": f"rediss://{cache['RedisPrimaryHost']}:{cache['RedisPort']}/0",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "KAFKA_SECURITY": "iam",
        **topic_partitions(stage),
    })
    return values


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def write_env(path: Path, values: Mapping[str, str]) -> None:
    """Every key the committed file names, the deploy's values replacing its placeholders
    and offline partition counts."""
    merged = {**read_env(path), **values}
    unfilled = [key for key, value in merged.items() if PLACEHOLDER_ACCOUNT in value
                or "placeholder" in value]
    if unfilled:
        raise ManifestError(f"{path.name} names {unfilled}, which exchange deploy does not fill "
                            "from the stacks: add them to opscli/deploy/manifests.py FROM_OUTPUTS")
    path.write_text("".join(f"{key}={value}\n" for key, value in merged.items()))


def set_image(overlay: Path, image: str) -> None:
    kustomization = overlay / "kustomization.yaml"
    document: dict[str, Any] = yaml.safe_load(kustomization.read_text())
    name, separator, reference = image.partition("@")
    entry: dict[str, str] = {"name": IMAGE_NAME}
    if separator:
        entry.update(newName=name, digest=reference)
    else:
        repository, _, tag = image.rpartition(":")
        if "/" in tag or not repository:
            raise ManifestError(f"--image {image}: give <repository>:<tag> or @<digest>")
        entry.update(newName=repository, newTag=tag)
    others = [i for i in document.get("images", []) if i.get("name") != IMAGE_NAME]
    document["images"] = [*others, entry]
    # JSON (which kustomize reads as YAML) quotes every string: a commit's short sha made
    # of digits only (0867754) would otherwise reach kustomize as a number and fail.
    kustomization.write_text(json.dumps(document, indent=2) + "\n")


def kustomize(overlay: Path) -> str:
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(overlay)]
    else:
        command = [str(PROJECT_ROOT / ".local" / "tools" / "bin" / "kustomize"), "build",
                   str(overlay)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ManifestError(f"rendering {overlay} failed: {result.stderr.strip()}; fix iac/k8s "
                            "(`kubectl kustomize iac/k8s/overlays/<stage>` shows it offline)")
    return result.stdout


def render(plan: StagePlan, values: Mapping[str, str], image: str) -> Rendered:
    """Copy iac/k8s under .local/deploy/<stage>/k8s with the stage's values and image,
    and render it in the two files applied in order."""
    copy = plan.state_dir / "k8s"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(K8S_DIR, copy)
    overlay = copy / "overlays" / plan.stage
    write_env(overlay / "stack-outputs.env", values)
    set_image(overlay, image)
    documents = [d for d in yaml.safe_load_all(kustomize(overlay)) if d]
    out = plan.state_dir / "manifests"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    first = [d for d in documents if d["kind"] not in MATCHER_KINDS]
    second = [d for d in documents if d["kind"] in MATCHER_KINDS]
    (out / "all.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    (matcher,) = [d for d in second if d["kind"] == "StatefulSet"]
    rendered = Rendered(out, out / "1-migrations.yaml", out / "2-matcher.yaml", tuple(
        (d["metadata"].get("namespace", "default"), d["metadata"]["name"])
        for d in first if d["kind"] == "Job"), matcher["metadata"].get("namespace", "default"))
    rendered.migrations.write_text(yaml.safe_dump_all(first, sort_keys=False))
    rendered.matcher.write_text(yaml.safe_dump_all(second, sort_keys=False))
    return rendered


def apply(rendered: Rendered, kubectl: list[str], report: Report) -> None:
    """The migrations Job to completion, then the matcher."""
    for command in rendered.commands(kubectl):
        report(f"$ {shlex.join(command)}")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        for output in (result.stdout + result.stderr).strip().splitlines():
            report(f"  {output}")
        if result.returncode != 0:
            raise ManifestError(f"`{shlex.join(command)}` failed (its output is above); the "
                                f"Job's log: {shlex.join(kubectl)} logs job/<name> -n "
                                "<namespace>; fix it, then rerun the deploy")
