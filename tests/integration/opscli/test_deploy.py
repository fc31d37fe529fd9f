"""`exchange deploy` and `exchange destroy`, the real command line against moto's server
on loopback, with the real templates and the real `chalice package` output.

How each stack is deployed here. Every stack goes through the command's own path:
cfn-lint, change sets, the deploy bucket for the api stack's code and template, events,
outputs. moto's CloudFormation falls short in four ways, which this module fills inside
the server it starts (the command itself is never told it runs against moto):

- Change sets: moto executes them but neither resolves `Fn::ImportValue` nor publishes
  the stack's outputs and exports (it does so only for CreateStack). Filled: imports
  resolve against the account's exports, and outputs and exports (without those whose
  `Condition` is false) are published after execution.
- Template language: moto has no `Fn::Cidr`, and its YAML reader drops a short-form tag
  on a mapping (`!ImportValue` over `Fn::Sub: ...`). Filled with AWS's semantics.
- Deletion: moto's route tables outlive their stack (no delete in its model), so the
  network stack's VPC could never be deleted. Filled: the route table is disassociated
  and deleted.
- Resource types: `MOTO_CANNOT_CREATE` lists every type of our templates moto's
  CloudFormation cannot create, with the reason. Each becomes a stand-in that creates
  nothing and answers `Ref`/`Fn::GetAtt` with values shaped like AWS's (ARNs,
  endpoints, ports); the test checks those resources in the template instead (declared
  with the properties that carry their claims), and MSK's GetBootstrapBrokers, missing
  from moto, answers for the stand-in cluster.

So: network (VPC, subnets, NAT, endpoints, security groups, flow logs), the KMS keys, the
IAM roles, log groups and S3 buckets are created by moto for real, and the manifests' KMS
key and service-account roles are checked against moto's KMS and IAM; the Aurora, Redis,
MSK, EKS, secrets, WAF, CloudFront policies and the SAM-transformed API are stand-ins
whose outputs are followed into the manifests unchanged. The CloudFront distribution's
stand-in registers a distribution in moto's CloudFront (origin and default behaviour
only), so the web app's invalidation reaches a real one; the web app shipped is a small
build made here (`EXCHANGE_WEB_DIST`), not web/dist.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
import yaml
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudfront.models import cloudfront_backends
from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends
from moto.ec2.models.route_tables import RouteTable
from moto.kafka.responses import KafkaResponse
from moto.server import ThreadedMotoServer

from opscli.deploy.stages import API_STACK, STACKS, TEMPLATES_DIR, WEB_STACK, parse_template
from opscli.observability.rules import namespace_data

EXCHANGE = str(Path(sys.executable).parent / "exchange")
REGION = "us-east-1"
STAGE_STACKS = [f"exchange-dev-{name}" for name, _ in STACKS]

SAM = "the SAM transform, which moto does not run"
MOTO_CANNOT_CREATE: dict[str, tuple[str, tuple[str, ...]]] = {
    # type: (why moto cannot create it, the properties the template must declare)
    "AWS::SecretsManager::Secret": ("no CloudFormation model in moto",
                                    ("KmsKeyId", "GenerateSecretString")),
    "AWS::RDS::DBCluster": ("no CloudFormation model in moto", (
        "StorageEncrypted", "KmsKeyId", "ManageMasterUserPassword", "BackupRetentionPeriod",
        "DeletionProtection", "DBClusterParameterGroupName")),
    "AWS::RDS::DBInstance": ("moto's model makes standalone instances: an Aurora member fails",
                             ("DBClusterIdentifier", "AvailabilityZone", "PubliclyAccessible")),
    "AWS::RDS::DBClusterParameterGroup": ("no CloudFormation model in moto",
                                          ("Family", "Parameters")),
    "AWS::RDS::DBProxy": ("no CloudFormation model in moto", ("RequireTLS", "Auth", "RoleArn")),
    "AWS::RDS::DBProxyEndpoint": ("no CloudFormation model in moto", ("TargetRole",)),
    "AWS::RDS::DBProxyTargetGroup": ("no CloudFormation model in moto",
                                     ("DBClusterIdentifiers",)),
    "AWS::ApplicationAutoScaling::ScalableTarget": ("no CloudFormation model in moto",
                                                    ("MinCapacity", "MaxCapacity")),
    "AWS::ApplicationAutoScaling::ScalingPolicy": (
        "no CloudFormation model in moto", ("TargetTrackingScalingPolicyConfiguration",)),
    "AWS::ElastiCache::ReplicationGroup": ("no CloudFormation model in moto", (
        "AutomaticFailoverEnabled", "MultiAZEnabled", "TransitEncryptionEnabled",
        "AtRestEncryptionEnabled", "AuthToken", "KmsKeyId")),
    "AWS::ElastiCache::SubnetGroup": ("no CloudFormation model in moto", ("SubnetIds",)),
    "AWS::MSK::Cluster": ("no CloudFormation model in moto", (
        "ClientAuthentication", "EncryptionInfo", "NumberOfBrokerNodes", "ConfigurationInfo")),
    "AWS::MSK::ServerlessCluster": ("no CloudFormation model in moto",
                                    ("ClientAuthentication", "VpcConfigs")),
    "AWS::MSK::Configuration": ("no CloudFormation model in moto", ("ServerProperties",)),
    "AWS::EKS::Cluster": ("no CloudFormation model in moto",
                          ("EncryptionConfig", "ResourcesVpcConfig", "Logging", "RoleArn")),
    "AWS::EKS::Nodegroup": ("no CloudFormation model in moto", ("ScalingConfig", "Subnets")),
    "AWS::EKS::Addon": ("no CloudFormation model in moto", ("AddonName", "ClusterName")),
    "AWS::IAM::OIDCProvider": ("no CloudFormation model in moto", ("Url", "ClientIdList")),
    # API Gateway's own answers (unknown method, throttling) in the API's error format.
    "AWS::ApiGateway::GatewayResponse": ("no CloudFormation model in moto",
                                         ("RestApiId", "ResponseType", "ResponseTemplates")),
    "AWS::WAFv2::WebACL": ("no CloudFormation model in moto", ("Rules", "DefaultAction")),
    "AWS::WAFv2::WebACLAssociation": ("no CloudFormation model in moto",
                                      ("ResourceArn", "WebACLArn")),
    "AWS::WAFv2::LoggingConfiguration": ("no CloudFormation model in moto",
                                         ("LogDestinationConfigs", "RedactedFields")),
    "AWS::ApiGateway::Account": ("no CloudFormation model in moto", ("CloudWatchRoleArn",)),
    "AWS::ApiGateway::DomainName": ("no CloudFormation model in moto",
                                    ("RegionalCertificateArn", "SecurityPolicy")),
    "AWS::ApiGateway::BasePathMapping": ("no CloudFormation model in moto",
                                         ("RestApiId", "Stage")),
    "AWS::ApiGatewayV2::Api": ("no CloudFormation model in moto", ("ProtocolType",)),
    "AWS::ApiGatewayV2::Integration": ("no CloudFormation model in moto", ("IntegrationUri",)),
    "AWS::ApiGatewayV2::Route": ("no CloudFormation model in moto", ("RouteKey", "Target")),
    "AWS::ApiGatewayV2::Deployment": ("no CloudFormation model in moto", ("ApiId",)),
    "AWS::ApiGatewayV2::Stage": ("no CloudFormation model in moto",
                                 ("AccessLogSettings", "DefaultRouteSettings")),
    "AWS::EC2::SecurityGroupEgress": ("no CloudFormation model in moto", (
        "GroupId", "IpProtocol", "FromPort", "ToPort", "DestinationSecurityGroupId")),
    "AWS::CloudWatch::Alarm": ("no CloudFormation model in moto", ("AlarmActions", "Threshold")),
    "AWS::SNS::Subscription": ("no CloudFormation model in moto", ("Protocol", "TopicArn")),
    "AWS::SNS::TopicPolicy": ("no CloudFormation model in moto", ("Topics", "PolicyDocument")),
    "AWS::S3::BucketPolicy": ("no CloudFormation model in moto", ("Bucket", "PolicyDocument")),
    "AWS::APS::Workspace": ("no CloudFormation model in moto",
                            ("AlertManagerDefinition", "KmsKeyArn")),
    "AWS::APS::RuleGroupsNamespace": ("no CloudFormation model in moto", ("Workspace", "Data")),
    "AWS::APS::Scraper": ("no CloudFormation model in moto",
                          ("ScrapeConfiguration", "Source", "Destination")),
    "AWS::EKS::AccessEntry": ("no CloudFormation model in moto",
                              ("ClusterName", "PrincipalArn", "Username")),
    "AWS::Grafana::Workspace": ("no CloudFormation model in moto",
                                ("AuthenticationProviders", "DataSources", "RoleArn")),
    "AWS::OpenSearchService::Domain": ("no CloudFormation model in moto", (
        "EncryptionAtRestOptions", "NodeToNodeEncryptionOptions", "DomainEndpointOptions",
        "VPCOptions")),
    "AWS::KinesisFirehose::DeliveryStream": ("no CloudFormation model in moto", (
        "AmazonopensearchserviceDestinationConfiguration",
        "DeliveryStreamEncryptionConfigurationInput")),
    "AWS::Logs::SubscriptionFilter": ("no CloudFormation model in moto",
                                      ("LogGroupName", "DestinationArn", "RoleArn")),
    "AWS::Serverless::Api": (SAM, ("DefinitionBody", "MethodSettings", "AccessLogSetting")),
    "AWS::Serverless::Function": (SAM, ("CodeUri", "Handler", "Role")),
    "AWS::Lambda::Permission": (f"it names a function made by {SAM}",
                                ("FunctionName", "Principal", "SourceArn")),
    "AWS::CloudFront::Distribution": ("no CloudFormation model in moto", ("DistributionConfig",)),
    "AWS::CloudFront::OriginAccessControl": ("no CloudFormation model in moto",
                                             ("OriginAccessControlConfig",)),
    "AWS::CloudFront::ResponseHeadersPolicy": ("no CloudFormation model in moto",
                                               ("ResponseHeadersPolicyConfig",)),
    "AWS::CloudFront::CachePolicy": ("no CloudFormation model in moto", ("CachePolicyConfig",)),
    "AWS::CloudFront::Function": ("no CloudFormation model in moto",
                                  ("FunctionCode", "FunctionConfig")),
}
# The fake build shipped by the first deploy; the second ships it without STALE_ASSET.
BUILD = {"index.html": b'<!doctype html><script type="module" src="/assets/index-1a2b3c.js">'
                       b"</script>",
         "assets/index-1a2b3c.js": b"console.log('exchange');",
         "assets/index-4d5e6f.css": b"body{margin:0}",
         "favicon.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
         "config.json": b'{"apiBaseUrl": "http://127.0.0.1:1"}'}
STALE_ASSET = "assets/chunk-0f0f0f.js"


class StandIn:
    """A resource moto's CloudFormation cannot create: nothing is provisioned; `Ref` and
    `Fn::GetAtt` answer values shaped like AWS's, derived from the logical id."""

    resource_type = ""

    def __init__(self, logical_id: str, properties: dict[str, Any], region: str,
                 account: str) -> None:
        self.logical_resource_id = logical_id
        token = hashlib.sha256(f"{self.resource_type}/{logical_id}".encode()).hexdigest()
        self.token = token[:10]
        name = str(next((properties[key] for key in ("Name", "ClusterName", "FunctionName")
                         if isinstance(properties.get(key), str)),
                        f"{logical_id.lower()}-{token[:6]}"))
        self.attributes = {"Arn": f"arn:aws:{self.resource_type.split('::')[1].lower()}:"
                                  f"{region}:{account}:{logical_id.lower()}/{name}",
                           **self.shapes(name, token, region, account)}
        self.physical_resource_id = self.attributes.get("Ref", self.token)

    def shapes(self, name: str, token: str, region: str, account: str) -> dict[str, str]:
        host = f"{name}.{token[:12]}.{region}"
        kafka = f"arn:aws:kafka:{region}:{account}:cluster/{name}/{token[:8]}-{token[8:12]}-s1"
        return {
            "AWS::SecretsManager::Secret": {
                "Ref": f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{token[:6]}"},
            "AWS::MSK::Cluster": {"Ref": kafka, "Arn": kafka},
            "AWS::MSK::ServerlessCluster": {"Ref": kafka, "Arn": kafka},
            "AWS::RDS::DBCluster": {
                "Ref": name, "Endpoint.Address": f"{name}.cluster-{host}.rds.amazonaws.com",
                "ReadEndpoint.Address": f"{name}.cluster-ro-{host}.rds.amazonaws.com",
                "Endpoint.Port": "5432",
                "DBClusterArn": f"arn:aws:rds:{region}:{account}:cluster:{name}",
                "MasterUserSecret.SecretArn":
                    f"arn:aws:secretsmanager:{region}:{account}:secret:rds!cluster-{token}"},
            "AWS::RDS::DBProxy": {"Endpoint": f"{name}.proxy-{host}.rds.amazonaws.com"},
            "AWS::RDS::DBProxyEndpoint": {
                "Endpoint": f"{name}.endpoint.proxy-{host}.rds.amazonaws.com"},
            "AWS::ElastiCache::ReplicationGroup": {
                "PrimaryEndPoint.Address": f"master.{host}.cache.amazonaws.com",
                "ReaderEndPoint.Address": f"replica.{host}.cache.amazonaws.com",
                "PrimaryEndPoint.Port": "6379"},
            "AWS::EKS::Cluster": {
                "Ref": name, "Endpoint": f"https://{token.upper()}.gr7.{region}.eks.amazonaws.com",
                "OpenIdConnectIssuerUrl":
                    f"https://oidc.eks.{region}.amazonaws.com/id/{token.upper()}"},
            "AWS::Serverless::Function": {
                "Ref": name, "Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"},
            "AWS::ApiGateway::DomainName": {
                "RegionalDomainName": f"d-{token[:10]}.execute-api.{region}.amazonaws.com"},
        }.get(self.resource_type, {})

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str,
                                        **kwargs: Any) -> StandIn:
        return cls(resource_name, cloudformation_json.get("Properties", {}), region_name,
                   account_id)

    def delete(self, account_id: str, region_name: str) -> None:
        """Nothing was provisioned."""

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute: str) -> str:
        return self.attributes.get(attribute, self.token)


