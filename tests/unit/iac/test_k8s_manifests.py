"""The matching cluster's manifests (iac/k8s), rendered per stage, hold what the matcher's
safety relies on.

Each overlay is rendered once, as `exchange deploy` renders it (`kubectl kustomize`,
else `.local/tools/bin/kustomize build`). kubernetes-validate --strict checks the built-in
kinds against Kubernetes' own schemas; it has none for custom resources (it warns and
skips them), so the PodMonitor, ScaledObject and TriggerAuthentication are checked
against CUSTOM_SCHEMAS below, which allow exactly the fields these manifests use (a
misspelt field fails), and their values are asserted by the tests.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from cfnlint.decode import cfn_yaml

from chalicelib.settings import PROJECT_ROOT, Settings
from matching_cluster.service.consumer import MatcherConfig, Status
from matching_cluster.service.health import start_health_server
from matching_cluster.service.metrics import Metrics
from opscli.deploy.manifests import topic_partitions
from tests.unit.iac.test_matcher_image import image_entrypoint, image_user

K8S_DIR = PROJECT_ROOT / "iac" / "k8s"
STAGES = ("dev", "prod")
IMAGE = "exchange-matcher"
CUSTOM_KINDS = {"PodMonitor", "ScaledObject", "TriggerAuthentication"}
# A pod's name stands in for the fieldRef metadata.name (the StatefulSet's first pod).
POD_NAME = "matcher-0"
CFN_DIR = PROJECT_ROOT / "iac" / "cloudformation"
CLUSTER_TEMPLATE = CFN_DIR / "cluster.yaml"
# The IAM role (cluster.yaml) each service account is annotated with.
ROLES = {"matcher": "MatcherRole", "migrations": "MigrationsRole"}
# Each secret variable's stack output (iac/README.md, "What the processes read in AWS");
# DATABASE_SECRET_ARN is the process's own login, here the matcher's.
SECRET_OUTPUTS = {
    "DATABASE_SECRET_ARN": "MatcherDbSecretArn", "SIGNING_SECRET_ARN": "SigningSecretArn",
    "REDIS_AUTH_SECRET_ARN": "CacheAuthSecretArn",
    "MIGRATIONS_SECRET_ARN": "DatabaseMasterSecretArn", "API_DB_SECRET_ARN": "ApiDbSecretArn",
    "MATCHER_DB_SECRET_ARN": "MatcherDbSecretArn",
    "FUNCTIONS_DB_SECRET_ARN": "FunctionsDbSecretArn",
}

Object = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    stage: str
    text: str
    objects: list[Object]
    outputs: dict[str, str]  # the overlay's stack-outputs.env

    def one(self, kind: str, name: str | None = None) -> Object:
        (found,) = [o for o in self.objects if o["kind"] == kind
                    and (name is None or o["metadata"]["name"] == name)]
        return found

    @property
    def partitions(self) -> int:
        return int(self.outputs["ORDERS_PARTITIONS"])


def render_overlay(stage: str) -> Rendered:
    overlay = K8S_DIR / "overlays" / stage
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(overlay)]
    else:
        command = [str(PROJECT_ROOT / ".local" / "tools" / "bin" / "kustomize"), "build",
                   str(overlay)]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return Rendered(stage, text, [o for o in yaml.safe_load_all(text) if o],
                    read_env(overlay / "stack-outputs.env"))


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {key: value for key, value in pairs}


def pod_spec(workload: Object) -> Object:
    spec: Object = workload["spec"]["template"]["spec"]
    return spec


def pod_environment(rendered: Rendered, container: Object) -> dict[str, str]:
    """The environment the container starts with: its `env`, a configMapKeyRef being
    the ConfigMap's value and fieldRef metadata.name the pod's name."""
    assert "envFrom" not in container, "each variable is named"
    env: dict[str, str] = {}
    for variable in container["env"]:
        source = variable.get("valueFrom", {})
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[variable["name"]] = rendered.one("ConfigMap", ref["name"])["data"][ref["key"]]
        else:
            assert source == {"fieldRef": {"fieldPath": "metadata.name"}}
            env[variable["name"]] = POD_NAME
    return env


def matcher_container(rendered: Rendered) -> Object:
    containers: list[Object] = pod_spec(rendered.one("StatefulSet", "matcher"))["containers"]
    (container,) = containers
    return container


def selects(selector: Object, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


@pytest.fixture(scope="module", params=STAGES)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render_overlay(request.param)


@pytest.fixture
def pod_settings(rendered: Rendered, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The matcher's settings, read from the environment its pod starts with."""
    for name, value in pod_environment(rendered, matcher_container(rendered)).items():
        monkeypatch.setenv(name, value)
    return Settings()


