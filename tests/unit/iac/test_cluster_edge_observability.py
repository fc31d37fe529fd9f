"""Stacks 6 (cluster), 8 (edge) and 9 (observability): the properties operators rely on.

Each template is rendered the way CloudFormation would for a stage and a set of
parameters: conditions decide which resources exist, intrinsic functions are evaluated,
and imports read fake exports named after the contract table in iac/README.md (an
import the table does not list fails the test). The assertions are on what would be
created: who may assume a role, what it may touch, where nodes run, what pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "iac" / "cloudformation"
REGION, ACCOUNT = "eu-west-1", "111122223333"
KAFKA_UUID = "6f0a7c3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b-3"
OIDC_ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
REST_API_ID = "a1b2c3d4e5"
NO_VALUE = object()
# Types whose Ref is the name they were given; the others' Ref reads ref:<logical id>.
NAME_PROPERTY = {"AWS::Logs::LogGroup": "LogGroupName",
                 "AWS::CloudWatch::Dashboard": "DashboardName"}


def contract_outputs() -> list[str]:
    """The exported output names of the stack table in iac/README.md."""
    names: list[str] = []
    for line in (ROOT / "iac" / "README.md").read_text().splitlines():
        if re.match(r"^\| \d+ \|", line):
            outputs = re.sub(r"\([^)]*\)", "", line.rstrip(" |").rsplit("|", 1)[1])
            names += re.findall(r"`(\w+)`", outputs)
    return names


def fake_exports(stage: str) -> dict[str, str]:
    kafka = f"exchange-{stage}"
    real = {
        "PrivateSubnetIds": "subnet-0a,subnet-0b,subnet-0c",
        "KafkaClusterArn": f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/{kafka}/{KAFKA_UUID}",
        "KafkaClusterName": kafka,
        "DatabaseClusterArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:exchange-{stage}-db",
        "EksClusterName": f"exchange-{stage}",
    }
    return {f"exchange-{stage}-{name}": real.get(name, f"<{stage} {name}>")
            for name in contract_outputs()}


def export(stage: str, name: str) -> str:
    return fake_exports(stage)[f"exchange-{stage}-{name}"]


class Rendered:
    """A template as CloudFormation would create it for these parameters."""

    def __init__(self, template_name: str, **parameters: str) -> None:
        self.template: dict[str, Any] = cfn_yaml.load(str(TEMPLATES / template_name))
        declared = self.template.get("Parameters", {})
        self.params: dict[str, Any] = {
            name: spec.get("Default", "") for name, spec in declared.items()}
        self.params.update(parameters)
        for name, spec in declared.items():
            if spec["Type"] == "CommaDelimitedList":
                self.params[name] = str(self.params[name]).split(",")
        self.exports = fake_exports(self.params["Stage"])
        self.attrs = {"Cluster.OpenIdConnectIssuerUrl": f"https://{OIDC_ISSUER}"}
        self.created = self._present(self.template["Resources"])
        self.resources = {name: self.value(self.template["Resources"][name])
                          for name in self.created}
        outputs = self.template.get("Outputs", {})
        self.outputs = {name: self.value(outputs[name]) for name in self._present(outputs)}

    def _present(self, section: dict[str, Any]) -> list[str]:
        return [name for name, body in section.items()
                if "Condition" not in body or self.condition(body["Condition"])]

    def props(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources[logical_id]["Properties"]
        return props

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: body["Properties"] for name, body in self.resources.items()
                if body["Type"] == resource_type}

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                (key, arg), = node.items()
                if key in FUNCTIONS:
                    return FUNCTIONS[key](self, arg)
            items = ((k, self.value(v)) for k, v in node.items())
            return {k: v for k, v in items if v is not NO_VALUE}
        if isinstance(node, list):
            return [v for v in map(self.value, node) if v is not NO_VALUE]
        return node

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        assert name in self.created, f"Ref to {name}, which does not exist here"
        resource = self.template["Resources"][name]
        named_by = NAME_PROPERTY.get(resource["Type"])
        return self.value(resource["Properties"][named_by]) if named_by else f"ref:{name}"

    def get_att(self, arg: Any) -> str:
        resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        assert resource in self.created, f"GetAtt of {resource}, which does not exist here"
        return self.attrs.get(f"{resource}.{attribute}", f"getatt:{resource}.{attribute}")

    def sub(self, arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in names:
                return str(names[name])
            return self.get_att(name) if "." in name else str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", fill, text)


FUNCTIONS: dict[str, Callable[[Rendered, Any], Any]] = {
    "Ref": lambda r, a: r.ref(a),
    "Fn::GetAtt": lambda r, a: r.get_att(a),
    "Fn::Sub": lambda r, a: r.sub(a),
    "Fn::ImportValue": lambda r, a: r.exports[r.value(a)],
    "Fn::Select": lambda r, a: r.value(a[1])[int(r.value(a[0]))],
    "Fn::Split": lambda r, a: r.value(a[1]).split(a[0]),
    "Fn::Join": lambda r, a: a[0].join(r.value(a[1])),
    "Fn::FindInMap": lambda r, a: r.template["Mappings"][a[0]][r.value(a[1])][a[2]],
    "Fn::If": lambda r, a: r.value(a[1] if r.condition(a[0]) else a[2]),
    "Fn::Equals": lambda r, a: str(r.value(a[0])) == str(r.value(a[1])),
    "Fn::Not": lambda r, a: not r.value(a[0]),
    "Fn::And": lambda r, a: all(r.value(c) for c in a),
    "Fn::Or": lambda r, a: any(r.value(c) for c in a),
    "Condition": lambda r, a: r.condition(a),
}


def cluster(stage: str = "dev", **parameters: str) -> Rendered:
    return Rendered("cluster.yaml", Stage=stage, **parameters)


EXISTING = {"ExistingClusterName": "platform",
            "ExistingOidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC_ISSUER}",
            "ExistingOidcIssuer": OIDC_ISSUER}


def statements(rendered: Rendered, role: str) -> list[dict[str, Any]]:
    return [s for policy in rendered.props(role)["Policies"]
            for s in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(rendered: Rendered, role: str, action: str) -> set[str]:
    """The resources on which `role` may perform `action`."""
    return {arn for s in statements(rendered, role) if action in as_list(s["Action"])
            for arn in as_list(s["Resource"])}


def kafka_arn(kind: str, name: str, stage: str = "dev") -> str:
    return f"arn:aws:kafka:{REGION}:{ACCOUNT}:{kind}/exchange-{stage}/{KAFKA_UUID}/{name}"


# --- cluster.yaml -----------------------------------------------------------------------

@pytest.mark.parametrize("parameters", [{}, EXISTING], ids=["created", "existing"])
@pytest.mark.parametrize(("role", "account"), [("MatcherRole", "exchange:matcher"),
                                               ("MigrationsRole", "exchange:migrations"),
                                               ("KedaOperatorRole", "keda:keda-operator")])
def test_irsa_trust_admits_only_its_service_account_through_the_clusters_oidc_provider(
        parameters: dict[str, str], role: str, account: str) -> None:
    rendered = cluster(**parameters)

    trust = json.loads(rendered.props(role)["AssumeRolePolicyDocument"])

    provider = parameters.get("ExistingOidcProviderArn", "ref:OidcProvider")
    assert trust["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            f"{OIDC_ISSUER}:sub": f"system:serviceaccount:{account}",
            f"{OIDC_ISSUER}:aud": "sts.amazonaws.com"}},
    }]


@pytest.mark.parametrize("role", ["MatcherRole", "MigrationsRole", "KedaOperatorRole"])
def test_service_roles_name_every_resource_they_touch(role: str) -> None:
    for statement in statements(cluster(), role):
        for resource in as_list(statement["Resource"]):
            assert "*" not in resource, statement["Sid"]


def test_matcher_consumes_orders_publishes_events_and_commits_as_group_matcher() -> None:
    rendered = cluster()
    cluster_arn = export("dev", "KafkaClusterArn")

    assert allowed(rendered, "MatcherRole", "kafka-cluster:Connect") == {cluster_arn}
    # The producer is idempotent (enable.idempotence), a cluster-level permission.
    assert allowed(rendered, "MatcherRole", "kafka-cluster:WriteDataIdempotently") == {
        cluster_arn}
    assert allowed(rendered, "MatcherRole", "kafka-cluster:ReadData") == {
        kafka_arn("topic", "orders")}
    assert allowed(rendered, "MatcherRole", "kafka-cluster:WriteData") == {
        kafka_arn("topic", "market-events"), kafka_arn("topic", "order-events")}
    assert allowed(rendered, "MatcherRole", "kafka-cluster:AlterGroup") == {
        kafka_arn("group", "matcher")}
    assert allowed(rendered, "MatcherRole", "kafka-cluster:CreateTopic") == set()


def test_keda_may_only_describe_the_cluster_the_orders_topic_and_the_matcher_group() -> None:
    """What KEDA's kafka scaler calls to compute the lag (metadata, ListOffsets,
    FindCoordinator, OffsetFetch) and nothing that reads or changes data."""
    rendered = cluster()

    granted = {(action, arn) for s in statements(rendered, "KedaOperatorRole")
               for action in as_list(s["Action"]) for arn in as_list(s["Resource"])}

    cluster_arn = export("dev", "KafkaClusterArn")
    assert granted == {
        ("kafka-cluster:Connect", cluster_arn),
        ("kafka-cluster:DescribeCluster", cluster_arn),
        ("kafka-cluster:DescribeTopic", kafka_arn("topic", "orders")),
        ("kafka-cluster:DescribeGroup", kafka_arn("group", "matcher")),
    }


def test_migrations_job_creates_and_grows_only_the_three_topics() -> None:
    topics = {kafka_arn("topic", t) for t in ("orders", "market-events", "order-events")}

    for action in ("CreateTopic", "DescribeTopic", "AlterTopic"):
        assert allowed(cluster(), "MigrationsRole", f"kafka-cluster:{action}") == topics
    assert allowed(cluster(), "MigrationsRole", "kafka-cluster:ReadData") == set()


def test_each_role_reads_only_its_secrets_decrypted_through_secrets_manager() -> None:
    rendered = cluster()
    secrets = {name: export("dev", name) for name in (
        "MatcherDbSecretArn", "CacheAuthSecretArn", "SigningSecretArn", "ApiDbSecretArn",
        "FunctionsDbSecretArn", "DatabaseMasterSecretArn")}

    assert allowed(rendered, "MatcherRole", "secretsmanager:GetSecretValue") == {
        secrets["MatcherDbSecretArn"], secrets["CacheAuthSecretArn"],
        secrets["SigningSecretArn"]}
    # The migrations job sets the services' login passwords, so it reads their secrets.
    assert allowed(rendered, "MigrationsRole", "secretsmanager:GetSecretValue") == {
        secrets[name] for name in ("DatabaseMasterSecretArn", "ApiDbSecretArn",
                                   "MatcherDbSecretArn", "FunctionsDbSecretArn")}
    for role in ("MatcherRole", "MigrationsRole"):
        decrypts = [s for s in statements(rendered, role) if s["Action"] == "kms:Decrypt"]
        assert export("dev", "SecretsKeyArn") in as_list(decrypts[0]["Resource"])
        assert decrypts[0]["Condition"] == {"StringEquals": {
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}


@pytest.mark.parametrize(("stage", "instance_type", "scaling"), [
    ("dev", "t3.medium", {"MinSize": 1, "DesiredSize": 2, "MaxSize": 3}),
    ("prod", "m7i.xlarge", {"MinSize": 3, "DesiredSize": 3, "MaxSize": 6}),
])
def test_node_group_spans_the_three_private_subnets_with_the_stages_scaling(
        stage: str, instance_type: str, scaling: dict[str, int]) -> None:
    rendered = cluster(stage)

    nodes = rendered.props("NodeGroup")
    assert nodes["Subnets"] == ["subnet-0a", "subnet-0b", "subnet-0c"]
    assert nodes["InstanceTypes"] == [instance_type]
    assert nodes["ScalingConfig"] == scaling
    assert nodes["ClusterName"] == "ref:Cluster"


def test_nodes_carry_the_matcher_security_group_and_refuse_pods_the_instance_role() -> None:
    rendered = cluster()

    template = rendered.props("NodeLaunchTemplate")["LaunchTemplateData"]
    assert export("dev", "MatcherSecurityGroupId") in template["SecurityGroupIds"]
    assert "getatt:Cluster.ClusterSecurityGroupId" in template["SecurityGroupIds"]
    assert template["MetadataOptions"]["HttpTokens"] == "required"
    assert template["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert rendered.props("NodeGroup")["LaunchTemplate"]["Id"] == "ref:NodeLaunchTemplate"


def test_node_role_has_the_worker_cni_and_registry_policies() -> None:
    policies = cluster().props("NodeRole")["ManagedPolicyArns"]

    assert sorted(p.rsplit("/", 1)[1] for p in policies) == [
        "AmazonEC2ContainerRegistryReadOnly", "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy"]


def test_created_cluster_is_private_encrypts_secrets_and_logs_who_did_what() -> None:
    props = cluster().props("Cluster")

    assert float(props["Version"]) >= 1.31
    vpc = props["ResourcesVpcConfig"]
    assert vpc["SubnetIds"] == ["subnet-0a", "subnet-0b", "subnet-0c"]
    assert (vpc["EndpointPrivateAccess"], vpc["EndpointPublicAccess"]) == (True, False)
    assert "PublicAccessCidrs" not in vpc
    assert props["EncryptionConfig"] == [{"Resources": ["secrets"], "Provider": {
        "KeyArn": export("dev", "SecretsKeyArn")}}]
    assert {t["Type"] for t in props["Logging"]["ClusterLogging"]["EnabledTypes"]} == {
        "api", "audit", "authenticator"}


def test_public_endpoint_opens_only_to_the_given_cidrs() -> None:
    vpc = cluster(PublicEndpointCidrs="203.0.113.0/24,198.51.100.7/32").props(
        "Cluster")["ResourcesVpcConfig"]

    assert vpc["EndpointPublicAccess"] is True
    assert vpc["PublicAccessCidrs"] == ["203.0.113.0/24", "198.51.100.7/32"]


def test_existing_cluster_creates_no_cluster_node_group_or_oidc_provider() -> None:
    rendered = cluster(**EXISTING)

    created = {body["Type"] for body in rendered.resources.values()}
    assert created == {"AWS::IAM::Role", "AWS::ECR::Repository"}
    assert set(rendered.resources) == {"MatcherRole", "MigrationsRole", "KedaOperatorRole",
                                       "MatcherImageRepository"}
    assert rendered.outputs["EksClusterName"]["Value"] == "platform"
    # No endpoint to export: deploy reads it with eks:DescribeCluster.
    assert "EksClusterEndpoint" not in rendered.outputs


def test_created_cluster_exports_its_name_endpoint_and_the_roles() -> None:
    outputs = cluster().outputs

    assert {name: o["Export"]["Name"] for name, o in outputs.items()} == {
        name: f"exchange-dev-{name}" for name in (
            "EksClusterName", "EksClusterEndpoint", "MatcherRoleArn", "MigrationsRoleArn",
            "KedaOperatorRoleArn", "MatcherImageRepositoryUri")}
    assert outputs["EksClusterName"]["Value"] == "ref:Cluster"
    assert outputs["MatcherImageRepositoryUri"]["Value"] == (
        "getatt:MatcherImageRepository.RepositoryUri")


@pytest.mark.parametrize(("stage", "emptied_on_delete"), [("dev", True), ("prod", False)])
def test_the_image_repository_keeps_scanned_immutable_encrypted_recent_images(
        stage: str, emptied_on_delete: bool) -> None:
    repository = cluster(stage).props("MatcherImageRepository")

    assert repository["RepositoryName"] == f"exchange-{stage}-matcher"
    # A tag is a commit: a pushed tag can never be made to mean other code.
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["EncryptionConfiguration"] == {
        "EncryptionType": "KMS", "KmsKey": export(stage, "DataKeyArn")}
    # dev's destroy takes the images along; prod's repository is never emptied by it.
    assert repository["EmptyOnDelete"] is emptied_on_delete
    (rule,) = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rule["selection"]["tagStatus"] == "any"
    assert rule["selection"]["countType"] == "imageCountMoreThan"
    assert rule["selection"]["countNumber"] >= 10, "room to roll back"
    assert rule["action"] == {"type": "expire"}


# --- edge.yaml --------------------------------------------------------------------------

def edge(stage: str = "dev", **parameters: str) -> Rendered:
    return Rendered("edge.yaml", Stage=stage, RestApiId=REST_API_ID, **parameters)


def test_waf_runs_the_four_managed_groups_and_a_rate_limit_per_ip() -> None:
    rules = edge(RateLimitPerIp="500").props("WebAcl")["Rules"]

    managed = {r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in rules
               if "ManagedRuleGroupStatement" in r["Statement"]}
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                       "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesAmazonIpReputationList"}
    rate, = (r for r in rules if "RateBasedStatement" in r["Statement"])
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == "500"
    assert rate["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    assert len({r["Priority"] for r in rules}) == len(rules)
    assert all(r["VisibilityConfig"]["CloudWatchMetricsEnabled"] for r in rules)


def test_waf_answers_a_rate_limited_client_in_the_apis_error_format() -> None:
    acl = edge().props("WebAcl")

    key = acl["Rules"][0]["Action"]["Block"]["CustomResponse"]["CustomResponseBodyKey"]
    assert json.loads(acl["CustomResponseBodies"][key]["Content"])["code"] == -1003


def test_web_acl_guards_the_rest_apis_stage() -> None:
    association = edge(RestApiStageName="v1").props("WebAclAssociation")

    assert association == {
        "WebACLArn": "getatt:WebAcl.Arn",
        "ResourceArn": f"arn:aws:apigateway:{REGION}::/restapis/{REST_API_ID}/stages/v1"}


def test_waf_logs_go_to_a_waf_log_group_without_credentials() -> None:
    rendered = edge()

    logging = rendered.props("WafLogging")
    assert logging["LogDestinationConfigs"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws-waf-logs-exchange-dev"]
    assert rendered.props("WafLogGroup")["LogGroupName"] == "aws-waf-logs-exchange-dev"
    assert {f["SingleHeader"]["Name"] for f in logging["RedactedFields"]} == {
        "authorization", "x-mbx-apikey"}


def test_no_custom_domain_without_a_domain_name() -> None:
    rendered = edge()

    assert {"ApiDomain", "ApiBasePathMapping"}.isdisjoint(rendered.resources)
    assert set(rendered.outputs) == {"WebAclArn"}


def test_custom_domain_serves_the_stage_over_tls_1_2_with_the_given_certificate() -> None:
    certificate = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0a1b2c3d-0000-4000-8000-000000000000"
    rendered = edge(DomainName="api.example.com", CertificateArn=certificate)

    assert rendered.props("ApiDomain") == {
        "DomainName": "api.example.com", "RegionalCertificateArn": certificate,
        "EndpointConfiguration": {"Types": ["REGIONAL"]}, "SecurityPolicy": "TLS_1_2"}
    assert rendered.props("ApiBasePathMapping") == {
        "DomainName": "ref:ApiDomain", "RestApiId": REST_API_ID, "Stage": "api"}
    assert rendered.outputs["ApiDomainName"]["Value"] == "getatt:ApiDomain.RegionalDomainName"


# --- observability.yaml -----------------------------------------------------------------

def observability(stage: str = "dev", **parameters: str) -> Rendered:
    return Rendered("observability.yaml", Stage=stage, **parameters)


def alarm_on(rendered: Rendered, metric: str) -> dict[str, Any]:
    alarm, = (a for a in rendered.of_type("AWS::CloudWatch::Alarm").values()
              if a["MetricName"] == metric)
    return alarm


def dimensions(alarm: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_matcher_down_pages_after_three_minutes_without_a_running_pod_or_data() -> None:
    alarm = alarm_on(observability(), "namespace_number_of_running_pods")

    assert alarm["Namespace"] == "ContainerInsights"
    assert dimensions(alarm) == {"ClusterName": export("dev", "EksClusterName"),
                                 "Namespace": "exchange"}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 180
    assert alarm["TreatMissingData"] == "breaching"


def test_consumer_lag_pages_on_orders_waiting_and_on_a_minute_of_delay() -> None:
    rendered = observability(ConsumerLagThreshold="5000")
    group = {"Cluster Name": export("dev", "KafkaClusterName"), "Consumer Group": "matcher",
             "Topic": "orders"}

    offsets = alarm_on(rendered, "SumOffsetLag")
    assert (offsets["Namespace"], dimensions(offsets)) == ("AWS/Kafka", group)
    assert (offsets["ComparisonOperator"], offsets["Threshold"]) == (
        "GreaterThanThreshold", "5000")
    assert offsets["Period"] * offsets["EvaluationPeriods"] == 300
    delay = alarm_on(rendered, "EstimatedMaxTimeLag")
    assert dimensions(delay) == group
    assert (delay["ComparisonOperator"], delay["Threshold"]) == ("GreaterThanThreshold", 60)


def test_api_errors_and_replica_lag_alarm_on_the_stages_api_and_database() -> None:
    rendered = observability(ApiName="exchange-api-dev")

    assert dimensions(alarm_on(rendered, "5XXError")) == {"ApiName": "exchange-api-dev"}
    assert dimensions(alarm_on(rendered, "AuroraReplicaLag")) == {
        "DBClusterIdentifier": "exchange-dev-db", "Role": "READER"}


def test_every_alarm_pages_and_clears_through_the_encrypted_topic() -> None:
    rendered = observability()

    alarms = rendered.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) == 5
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == ["ref:AlarmTopic"]
    assert rendered.props("AlarmTopic")["KmsMasterKeyId"] == "ref:AlarmTopicKey"
    key_users = {s["Principal"].get("Service") for s in
                 rendered.props("AlarmTopicKey")["KeyPolicy"]["Statement"]}
    assert "cloudwatch.amazonaws.com" in key_users
    assert rendered.outputs["AlarmTopicArn"]["Value"] == "ref:AlarmTopic"


def test_alarm_email_is_subscribed_only_when_given() -> None:
    assert "AlarmEmailSubscription" not in observability().resources
    subscription = observability(AlarmEmail="oncall@example.com").props(
        "AlarmEmailSubscription")
    assert subscription == {"TopicArn": "ref:AlarmTopic", "Protocol": "email",
                            "Endpoint": "oncall@example.com"}


def test_dashboard_shows_the_matcher_lag_api_and_database() -> None:
    rendered = observability()

    body = json.loads(rendered.props("Dashboard")["DashboardBody"])
    metrics = {m[1] for w in body["widgets"] for m in w["properties"]["metrics"]}
    assert {"namespace_number_of_running_pods", "SumOffsetLag", "EstimatedMaxTimeLag",
            "5XXError", "AuroraReplicaLag"} <= metrics
    assert {w["properties"]["region"] for w in body["widgets"]} == {REGION}
    assert rendered.outputs["DashboardUrl"]["Value"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        "#dashboards:name=exchange-dev")


@pytest.mark.parametrize(("stage", "days"), [("dev", 30), ("prod", 365)])
def test_every_log_group_keeps_its_logs_for_the_stages_retention_encrypted(
        stage: str, days: int) -> None:
    groups = {g["LogGroupName"]: g for r in (cluster(stage), edge(stage), observability(stage))
              for g in r.of_type("AWS::Logs::LogGroup").values()}

    assert set(groups) == {f"/aws/eks/exchange-{stage}/cluster",
                           f"aws-waf-logs-exchange-{stage}", f"/exchange/{stage}/matcher",
                           f"/exchange/{stage}/migrations"}
    for group in groups.values():
        assert group["RetentionInDays"] == days
        assert group["KmsKeyId"] == export(stage, "DataKeyArn")
