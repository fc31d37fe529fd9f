"""The AWS side of observability (iac/cloudformation/observability.yaml): Managed
Prometheus with the repository's rules and a collector scraping the matcher, alerts paging
through the stage's topic, Managed Grafana over Prometheus and CloudWatch, every log group
shipped to OpenSearch.

Rendered as CloudFormation would create it (tests/unit/iac/test_cluster_edge_observability's
`Rendered`): the assertions are on what a stage gets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from opscli.deploy.stages import TEMPLATES_DIR, parse_template
from opscli.observability.rules import (
    RULES_DIR,
    RulesError,
    namespace_data,
    rule_groups,
    with_rules,
)
from tests.unit.iac.test_cluster_edge_observability import Rendered, export

ALERTS_RULES_JOB = "matcher"  # iac/observability/rules: MatcherDown reads up{job="matcher"}


def observability(stage: str = "dev", **parameters: str) -> Rendered:
    return Rendered("observability.yaml", Stage=stage, **parameters)


def statements(document: Any) -> list[dict[str, Any]]:
    body = json.loads(document) if isinstance(document, str) else document
    return list(body["Statement"])


def role_statements(rendered: Rendered, role: str) -> list[dict[str, Any]]:
    return [s for policy in rendered.props(role)["Policies"]
            for s in statements(policy["PolicyDocument"])]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- rules ------------------------------------------------------------------------------

def test_the_deploy_sends_every_group_of_the_rule_files_to_the_workspace() -> None:
    template = with_rules(parse_template((TEMPLATES_DIR / "observability.yaml").read_text()))

    namespace = template["Resources"]["PrometheusRules"]["Properties"]
    sent = yaml.safe_load(namespace["Data"])["groups"]
    on_disk = [group for path in sorted(RULES_DIR.glob("*.yml"))
               for group in yaml.safe_load(path.read_text())["groups"]]
    assert sent == on_disk
    assert {rule.get("alert") for group in sent for rule in group["rules"]} >= {"MatcherDown"}


def test_promtool_accepts_the_rules_as_the_workspace_gets_them(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: run scripts/install.sh (Debian's prometheus)")
    sent = tmp_path / "exchange.yml"
    sent.write_text(namespace_data())

    result = subprocess.run([promtool, "check", "rules", str(sent)], capture_output=True,
                            text=True, check=False, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_template_holds_no_copy_of_the_rules() -> None:
    data = observability().props("PrometheusRules")["Data"]

    assert yaml.safe_load(data) == {"groups": []}


def test_rule_groups_refuses_a_group_named_twice(tmp_path: Path) -> None:
    group = {"groups": [{"name": "same", "rules": [{"record": "a:b", "expr": "up"}]}]}
    for name in ("one.yml", "two.yml"):
        (tmp_path / name).write_text(yaml.safe_dump(group))

    with pytest.raises(RulesError, match="same"):
        rule_groups(tmp_path)


# --- alerts -----------------------------------------------------------------------------

def test_prometheus_alerts_page_through_the_stages_topic() -> None:
    rendered = observability()

    definition = yaml.safe_load(rendered.props("PrometheusWorkspace")["AlertManagerDefinition"])
    config = yaml.safe_load(definition["alertmanager_config"])
    receiver, = (r for r in config["receivers"] if r["name"] == config["route"]["receiver"])
    sns, = receiver["sns_configs"]
    assert sns["topic_arn"] == "ref:AlarmTopic"
    assert sns["sigv4"]["region"] == "eu-west-1"


def test_the_topic_and_its_key_admit_this_accounts_prometheus_workspace_only() -> None:
    rendered = observability()

    aps = [s for s in statements(rendered.props("AlarmTopicPolicy")["PolicyDocument"])
           if s["Principal"].get("Service") == "aps.amazonaws.com"]
    assert [s["Condition"] for s in aps] == [{
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnEquals": {"aws:SourceArn": "getatt:PrometheusWorkspace.Arn"}}]
    assert "sns:Publish" in aps[0]["Action"]
    key_users = {s["Principal"].get("Service") for s in
                 statements(rendered.props("AlarmTopicKey")["KeyPolicy"])}
    assert {"cloudwatch.amazonaws.com", "aps.amazonaws.com"} <= key_users


# --- the matcher's metrics --------------------------------------------------------------

def test_a_managed_collector_scrapes_the_matchers_pods_into_the_workspace() -> None:
    scraper = observability().props("MatcherScraper")

    config = yaml.safe_load(scraper["ScrapeConfiguration"]["ConfigurationBlob"]["Fn::Base64"])
    job, = config["scrape_configs"]
    assert job["job_name"] == ALERTS_RULES_JOB
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["exchange"]}}]
    keeps = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"]
             if r.get("action") == "keep"}
    assert keeps == {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "matcher",
                     "__meta_kubernetes_pod_container_port_name": "http"}
    assert scraper["Destination"]["AmpConfiguration"]["WorkspaceArn"] == (
        "getatt:PrometheusWorkspace.Arn")
    eks = scraper["Source"]["EksConfiguration"]
    assert eks["ClusterArn"] == ("arn:aws:eks:eu-west-1:111122223333:cluster/"
                                 + export("dev", "EksClusterName"))
    assert eks["SubnetIds"] == export("dev", "PrivateSubnetIds").split(",")


def test_only_the_collector_reaches_the_matchers_metrics_port() -> None:
    rendered = observability()

    ingress = rendered.props("MatcherMetricsFromScraper")
    assert ingress["GroupId"] == export("dev", "MatcherSecurityGroupId")
    assert ingress["SourceSecurityGroupId"] == "ref:ScraperSecurityGroup"
    assert (ingress["FromPort"], ingress["ToPort"]) == (29110, 29110)
    entry = rendered.props("ScraperAccessEntry")
    assert entry["Username"] == "aps-collector-user"
    assert entry["PrincipalArn"] == "getatt:MatcherScraper.RoleArn"


# --- Grafana ----------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["AWS_SSO", "SAML"])
def test_grafana_reads_prometheus_and_cloudwatch_with_its_own_role(provider: str) -> None:
    rendered = observability(GrafanaAuthentication=provider)

    workspace = rendered.props("GrafanaWorkspace")
    assert workspace["AuthenticationProviders"] == [provider]
    assert sorted(workspace["DataSources"]) == ["CLOUDWATCH", "PROMETHEUS"]
    assert (workspace["PermissionType"], workspace["RoleArn"]) == (
        "CUSTOMER_MANAGED", "getatt:GrafanaRole.Arn")
    trust, = statements(rendered.props("GrafanaRole")["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "grafana.amazonaws.com"}
    query, = (s for s in role_statements(rendered, "GrafanaRole")
              if "aps:QueryMetrics" in s["Action"])
    assert query["Resource"] == "getatt:PrometheusWorkspace.Arn"


def test_the_stack_says_where_the_dashboards_and_metrics_are() -> None:
    outputs = observability().outputs

    assert {"PrometheusWorkspaceId", "PrometheusEndpoint", "GrafanaWorkspaceId", "GrafanaUrl",
            "LogSearchEndpoint"} <= set(outputs)


# --- logs -------------------------------------------------------------------------------

def lambda_log_groups(stage: str) -> set[str]:
    """The functions' log groups the api stack declares (iac/cloudformation/api-merge.yaml)."""
    merge = parse_template((TEMPLATES_DIR / "api-merge.yaml").read_text())
    names = {str(resource["Properties"]["LogGroupName"]["Fn::Sub"])
             for resource in merge["Resources"].values()
             if resource.get("Type") == "AWS::Logs::LogGroup"}
    return {name.replace("${Stage}", stage) for name in names
            if name.startswith("/aws/lambda/")}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_functions_and_the_matchers_log_group_is_shipped_to_search(stage: str) -> None:
    rendered = observability(stage)

    filters = rendered.of_type("AWS::Logs::SubscriptionFilter").values()
    subscribed = {f["LogGroupName"] for f in filters}
    assert subscribed == lambda_log_groups(stage) | {f"/exchange/{stage}/matcher",
                                                     f"/exchange/{stage}/migrations"}
    for subscription in filters:
        assert subscription["DestinationArn"] == "getatt:LogDeliveryStream.Arn"
        assert subscription["RoleArn"] == "getatt:LogSubscriptionRole.Arn"
        assert subscription["FilterPattern"] == ""
    send, = role_statements(rendered, "LogSubscriptionRole")
    assert send["Resource"] == "getatt:LogDeliveryStream.Arn"


