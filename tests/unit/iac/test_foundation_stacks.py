"""The foundation stacks (network, keys, data, cache, streaming) do what issue 11 promises.

Each template is parsed as CloudFormation reads it and evaluated for a stage: `Ref` to
a parameter, `Fn::If`, `Fn::FindInMap` and resource `Condition`s are resolved, so the
assertions are about what dev and prod would actually create.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

CFN_DIR = Path(__file__).resolve().parents[3] / "iac" / "cloudformation"
STAGES = ("dev", "prod")


@cache
def load(stack: str) -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(CFN_DIR / f"{stack}.yaml"))
    return template


class Stack:
    """A template evaluated with its parameters' values (defaults unless overridden)."""

    def __init__(self, stack: str, stage: str, **overrides: str) -> None:
        self.template = load(stack)
        self.params = {name: spec.get("Default")
                       for name, spec in self.template.get("Parameters", {}).items()}
        self.params.update(Stage=stage, **overrides)

    def value(self, node: Any) -> Any:
        """`node` with parameter Refs, Fn::If, Fn::FindInMap and Fn::Equals resolved."""
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, arg)] = node.items()
            if key == "Ref" and arg in self.params:
                return self.params[arg]
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::FindInMap":
                mapping, first, second = self.value(arg)
                return self.template["Mappings"][mapping][first][second]
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Condition":
                return self.condition(arg)
        return {key: self.value(item) for key, item in node.items()}

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources this stage creates, their properties resolved."""
        return {name: {**spec, "Properties": self.value(spec.get("Properties", {}))}
                for name, spec in self.template["Resources"].items()
                if "Condition" not in spec or self.condition(spec["Condition"])}

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: spec["Properties"] for name, spec in self.resources.items()
                if spec["Type"] == resource_type}

    def one(self, resource_type: str) -> dict[str, Any]:
        [properties] = self.of_type(resource_type).values()
        return properties


def imported(output: str) -> dict[str, Any]:
    return {"Fn::ImportValue": {"Fn::Sub": f"exchange-${{Stage}}-{output}"}}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def az_index(subnet: dict[str, Any]) -> int:
    """The index into Fn::GetAZs that a subnet or instance picks."""
    index, azs = subnet["AvailabilityZone"]["Fn::Select"]
    assert azs == {"Fn::GetAZs": ""}
    return int(index)


def exported_outputs(stack: str) -> set[str]:
    return {name for name, spec in load(stack)["Outputs"].items() if "Export" in spec}


# --- network -------------------------------------------------------------------------

def subnets_by_kind(net: Stack) -> dict[str, dict[str, str]]:
    """{"public"|"private": {subnet: route table}}, by where the table's default route goes."""
    routes = {props["RouteTableId"]["Ref"]: props
              for props in net.of_type("AWS::EC2::Route").values()
              if props["DestinationCidrBlock"] == "0.0.0.0/0"}
    kinds: dict[str, dict[str, str]] = {"public": {}, "private": {}}
    for assoc in net.of_type("AWS::EC2::SubnetRouteTableAssociation").values():
        table = assoc["RouteTableId"]["Ref"]
        kind = "public" if routes[table].get("GatewayId") == ref("InternetGateway") else "private"
        kinds[kind][assoc["SubnetId"]["Ref"]] = table
    return kinds


@pytest.mark.parametrize("stage", STAGES)
def test_public_and_private_subnets_in_three_azs(stage: str) -> None:
    net = Stack("network", stage)
    subnets = net.of_type("AWS::EC2::Subnet")
    for kind, members in subnets_by_kind(net).items():
        assert sorted(az_index(subnets[name]) for name in members) == [0, 1, 2], kind