# ----------------------------------------------------------------- schemas


def test_built_in_kinds_pass_strict_validation(rendered: Rendered, tmp_path: Path) -> None:
    manifest = tmp_path / f"{rendered.stage}.yaml"
    manifest.write_text(rendered.text)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", str(manifest)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for o in rendered.objects:
        resource = f"{o['kind'].lower()}/{o['metadata']['name']}"
        if o["kind"] in CUSTOM_KINDS:
            assert f"Couldn't find schema for kind {o['kind']}" in result.stdout
        else:
            assert f"passed for resource {resource} " in result.stdout, result.stdout


def _strict(properties: dict[str, Any], required: list[str] | None = None) -> Object:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": required or list(properties)}


_STRING = {"type": "string", "minLength": 1}
_LABELS = _strict({"matchLabels": {"type": "object",
                                   "additionalProperties": {"type": "string"}}})
_METADATA = _strict({"name": _STRING, "namespace": {"const": "exchange"},
                     "labels": {"type": "object"}}, ["name", "namespace"])
_POLICY = _strict({"type": {"enum": ["Pods", "Percent"]}, "value": {"type": "integer"},
                   "periodSeconds": {"type": "integer"}})
_BEHAVIOR = _strict({"stabilizationWindowSeconds": {"type": "integer"},
                     "policies": {"type": "array", "items": _POLICY}})
CUSTOM_SCHEMAS: dict[str, Object] = {
    # monitoring.coreos.com/v1, as the Prometheus operator's CRD defines these fields.
    "PodMonitor": _strict({
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PodMonitor"},
        "metadata": _METADATA,
        "spec": _strict({"selector": _LABELS, "podMetricsEndpoints": {
            "type": "array", "minItems": 1, "items": _strict(
                {"port": _STRING, "path": _STRING,
                 "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m)$"}})}})}),
    # keda.sh/v1alpha1: the kafka trigger's metadata is a map of strings.
    "ScaledObject": _strict({
        "apiVersion": {"const": "keda.sh/v1alpha1"}, "kind": {"const": "ScaledObject"},
        "metadata": _METADATA,
        "spec": _strict({
            "scaleTargetRef": _strict({"apiVersion": {"const": "apps/v1"},
                                       "kind": {"const": "StatefulSet"}, "name": _STRING}),
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            "minReplicaCount": {"type": "integer", "minimum": 1},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "advanced": _strict({"horizontalPodAutoscalerConfig": _strict({
                "behavior": _strict({"scaleUp": _BEHAVIOR, "scaleDown": _BEHAVIOR})})}),
            "triggers": {"type": "array", "minItems": 1, "items": _strict({
                "type": {"const": "kafka"},
                "authenticationRef": _strict({"name": _STRING}),
                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            })}})}),
    "TriggerAuthentication": _strict({
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"}, "metadata": _METADATA,
        "spec": _strict({"podIdentity": _strict({"provider": {"const": "aws"},
                                                 "identityOwner": {"const": "keda"}})})}),
}


def test_custom_resources_match_their_schemas(rendered: Rendered) -> None:
    custom = [o for o in rendered.objects if o["kind"] in CUSTOM_KINDS]
    assert {o["kind"] for o in custom} == CUSTOM_KINDS
    for o in custom:
        jsonschema.validate(o, CUSTOM_SCHEMAS[o["kind"]])


# ------------------------------------------------------- the matcher's pods


def test_the_statefulset_runs_the_image_entry_point(rendered: Rendered) -> None:
    container = matcher_container(rendered)
    assert container["image"] == IMAGE
    assert container["command"] == image_entrypoint()
    assert "args" not in container