def test_firehose_unpacks_cloudwatchs_batches_into_the_encrypted_private_domain() -> None:
    rendered = observability()

    stream = rendered.props("LogDeliveryStream")
    destination = stream["AmazonopensearchserviceDestinationConfiguration"]
    assert destination["DomainARN"] == "getatt:LogSearchDomain.Arn"
    processors = [p["Type"] for p in destination["ProcessingConfiguration"]["Processors"]]
    assert processors == ["Decompression", "CloudWatchLogProcessing"]
    assert destination["S3BackupMode"] == "FailedDocumentsOnly"
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == (
        "CUSTOMER_MANAGED_CMK")
    domain = rendered.props("LogSearchDomain")
    assert domain["EncryptionAtRestOptions"] == {"Enabled": True, "KmsKeyId": "ref:TelemetryKey"}
    assert domain["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert domain["VPCOptions"]["SecurityGroupIds"] == ["ref:LogSearchSecurityGroup"]
    # IAM decides who indexes: with fine-grained access control on, Firehose's role would
    # be refused until mapped inside OpenSearch.
    assert "AdvancedSecurityOptions" not in domain
    access, = domain["AccessPolicies"]["Statement"]
    assert access["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    index = [s for s in role_statements(rendered, "LogDeliveryRole")
             if "es:ESHttpPost" in s["Action"]]
    assert index[0]["Resource"] == ["getatt:LogSearchDomain.Arn",
                                    "getatt:LogSearchDomain.Arn/*"]


@pytest.mark.parametrize(("stage", "zones", "masters"), [("dev", 1, False), ("prod", 3, True)])
def test_prods_log_search_survives_a_zone(stage: str, zones: int, masters: bool) -> None:
    domain = observability(stage).props("LogSearchDomain")

    assert len(domain["VPCOptions"]["SubnetIds"]) == zones
    assert domain["ClusterConfig"]["InstanceCount"] == zones
    assert domain["ClusterConfig"]["DedicatedMasterEnabled"] is masters