@pytest.mark.parametrize(("stage", "nat_count"), [("dev", 1), ("prod", 3)])
def test_nat_gateways_one_per_az_in_prod_one_shared_in_dev(stage: str, nat_count: int) -> None:
    net = Stack("network", stage)
    nats = net.of_type("AWS::EC2::NatGateway")
    assert len(nats) == nat_count
    subnets = net.of_type("AWS::EC2::Subnet")
    public = subnets_by_kind(net)["public"]
    assert all(nat["SubnetId"]["Ref"] in public for nat in nats.values())
    nat_of_table = {props["RouteTableId"]["Ref"]: props["NatGatewayId"]["Ref"]
                    for props in net.of_type("AWS::EC2::Route").values()
                    if "NatGatewayId" in props}
    private = subnets_by_kind(net)["private"]
    assert {nat_of_table[table] for table in private.values()} == set(nats)
    nat_in_own_az = [
        az_index(subnets[subnet]) == az_index(subnets[nats[nat_of_table[table]]["SubnetId"]["Ref"]])
        for subnet, table in private.items()
    ]
    assert all(nat_in_own_az) is (stage == "prod")


def test_private_subnets_reach_aws_apis_through_endpoints() -> None:
    net = Stack("network", "prod")
    endpoints = net.of_type("AWS::EC2::VPCEndpoint").values()
    services = {ep["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]: ep for ep in endpoints}
    assert set(services) == {"secretsmanager", "kms", "logs", "monitoring", "sts", "s3"}
    private = sorted(subnets_by_kind(net)["private"])
    for name, endpoint in services.items():
        if name == "s3":
            assert endpoint["VpcEndpointType"] == "Gateway"
            tables = {table["Ref"] for table in endpoint["RouteTableIds"]}
            assert tables == set(subnets_by_kind(net)["private"].values())
        else:
            assert endpoint["VpcEndpointType"] == "Interface"
            assert endpoint["PrivateDnsEnabled"] is True
            assert sorted(subnet["Ref"] for subnet in endpoint["SubnetIds"]) == private
            assert endpoint["SecurityGroupIds"] == [ref("EndpointSecurityGroup")]


def source(rule: dict[str, Any]) -> str:
    if "SourceSecurityGroupId" in rule:
        return str(rule["SourceSecurityGroupId"]["Ref"])
    if rule["CidrIp"] == {"Fn::GetAtt": ["Vpc", "CidrBlock"]}:
        return "the VPC"
    return str(rule["CidrIp"])


def ingress(net: Stack) -> set[tuple[str, int, str]]:
    """(group, port, source group or CIDR) for every inbound rule, inline or separate."""
    rules = [(props["GroupId"]["Ref"], props) for props in
             net.of_type("AWS::EC2::SecurityGroupIngress").values() if "Ref" in props["GroupId"]]
    rules += [(name, rule) for name, props in net.of_type("AWS::EC2::SecurityGroup").items()
              for rule in props.get("SecurityGroupIngress", [])]
    assert all(rule["FromPort"] == rule["ToPort"] for _, rule in rules)
    return {(group, int(rule["FromPort"]), source(rule)) for group, rule in rules}


@pytest.mark.parametrize(("group", "port"), [("DatabaseSecurityGroup", 5432),
                                             ("CacheSecurityGroup", 6379),
                                             ("StreamingSecurityGroup", 9098)])
def test_data_tiers_accept_their_port_from_the_callers_only(group: str, port: int) -> None:
    rules = {(port_, source) for group_, port_, source in ingress(Stack("network", "prod"))
             if group_ == group}
    callers = {(port, "LambdaSecurityGroup"), (port, "MatcherSecurityGroup")}
    # RDS Proxy shares the database group and connects to the instances through it; the
    # functions' MSK pollers reach the brokers through ENIs in the brokers' group.
    itself = {"DatabaseSecurityGroup", "StreamingSecurityGroup"}
    allowed = callers | {(port, group)} if group in itself else callers
    assert rules == allowed


def test_msk_pollers_enis_reach_the_brokers_in_their_own_group() -> None:
    """Lambda's MSK event sources poll through ENIs with the brokers' security group,
    which must let that group reach itself on the IAM port, in and out."""
    net = Stack("network", "prod")
    egress = [rule for rule in net.of_type("AWS::EC2::SecurityGroupEgress").values()
              if rule["GroupId"] == ref("StreamingSecurityGroup")]
    assert [(rule["IpProtocol"], rule["FromPort"], rule["ToPort"],
             rule["DestinationSecurityGroupId"]) for rule in egress] == [
        ("tcp", 9098, 9098, ref("StreamingSecurityGroup"))]
    assert ("StreamingSecurityGroup", 9098, "StreamingSecurityGroup") in ingress(net)


def test_endpoints_accept_https_from_the_vpc() -> None:
    rules = {(port, source) for group, port, source in ingress(Stack("network", "dev"))
             if group == "EndpointSecurityGroup"}
    assert rules == {(443, "the VPC")}


def test_flow_logs_go_to_a_log_group_with_retention() -> None:
    for stage, days in (("dev", 30), ("prod", 365)):
        net = Stack("network", stage)
        flow = net.one("AWS::EC2::FlowLog")
        assert flow["ResourceId"] == ref("Vpc")
        assert flow["TrafficType"] == "ALL"
        assert net.of_type("AWS::Logs::LogGroup")[flow["LogGroupName"]["Ref"]][
            "RetentionInDays"] == days


def test_network_exports_the_readme_outputs() -> None:
    assert exported_outputs("network") == {
        "VpcId", "VpcCidr", "PublicSubnetIds", "PrivateSubnetIds", "LambdaSecurityGroupId",
        "MatcherSecurityGroupId", "DatabaseSecurityGroupId", "CacheSecurityGroupId",
        "StreamingSecurityGroupId", "EndpointSecurityGroupId"}


# --- keys ----------------------------------------------------------------------------

def test_keys_rotate_and_no_policy_trusts_everyone() -> None:
    keys = Stack("keys", "prod").of_type("AWS::KMS::Key")
    assert set(keys) == {"DataKey", "SecretsKey"}
    for name, key in keys.items():
        assert key["EnableKeyRotation"] is True, name
        for statement in key["KeyPolicy"]["Statement"]:
            assert statement["Principal"] != "*"
            assert statement["Principal"].get("AWS") != "*", name


def test_secrets_are_encrypted_with_the_secrets_key_and_shaped_for_their_readers() -> None:
    secrets = Stack("keys", "dev").of_type("AWS::SecretsManager::Secret")
    assert all(secret["KmsKeyId"] == ref("SecretsKey") for secret in secrets.values())
    assert secrets["SigningSecret"]["GenerateSecretString"]["PasswordLength"] == 64
    token = secrets["CacheAuthSecret"]["GenerateSecretString"]
    assert token["GenerateStringKey"] == "token"
    assert 32 <= token["PasswordLength"] <= 128
    assert set('@"/ ') <= set(token["ExcludeCharacters"])
    # Sent by CloudFront as a header's value: long, and letters and digits only.
    edge = secrets["EdgeSecret"]["GenerateSecretString"]
    assert edge["GenerateStringKey"] == "token"
    assert edge["PasswordLength"] >= 32
    assert edge["ExcludePunctuation"] is True
    for name, login in (("ApiDbSecret", "exchange_api_login"),
                        ("MatcherDbSecret", "exchange_matcher_login"),
                        ("FunctionsDbSecret", "exchange_functions_login")):
        generated = secrets[name]["GenerateSecretString"]
        assert generated["SecretStringTemplate"] == f'{{"username": "{login}"}}'
        assert generated["GenerateStringKey"] == "password"


# --- data ----------------------------------------------------------------------------

@pytest.mark.parametrize("stage", STAGES)
def test_aurora_writer_and_reader_sit_in_different_azs(stage: str) -> None:
    instances = Stack("data", stage).of_type("AWS::RDS::DBInstance")
    assert all(props["DBClusterIdentifier"] == ref("Cluster") for props in instances.values())
    by_tier = {props["PromotionTier"]: props for props in instances.values()}
    assert sorted(by_tier) == [0, 1]
    assert az_index(by_tier[0]) != az_index(by_tier[1])
    assert all(props["PubliclyAccessible"] is False for props in instances.values())


@pytest.mark.parametrize(("stage", "retention", "protected"), [("dev", 7, False),
                                                                ("prod", 35, True)])
def test_aurora_is_encrypted_backed_up_and_protected_in_prod(
        stage: str, retention: int, protected: bool) -> None:
    data = Stack("data", stage)
    cluster = data.one("AWS::RDS::DBCluster")
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["EngineVersion"].split(".")[0] in ("15", "16")
    assert cluster["StorageEncrypted"] is True
    assert cluster["KmsKeyId"] == imported("DataKeyArn")
    assert cluster["BackupRetentionPeriod"] == retention
    assert cluster["DeletionProtection"] is protected
    assert cluster["ManageMasterUserPassword"] is True
    assert cluster["MasterUserSecret"]["KmsKeyId"] == imported("SecretsKeyArn")
    assert data.template["Resources"]["Cluster"]["DeletionPolicy"] == "Snapshot"
    params = data.of_type("AWS::RDS::DBClusterParameterGroup")
    assert params[cluster["DBClusterParameterGroupName"]["Ref"]]["Parameters"][
        "rds.force_ssl"] == "1"


@pytest.mark.parametrize(("stage", "max_readers"), [("dev", 3), ("prod", 15)])
def test_aurora_readers_scale_on_cpu(stage: str, max_readers: int) -> None:
    data = Stack("data", stage)
    target = data.one("AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["ScalableDimension"] == "rds:cluster:ReadReplicaCount"
    assert target["ResourceId"] == {"Fn::Sub": "cluster:${Cluster}"}
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, max_readers)
    tracking = data.one("AWS::ApplicationAutoScaling::ScalingPolicy")[
        "TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "RDSReaderAverageCPUUtilization")
    assert tracking["TargetValue"] == 60


def test_rds_proxy_requires_tls_and_has_a_read_only_endpoint() -> None:
    data = Stack("data", "prod")
    proxy = data.one("AWS::RDS::DBProxy")
    assert proxy["RequireTLS"] is True
    assert proxy["EngineFamily"] == "POSTGRESQL"
    logins = [imported(f"{role}DbSecretArn") for role in ("Api", "Matcher", "Functions")]
    assert [auth["SecretArn"] for auth in proxy["Auth"]] == logins
    assert data.one("AWS::RDS::DBProxyTargetGroup")["DBClusterIdentifiers"] == [ref("Cluster")]
    endpoint = data.one("AWS::RDS::DBProxyEndpoint")
    assert endpoint["TargetRole"] == "READ_ONLY"
    assert endpoint["DBProxyName"] == ref("Proxy")
    statements = data.of_type("AWS::IAM::Role")[proxy["RoleArn"]["Fn::GetAtt"][0]][
        "Policies"][0]["PolicyDocument"]["Statement"]
    assert statements[0]["Resource"] == logins


def test_data_outputs_match_the_contract() -> None:
    outputs = load("data")["Outputs"]
    assert exported_outputs("data") == {
        "DatabaseWriterHost", "DatabaseReaderHost", "DatabaseProxyHost",
        "DatabaseProxyReadHost", "DatabasePort", "DatabaseName", "DatabaseMasterSecretArn",
        "DatabaseClusterArn"}
    assert outputs["DatabasePort"]["Value"] == "5432"
    assert outputs["DatabaseName"]["Value"] == "exchange"
    assert outputs["DatabaseMasterSecretArn"]["Value"] == {
        "Fn::GetAtt": ["Cluster", "MasterUserSecret.SecretArn"]}


# --- cache ---------------------------------------------------------------------------

@pytest.mark.parametrize(("stage", "nodes"), [("dev", 2), ("prod", 3)])
def test_redis_fails_over_across_azs_encrypted_with_auth(stage: str, nodes: int) -> None:
    cache_stack = Stack("cache", stage)
    group = cache_stack.one("AWS::ElastiCache::ReplicationGroup")
    assert group["NumCacheClusters"] == nodes
    assert group["MultiAZEnabled"] is True
    assert group["AutomaticFailoverEnabled"] is True
    assert group["TransitEncryptionEnabled"] is True
    assert group["AtRestEncryptionEnabled"] is True
    assert group["KmsKeyId"] == imported("DataKeyArn")
    assert group["AuthToken"] == {"Fn::Sub": [
        "{{resolve:secretsmanager:${TokenSecretArn}:SecretString:token}}",
        {"TokenSecretArn": imported("CacheAuthSecretArn")}]}
    [delivery] = group["LogDeliveryConfigurations"]
    assert delivery["LogType"] == "slow-log"
    log_group = delivery["DestinationDetails"]["CloudWatchLogsDetails"]["LogGroup"]["Ref"]
    assert cache_stack.of_type("AWS::Logs::LogGroup")[log_group]["RetentionInDays"] >= 30


def test_cache_exports_the_readme_outputs() -> None:
    assert exported_outputs("cache") == {"RedisPrimaryHost", "RedisReaderHost", "RedisPort"}


# --- streaming -----------------------------------------------------------------------

@pytest.mark.parametrize(("stage", "broker"), [("dev", "kafka.t3.small"),
                                               ("prod", "kafka.m7g.large")])
def test_msk_runs_three_brokers_iam_over_tls_only(stage: str, broker: str) -> None:
    streaming = Stack("streaming", stage)
    assert streaming.of_type("AWS::MSK::ServerlessCluster") == {}
    cluster = streaming.one("AWS::MSK::Cluster")
    assert cluster["NumberOfBrokerNodes"] == 3
    nodes = cluster["BrokerNodeGroupInfo"]
    assert nodes["InstanceType"] == broker
    assert nodes["ClientSubnets"] == {"Fn::Split": [",", imported("PrivateSubnetIds")]}
    assert cluster["ClientAuthentication"] == {"Sasl": {"Iam": {"Enabled": True}},
                                               "Unauthenticated": {"Enabled": False}}
    encryption = cluster["EncryptionInfo"]
    assert encryption["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}
    assert encryption["EncryptionAtRest"]["DataVolumeKMSKeyId"] == imported("DataKeyArn")
    assert cluster["EnhancedMonitoring"] == "PER_TOPIC_PER_PARTITION"
    assert cluster["LoggingInfo"]["BrokerLogs"]["CloudWatchLogs"]["Enabled"] is True


def server_properties(streaming: Stack) -> dict[str, str]:
    text = streaming.one("AWS::MSK::Configuration")["ServerProperties"]
    return dict(line.split("=", 1) for line in text.splitlines() if line.strip())


def test_msk_loses_no_acknowledged_write_to_one_broker() -> None:
    streaming = Stack("streaming", "prod")
    assert server_properties(streaming) == {
        "auto.create.topics.enable": "false",
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
    }
    configuration = streaming.one("AWS::MSK::Cluster")["ConfigurationInfo"]
    assert configuration["Arn"] == {"Fn::GetAtt": ["Configuration", "Arn"]}


def test_topics_metadata_gives_each_stage_its_partitions() -> None:
    topics = load("streaming")["Metadata"]["Exchange::Topics"]
    names = {"orders", "market-events", "order-events"}
    assert topics["dev"] == dict.fromkeys(names, 4)
    assert topics["prod"] == dict.fromkeys(names, 12)
    properties = server_properties(Stack("streaming", "dev"))
    assert topics["replicationFactor"] == int(properties["default.replication.factor"])
    assert topics["minInsyncReplicas"] == int(properties["min.insync.replicas"]) == 2


def test_serverless_replaces_the_provisioned_cluster_in_dev_only() -> None:
    streaming = Stack("streaming", "dev", UseServerless="true")
    assert streaming.of_type("AWS::MSK::Cluster") == {}
    assert streaming.of_type("AWS::MSK::Configuration") == {}
    serverless = streaming.one("AWS::MSK::ServerlessCluster")
    assert serverless["ClientAuthentication"] == {"Sasl": {"Iam": {"Enabled": True}}}
    rule = streaming.template["Rules"]["ServerlessOnlyInDev"]
    for stage, allowed in (("dev", True), ("prod", False)):
        evaluated = Stack("streaming", stage, UseServerless="true")
        applies = evaluated.value(rule["RuleCondition"])
        holds = all(evaluated.value(assertion["Assert"]) for assertion in rule["Assertions"])
        assert (not applies or holds) is allowed


def test_streaming_exports_arn_and_name_not_bootstrap_servers() -> None:
    assert exported_outputs("streaming") == {"KafkaClusterArn", "KafkaClusterName"}