def test_probes_hit_the_endpoints_the_matcher_serves(
    rendered: Rendered, pod_settings: Settings,
) -> None:
    """The probes' named port is the port the matcher binds with the pod's environment,
    on every interface; and the matcher's own health server answers the probes' paths as
    Kubernetes needs: live while the loop turns, ready only while it owns partitions."""
    container = matcher_container(rendered)
    (port,) = container["ports"]
    probes = {kind: container[f"{kind}Probe"]["httpGet"]
              for kind in ("startup", "liveness", "readiness")}
    assert {probe["port"] for probe in probes.values()} == {port["name"]}
    assert pod_settings.matcher_health_port == port["containerPort"]
    assert ipaddress.ip_address(pod_settings.matcher_health_host).is_unspecified
    monitor = rendered.one("PodMonitor", "matcher")["spec"]["podMetricsEndpoints"]
    assert [endpoint["port"] for endpoint in monitor] == [port["name"]]

    owning, idle = Status(assigned={0}), Status()
    with serving(owning) as on_owning, serving(idle) as on_idle:
        for kind in ("startup", "liveness"):
            assert get(on_owning, probes[kind]["path"]) == 200
            assert get(on_idle, probes[kind]["path"]) == 200
        assert get(on_owning, probes["readiness"]["path"]) == 200
        assert get(on_idle, probes["readiness"]["path"]) == 503
        owning.stopping = True
        assert get(on_owning, probes["readiness"]["path"]) == 503
        assert get(on_owning, monitor[0]["path"]) == 200


@contextlib.contextmanager
def serving(status: Status) -> Iterator[int]:
    """The matcher's health server for ``status``, on a free loopback port."""
    server = start_health_server("127.0.0.1", 0, status, Metrics())
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_pod_environment_is_the_matchers_in_aws(
    rendered: Rendered, pod_settings: Settings,
) -> None:
    assert pod_settings.exchange_env == "aws"
    assert pod_settings.db_role == "matcher"
    assert pod_settings.kafka_security == "iam"
    assert pod_settings.database_secret_arn == rendered.outputs["DATABASE_SECRET_ARN"]
    assert pod_settings.orders_partitions == rendered.partitions
    # Each pod owns partitions under its own name, and is the consumer group's static
    # member under it: back under the same name, it takes its partitions back at once.
    config = MatcherConfig()
    assert config.instance_id == POD_NAME
    assert config.static_membership is True


def test_pods_keep_their_names_across_restarts_and_rollouts(rendered: Rendered) -> None:
    """A StatefulSet's pods are named after it and their ordinal, and a replaced pod gets
    its predecessor's name, which static membership needs. Its governing Service is
    headless and selects those pods."""
    spec = rendered.one("StatefulSet", "matcher")["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    # Scaling up must not wait for each new pod to own a partition before the next.
    assert spec["podManagementPolicy"] == "Parallel"
    service = rendered.one("Service", spec["serviceName"])["spec"]
    assert service["clusterIP"] == "None"
    assert service["selector"] == spec["selector"]["matchLabels"]
    (port,) = matcher_container(rendered)["ports"]
    assert [p["targetPort"] for p in service["ports"]] == [port["name"]]


def test_replicas_never_exceed_the_orders_partitions(rendered: Rendered) -> None:
    workload = rendered.one("StatefulSet", "matcher")
    scaler = rendered.one("ScaledObject", "matcher")["spec"]
    assert 1 <= workload["spec"]["replicas"] <= rendered.partitions
    assert scaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                        "name": workload["metadata"]["name"]}
    assert 1 <= scaler["minReplicaCount"] <= workload["spec"]["replicas"]
    assert scaler["maxReplicaCount"] == rendered.partitions