class DistributionStandIn(StandIn):
    """A distribution moto's CloudFront knows (so invalidations reach it), made from the
    template's default origin and behaviour; `Ref` is its id, `DomainName` its domain."""

    def __init__(self, logical_id: str, properties: dict[str, Any], region: str,
                 account: str) -> None:
        super().__init__(logical_id, properties, region, account)
        config = properties["DistributionConfig"]
        default = config["DefaultCacheBehavior"]
        origin = next(o for o in config["Origins"] if o["Id"] == default["TargetOriginId"])
        self.backend = cloudfront_backends[account]["aws"]
        distribution, _, _ = self.backend.create_distribution({
            "CallerReference": f"{logical_id}-{self.token}", "Comment": config["Comment"],
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{
                "Id": origin["Id"], "DomainName": origin["DomainName"],
                "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
            "DefaultCacheBehavior": {"TargetOriginId": origin["Id"],
                                     "ViewerProtocolPolicy": default["ViewerProtocolPolicy"]},
        }, [])
        self.attributes.update(Ref=distribution.distribution_id,
                               DomainName=distribution.domain_name)
        self.physical_resource_id = distribution.distribution_id

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.delete_distribution(self.physical_resource_id, if_match=True)


def execute_change_set_with_exports(original: Any) -> Any:
    def execute(backend: Any, change_set_name: str, stack_name: str | None = None) -> None:
        stack = backend.stacks[backend.describe_change_set(change_set_name).stack_id]
        stack.cross_stack_resources = stack.resource_map.cross_stack_resources = backend.exports
        for export in stack.exports:
            backend.exports.pop(export.name, None)
        original(backend, change_set_name, stack_name)
        stack._parse_template()
        shown = stack.resource_map.lazy_condition_map
        outputs = stack.template_dict.get("Outputs") or {}
        stack.template_dict["Outputs"] = {key: value for key, value in outputs.items()
                                          if "Condition" not in value
                                          or shown[value["Condition"]]}
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            backend.exports[export.name] = export
    return execute


def clean_json_with_cidr(original: Any) -> Any:
    def clean(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::Cidr" in resource_json:
            block, count, bits = (clean(v, resources_map) for v in resource_json["Fn::Cidr"])
            network = ipaddress.ip_network(block)
            subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
            return [str(next(subnets)) for _ in range(int(count))]
        return original(resource_json, resources_map)
    return clean


def yaml_tag_constructor(loader: Any, tag: str, node: Any) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag == "!GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if tag == "!Ref" else f"Fn::{tag[1:]}": value}


def delete_route_table(table: Any, account_id: str, region_name: str) -> None:
    backend = ec2_backends[account_id][region_name]
    for association_id in list(table.associations):
        backend.disassociate_route_table(association_id)
    backend.delete_route_table(table.id)


def get_bootstrap_brokers(response: Any) -> str:
    arn = unquote(response.path.split("/v1/clusters/")[1].removesuffix("/bootstrap-brokers"))
    name = arn.rsplit("/", 2)[-2]
    brokers = ",".join(f"b-{n}.{name}.c1.kafka.{REGION}.amazonaws.com:9098" for n in (1, 2, 3))
    return json.dumps({"bootstrapBrokerStringSaslIam": brokers})


def fill_moto_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    for resource_type in MOTO_CANNOT_CREATE:
        base = (DistributionStandIn if resource_type == "AWS::CloudFront::Distribution"
                else StandIn)
        type(f"StandIn{resource_type.replace(':', '')}", (base, CloudFormationModel), {
            "__module__": __name__, "resource_type": resource_type,
            "cloudformation_type": staticmethod(lambda t=resource_type: t)})
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    backend = cfn_models.CloudFormationBackend
    monkeypatch.setattr(backend, "execute_change_set",
                        execute_change_set_with_exports(backend.execute_change_set))
    monkeypatch.setattr(parsing, "clean_json", clean_json_with_cidr(parsing.clean_json))
    monkeypatch.setattr(cfn_models, "yaml_tag_constructor", yaml_tag_constructor)
    monkeypatch.setattr(cfn_responses, "yaml_tag_constructor", yaml_tag_constructor)
    monkeypatch.setattr(RouteTable, "delete", delete_route_table, raising=False)
    monkeypatch.setattr(KafkaResponse, "get_bootstrap_brokers", get_bootstrap_brokers,
                        raising=False)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fill_moto_gaps(monkeypatch)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="module")
def aws_env(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every AWS call of the command and its tools goes to moto, with fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    build = tmp_path_factory.mktemp("web-dist")
    for key, body in {**BUILD, STALE_ASSET: b"console.log('old');"}.items():
        (build / key).parent.mkdir(parents=True, exist_ok=True)
        (build / key).write_bytes(body)
    return {**env, "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "EXCHANGE_DEPLOY_DIR": str(tmp_path_factory.mktemp("deploy")),
            "EXCHANGE_WEB_DIST": str(build)}


def exchange(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([EXCHANGE, *args], env=env, capture_output=True, text=True,
                            timeout=600, check=False, stdin=subprocess.DEVNULL)
    print(result.stdout, result.stderr)
    return result


def client(env: dict[str, str], service: str) -> Any:
    return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def reset(env: dict[str, str]) -> None:
    url = f"{env['AWS_ENDPOINT_URL']}/moto-api/reset"  # moto's own, on loopback
    request = urllib.request.Request(url, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass


def stacks(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    found = client(env, "cloudformation").describe_stacks()["Stacks"]
    return {s["StackName"]: s for s in found if s["StackStatus"] != "DELETE_COMPLETE"}


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture(scope="module")
def first_deploy(aws_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    reset(aws_env)
    return exchange(aws_env, "deploy", "--stage", "dev")


def test_deploy_creates_every_stack_and_their_outputs_reach_the_manifests(
        aws_env: dict[str, str], first_deploy: subprocess.CompletedProcess[str]) -> None:
    assert first_deploy.returncode == 0, first_deploy.stderr
    deployed = stacks(aws_env)
    assert {name: deployed[name]["StackStatus"] for name in STAGE_STACKS} == dict.fromkeys(
        STAGE_STACKS, "CREATE_COMPLETE")
    for number, (name, _) in enumerate(STACKS, start=1):
        assert f"deploy: [{number}/{len(STACKS)}] {name}: created" in first_deploy.stdout
    manifests = Path(aws_env["EXCHANGE_DEPLOY_DIR"]) / "dev" / "manifests" / "all.yaml"
    documents = list(yaml.safe_load_all(manifests.read_text()))
    config = {k: v for d in documents if d["kind"] == "ConfigMap" for k, v in d["data"].items()}
    keys, data = outputs(deployed["exchange-dev-keys"]), outputs(deployed["exchange-dev-data"])
    cluster = outputs(deployed["exchange-dev-cluster"])
    assert config["DATABASE_HOST"] == data["DatabaseWriterHost"]
    assert config["DATABASE_READ_HOST"] == data["DatabaseReaderHost"]
    assert config["DATABASE_SECRET_ARN"] == keys["MatcherDbSecretArn"]
    assert config["KAFKA_BOOTSTRAP_SERVERS"].count(":9098") == 3
    # Made by moto for real: the KMS key and the service accounts' IAM roles.
    assert config["KMS_KEY_ID"] == keys["SecretsKeyArn"]
    kms_keys = client(aws_env, "kms").list_keys()["Keys"]
    assert keys["SecretsKeyArn"] in {key["KeyArn"] for key in kms_keys}
    roles = {d["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
             for d in documents if d["kind"] == "ServiceAccount"}
    assert roles == {cluster["MatcherRoleArn"], cluster["MigrationsRoleArn"]}
    for arn in roles:
        assert client(aws_env, "iam").get_role(RoleName=arn.rsplit("/", 1)[1])["Role"][
            "Arn"] == arn
    assert "000000000000" not in manifests.read_text()
    # The topics' counts, from streaming.yaml's metadata (dev's).
    topics = parse_template((TEMPLATES_DIR / "streaming.yaml").read_text())["Metadata"][
        "Exchange::Topics"]["dev"]
    assert config["ORDERS_PARTITIONS"] == str(topics["orders"])
    api = outputs(deployed["exchange-dev-api"])
    assert f"API            {api['EndpointURL']}" in first_deploy.stdout
    assert f"WebSocket      {api['WebsocketConnectEndpointURL']}" in first_deploy.stdout
    assert f"KEDA role      {cluster['KedaOperatorRoleArn']}" in first_deploy.stdout


def test_the_matcher_runs_this_commit_from_the_stacks_image_repository(
        aws_env: dict[str, str], first_deploy: subprocess.CompletedProcess[str]) -> None:
    assert first_deploy.returncode == 0, first_deploy.stderr
    uri = outputs(stacks(aws_env)["exchange-dev-cluster"])["MatcherImageRepositoryUri"]
    (repository,) = client(aws_env, "ecr").describe_repositories()["repositories"]
    assert repository["repositoryUri"] == uri
    assert repository["imageTagMutability"] == "IMMUTABLE"
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    manifests = Path(aws_env["EXCHANGE_DEPLOY_DIR"]) / "dev" / "manifests" / "all.yaml"
    images = {container["image"] for d in yaml.safe_load_all(manifests.read_text())
              if d["kind"] in ("StatefulSet", "Job")
              for container in d["spec"]["template"]["spec"]["containers"]}
    assert images == {f"{uri}:{sha}"}


def test_the_workspace_gets_the_repositorys_prometheus_rules(
        aws_env: dict[str, str], first_deploy: subprocess.CompletedProcess[str]) -> None:
    body = client(aws_env, "cloudformation").get_template(
        StackName="exchange-dev-observability")["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)

    assert template["Resources"]["PrometheusRules"]["Properties"]["Data"] == namespace_data()


def web_objects(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The web bucket's objects by key, each as GetObject answers it."""
    bucket = outputs(stacks(env)[f"exchange-dev-{WEB_STACK}"])["WebBucketName"]
    s3 = client(env, "s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key) for key in keys}


def test_the_web_app_lands_in_its_bucket_with_its_types_cache_rules_and_config(
        aws_env: dict[str, str], first_deploy: subprocess.CompletedProcess[str]) -> None:
    assert first_deploy.returncode == 0, first_deploy.stderr
    deployed = stacks(aws_env)
    web, api = outputs(deployed["exchange-dev-web"]), outputs(deployed["exchange-dev-api"])

    objects = web_objects(aws_env)

    year = "public, max-age=31536000, immutable"
    assert {key: (o["ContentType"], o["CacheControl"]) for key, o in objects.items()} == {
        "index.html": ("text/html; charset=utf-8", "no-cache"),
        "config.json": ("application/json; charset=utf-8", "no-cache"),
        "favicon.svg": ("image/svg+xml; charset=utf-8", "no-cache"),
        "assets/index-1a2b3c.js": ("text/javascript; charset=utf-8", year),
        "assets/index-4d5e6f.css": ("text/css; charset=utf-8", year),
        STALE_ASSET: ("text/javascript; charset=utf-8", year)}
    assert objects["index.html"]["Body"].read() == BUILD["index.html"]
    # The build's own config.json (a local one) is replaced by the stage's.
    assert json.loads(objects["config.json"]["Body"].read()) == {
        "wsBaseUrl": api["WebsocketConnectEndpointURL"], "environment": "dev"}
    cloudfront = client(aws_env, "cloudfront")
    (invalidation,) = cloudfront.list_invalidations(
        DistributionId=web["WebDistributionId"])["InvalidationList"]["Items"]
    paths = cloudfront.get_invalidation(DistributionId=web["WebDistributionId"],
                                        Id=invalidation["Id"])["Invalidation"][
        "InvalidationBatch"]["Paths"]["Items"]
    assert sorted(paths) == ["/", "/config.json", "/index.html"]
    assert f"Web app        {web['WebUrl']}" in first_deploy.stdout
    assert re.fullmatch(r"https://[a-z0-9]+\.cloudfront\.net/", web["WebUrl"])


def test_a_second_deploy_changes_no_stack_and_removes_what_the_build_dropped(
        aws_env: dict[str, str], first_deploy: subprocess.CompletedProcess[str]) -> None:
    before = {name: s.get("LastUpdatedTime") for name, s in stacks(aws_env).items()}
    (Path(aws_env["EXCHANGE_WEB_DIST"]) / STALE_ASSET).unlink()

    again = exchange(aws_env, "deploy", "--stage", "dev")

    assert again.returncode == 0, again.stderr
    for number, (name, _) in enumerate(STACKS, start=1):
        assert f"deploy: [{number}/{len(STACKS)}] {name}: unchanged" in again.stdout
    assert {name: s.get("LastUpdatedTime") for name, s in stacks(aws_env).items()} == before
    assert set(web_objects(aws_env)) == set(BUILD)
    assert "1 no longer in the build deleted" in again.stdout


def test_destroy_dev_leaves_no_stack_and_no_bucket(
        aws_env: dict[str, str], first_deploy: subprocess.CompletedProcess[str]) -> None:
    result = exchange(aws_env, "destroy", "--stage", "dev", "--yes")

    assert result.returncode == 0, result.stderr
    assert not set(stacks(aws_env)) & set(STAGE_STACKS)
    assert client(aws_env, "s3").list_buckets()["Buckets"] == []


def test_a_dry_run_on_a_fresh_stage_creates_nothing(aws_env: dict[str, str]) -> None:
    reset(aws_env)

    result = exchange(aws_env, "deploy", "--stage", "dev", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "Add     AWS::EC2::VPC" in result.stdout  # the network's change set, shown
    assert ("web: would upload index.html to the web stack's bucket (not deployed yet) "
            "(text/html; charset=utf-8; Cache-Control no-cache;") in result.stdout
    assert stacks(aws_env) == {}
    assert client(aws_env, "s3").list_buckets()["Buckets"] == []


def test_destroy_refuses_prod_and_says_why(aws_env: dict[str, str]) -> None:
    result = exchange(aws_env, "destroy", "--stage", "prod", "--yes")

    assert result.returncode == 1
    assert "refuses prod" in result.stderr
    assert "deletion protection" in result.stderr


def test_without_credentials_deploy_says_how_to_provide_them(
        aws_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {k: v for k, v in aws_env.items() if k not in ("AWS_ACCESS_KEY_ID",
                                                           "AWS_SECRET_ACCESS_KEY")}
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty))

    result = exchange(env, "deploy", "--stage", "dev")

    assert result.returncode == 1
    assert "no AWS credentials found" in result.stderr
    assert "AWS_PROFILE" in result.stderr
    assert stacks(aws_env) == {}


def test_what_moto_cannot_create_is_declared_in_the_templates_with_its_properties(
        aws_env: dict[str, str]) -> None:
    """moto's gaps, printed; each resource of those types is checked in its template."""
    packaged = Path(aws_env["EXCHANGE_DEPLOY_DIR"]) / "dev" / "api"
    if not packaged.exists():
        exchange(aws_env, "deploy", "--stage", "dev", "--dry-run")
    templates = {name: TEMPLATES_DIR / file for name, file in STACKS if name != API_STACK}
    templates[API_STACK] = next(packaged.glob("sam.*"))
    parsing.get_model_map.cache_clear()
    supported = {t for t in parsing.get_model_map() if t not in MOTO_CANNOT_CREATE}
    declared: dict[str, list[str]] = {}
    for stack, path in templates.items():
        for logical_id, resource in parse_template(path.read_text())["Resources"].items():
            if resource["Type"] not in supported:
                declared.setdefault(resource["Type"], []).append(f"{stack}.{logical_id}")
                properties = MOTO_CANNOT_CREATE[resource["Type"]][1]
                missing = [p for p in properties if p not in resource.get("Properties", {})]
                assert not missing, f"{stack}.{logical_id} lacks {missing}"
    print("moto cannot create (checked in the templates instead):")
    for resource_type, where in sorted(declared.items()):
        print(f"  {resource_type}: {MOTO_CANNOT_CREATE[resource_type][0]}; {', '.join(where)}")
    assert set(declared) == set(MOTO_CANNOT_CREATE)