def test_autoscaling_reads_the_matchers_own_consumer_group(
    rendered: Rendered, pod_settings: Settings,
) -> None:
    (trigger,) = rendered.one("ScaledObject", "matcher")["spec"]["triggers"]
    metadata = trigger["metadata"]
    assert metadata["consumerGroup"] == MatcherConfig().group_id
    assert metadata["topic"] == pod_settings.orders_topic
    assert metadata["bootstrapServers"] == rendered.outputs["KAFKA_BOOTSTRAP_SERVERS"]
    assert metadata["awsRegion"] == rendered.outputs["AWS_REGION"]
    assert metadata["allowIdleConsumers"] == "false"
    assert (metadata["sasl"], metadata["saslTokenProvider"], metadata["tls"]) == (
        "oauthbearer", "aws_msk_iam", "enable")
    # The operator's own role, whose trust admits KEDA's service account only.
    authentication = rendered.one("TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert authentication["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "keda"}
    keda_role = cfn_yaml.load(str(CLUSTER_TEMPLATE))["Resources"]["KedaOperatorRole"]
    assert "system:serviceaccount:keda:keda-operator" in str(
        keda_role["Properties"]["AssumeRolePolicyDocument"])


def test_pods_spread_across_zones_and_nodes(rendered: Rendered) -> None:
    template = rendered.one("StatefulSet", "matcher")["spec"]["template"]
    labels, spec = template["metadata"]["labels"], template["spec"]
    spread = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
    zone = spread["topology.kubernetes.io/zone"]
    assert zone["maxSkew"] == 1
    assert selects(zone["labelSelector"], labels)
    strict = {"dev": "ScheduleAnyway", "prod": "DoNotSchedule"}[rendered.stage]
    assert zone["whenUnsatisfiable"] == strict
    assert selects(spread["kubernetes.io/hostname"]["labelSelector"], labels)
    (anti,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert selects(anti["podAffinityTerm"]["labelSelector"], labels)


def test_disruption_budget_covers_the_matcher_pods_only(rendered: Rendered) -> None:
    budget = rendered.one("PodDisruptionBudget", "matcher")["spec"]
    assert budget["maxUnavailable"] == 1
    matcher = rendered.one("StatefulSet", "matcher")["spec"]["template"]["metadata"]["labels"]
    migrations = rendered.one("Job", "migrations")["spec"]["template"]["metadata"]["labels"]
    assert selects(budget["selector"], matcher)
    assert not selects(budget["selector"], migrations)


# What a node of each type gives pods, as EKS's AL2023 nodes reserve it: (vCPUs, memory
# MiB, max pods). Allocatable CPU is the vCPUs less kube-reserved (6 % of the first core,
# 1 % of the second, 0.5 % of each further one up to four); memory is 93 % of the nominal
# (what the kernel reports) less kube-reserved (255 MiB + 11 MiB per max pod) and the
# 100 MiB eviction threshold.
NODE_TYPES = {"t3.medium": (2, 4096, 17),
              "m7i.xlarge": (4, 16384, 58)}
# The DaemonSets on every node, as their add-ons request by default (millicores, MiB): VPC
# CNI, kube-proxy, the CloudWatch agent and Fluent Bit (cluster.yaml ObservabilityAddon).
DAEMON_REQUESTS = ((25, 0), (100, 0), (250, 128), (50, 25))


def millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


def matcher_pods_per_node(instance_type: str, requests: dict[str, str]) -> int:
    vcpus, memory, max_pods = NODE_TYPES[instance_type]
    reserved_cpu = 60 + 10 + 5 * min(vcpus - 2, 2)
    cpu = vcpus * 1000 - reserved_cpu - sum(c for c, _ in DAEMON_REQUESTS)
    mib = memory * 93 // 100 - (255 + 11 * max_pods) - 100 - sum(m for _, m in DAEMON_REQUESTS)
    return min(cpu // millicores(requests["cpu"]), mib // mebibytes(requests["memory"]))


def test_two_matcher_pods_fit_on_a_node_and_the_node_group_holds_keda_maximum(
        rendered: Rendered) -> None:
    """Guaranteed pods (requests = limits) schedule only where a node has that much left
    after its own reservations and daemons (docs/operations.md, section 3)."""
    nodes = cfn_yaml.load(str(CLUSTER_TEMPLATE))["Mappings"]["StageNodes"][rendered.stage]
    requests = matcher_container(rendered)["resources"]["requests"]
    per_node = matcher_pods_per_node(nodes["InstanceType"], requests)
    assert per_node >= 2
    assert per_node * nodes["MaxSize"] >= rendered.one("ScaledObject", "matcher")["spec"][
        "maxReplicaCount"]


def test_the_drain_fits_in_the_grace_period(rendered: Rendered) -> None:
    """SIGTERM settles the batch in hand, then waits up to 10 s for the publisher; the
    kubelet's SIGKILL must not come before that."""
    spec = pod_spec(rendered.one("StatefulSet", "matcher"))
    assert spec["terminationGracePeriodSeconds"] >= 30
    assert "lifecycle" not in matcher_container(rendered), "no preStop delays the SIGTERM"


# ---------------------------------------------------------- every workload


def workloads(rendered: Rendered) -> Iterator[Object]:
    yield from (o for o in rendered.objects if o["kind"] in ("StatefulSet", "Job"))


def test_every_container_has_guaranteed_resources(rendered: Rendered) -> None:
    for workload in workloads(rendered):
        for container in pod_spec(workload)["containers"]:
            resources = container["resources"]
            assert set(resources["limits"]) == {"cpu", "memory"}
            assert resources["requests"] == resources["limits"], container["name"]


def test_no_container_runs_as_root_or_privileged(rendered: Rendered) -> None:
    namespace = rendered.one("Namespace", "exchange")["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in workloads(rendered):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == image_user() != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not any(spec.get(host) for host in ("hostNetwork", "hostPID", "hostIPC"))
        assert all("hostPath" not in volume for volume in spec.get("volumes", []))
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["runAsUser"] != 0
            assert context.get("privileged", False) is False
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}


def test_the_migrations_job_releases_from_the_same_image(rendered: Rendered) -> None:
    job = rendered.one("Job", "migrations")
    spec = pod_spec(job)
    (container,) = spec["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "opscli.release"]
    assert spec["serviceAccountName"] == "migrations"
    assert spec["restartPolicy"] == "Never"
    for field in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        assert job["spec"][field] > 0
    env = pod_environment(rendered, container)
    assert (env["KAFKA_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    for variable in ("MIGRATIONS_SECRET_ARN", "API_DB_SECRET_ARN", "MATCHER_DB_SECRET_ARN",
                     "FUNCTIONS_DB_SECRET_ARN", "KAFKA_BOOTSTRAP_SERVERS"):
        assert env[variable] == rendered.outputs[variable]


def readable_secrets(role: str) -> set[str]:
    """The outputs naming the secrets ``role`` may read (secretsmanager:GetSecretValue)."""
    properties = cfn_yaml.load(str(CLUSTER_TEMPLATE))["Resources"][role]["Properties"]
    readable: set[str] = set()
    for policy in properties["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"]):
                readable |= {r["Fn::ImportValue"]["Fn::Sub"].removeprefix("exchange-${Stage}-")
                             for r in as_list(statement["Resource"])}
    return readable


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_each_pod_is_given_only_secrets_its_role_can_read(rendered: Rendered) -> None:
    """In AWS a process reads every secret it is given at start-up: one its role cannot
    read would stop it from starting."""
    for workload in workloads(rendered):
        spec = pod_spec(workload)
        (container,) = spec["containers"]
        secrets = {SECRET_OUTPUTS[name] for name in pod_environment(rendered, container)
                   if name.endswith("_SECRET_ARN")}
        assert secrets
        assert secrets <= readable_secrets(ROLES[spec["serviceAccountName"]]), workload["kind"]


# ------------------------------------------------------- the stacks' outputs


def test_stack_outputs_reach_the_objects(rendered: Rendered) -> None:
    """The replacements carry stack-outputs.env into the objects kustomize cannot feed
    from a ConfigMap; the pods read the whole file as their environment."""
    outputs = rendered.outputs
    for account, variable in (("matcher", "MATCHER_ROLE_ARN"),
                              ("migrations", "MIGRATIONS_ROLE_ARN")):
        annotations = rendered.one("ServiceAccount", account)["metadata"]["annotations"]
        assert annotations["eks.amazonaws.com/role-arn"] == outputs[variable]
    assert {w["kind"]: pod_spec(w)["serviceAccountName"] for w in workloads(rendered)} == {
        "StatefulSet": "matcher", "Job": "migrations"}
    (config,) = [o for o in rendered.objects if o["kind"] == "ConfigMap"]
    assert config["data"] == outputs
    assert ":000000000000:" in outputs["MATCHER_ROLE_ARN"], "the committed file holds placeholders"


def test_network_policies_allow_exactly_the_needed_traffic(rendered: Rendered) -> None:
    vpc = rendered.outputs["VPC_CIDR"]
    deny = rendered.one("NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = {("UDP", 53), ("TCP", 53)}
    allowed = {"matcher": {("TCP", 9098), ("TCP", 5432), ("TCP", 6379), ("TCP", 443)} | dns,
               "migrations": {("TCP", 9098), ("TCP", 5432), ("TCP", 443)} | dns}
    for name, ports in allowed.items():
        spec = rendered.one("NetworkPolicy", name)["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        egress = {(p["protocol"], p["port"]) for rule in spec["egress"] for p in rule["ports"]}
        assert egress == ports
        for rule in spec["egress"]:
            if {(p["protocol"], p["port"]) for p in rule["ports"]} != dns:
                assert rule["to"] == [{"ipBlock": {"cidr": vpc}}], "inside the VPC only"
    ingress = rendered.one("NetworkPolicy", "matcher")["spec"]["ingress"]
    (port,) = matcher_container(rendered)["ports"]
    metrics = [{"port": port["name"], "protocol": "TCP"}]
    assert ingress == [
        {"from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}], "ports": metrics},
        # Amazon Managed Prometheus' collector, from its ENIs in the private subnets.
        {"from": [{"ipBlock": {"cidr": vpc}}], "ports": metrics}]
    assert "ingress" not in rendered.one("NetworkPolicy", "migrations")["spec"]


# ------------------------------------------------------- the topics' partition counts


PARTITION_KEYS = ("ORDERS_PARTITIONS", "MARKET_EVENTS_PARTITIONS", "ORDER_EVENTS_PARTITIONS")


def api_partitions(stage: str) -> dict[str, str]:
    """The functions' counts in api-merge.yaml's Globals, as the stage evaluates them."""
    variables = cfn_yaml.load(str(CFN_DIR / "api-merge.yaml"))["Globals"]["Function"][
        "Environment"]["Variables"]
    values = {}
    for key in PARTITION_KEYS:
        prod, dev = variables[key]["Fn::If"][1:]
        values[key] = prod if stage == "prod" else dev
    return values


def test_the_managed_collector_may_only_read_the_namespaces_pods(rendered: Rendered) -> None:
    role = rendered.one("Role", "aps-collector")
    binding = rendered.one("RoleBinding", "aps-collector")

    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "exchange"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "list", "watch"]}]
    assert binding["roleRef"]["name"] == "aps-collector"
    # The user observability.yaml's ScraperAccessEntry maps the collector's role to.
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                    "name": "aps-collector-user"}]


def test_the_partition_counts_agree_with_their_source(rendered: Rendered) -> None:
    """streaming.yaml's Exchange::Topics is what `exchange deploy` writes into the
    release Job's and KEDA's stack-outputs.env; the committed overlay (offline rendering)
    and the functions' settings must say the same."""
    source = topic_partitions(rendered.stage)
    assert set(source) == set(PARTITION_KEYS)
    assert {key: rendered.outputs[key] for key in PARTITION_KEYS} == source
    assert api_partitions(rendered.stage) == source
    assert rendered.one("ScaledObject", "matcher")["spec"]["maxReplicaCount"] == int(
        source["ORDERS_PARTITIONS"])


def test_the_readme_lists_exactly_the_stack_outputs_keys(rendered: Rendered) -> None:
    readme = (PROJECT_ROOT / "iac" / "README.md").read_text()
    section = readme.split("## The matching cluster's manifests and the stacks' outputs", 1)[1]
    paragraph = section.split("kustomize `replacements`", 1)[0]
    assert set(re.findall(r"`([A-Z][A-Z0-9_]+)`", paragraph)) == set(rendered.outputs)
