"""The api stack: `chalice package` merged with iac/cloudformation/api-merge.yaml.

Each stage is packaged once (pip fetches the Lambda wheels, nothing else runs) into a
temporary folder, exactly as `exchange deploy` packages it. The merged SAM template
must lint and scan clean, and hold what the deployment relies on: every function in
the private subnets with the settings of iac/README.md, concurrency caps, the MSK and
schedule triggers of the three functions, roles that name their resources, and a REST
stage that throttles, logs and traces. Imports are resolved against made-up exports,
so that the ARNs the roles derive from the cluster's are checked as strings.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
API_DIR = REPO / "api"
MERGE_TEMPLATE = REPO / "iac" / "cloudformation" / "api-merge.yaml"
CHECKOV = REPO / ".local" / "tools" / "checkov" / "bin" / "checkov"
STAGES = ("dev", "prod")

REGION, ACCOUNT = "eu-west-1", "123456789012"
CLUSTER_PATH = "exchange-{stage}/7f3c2a10-1b2c-4d5e-8f90-a1b2c3d4e5f6-3"

API_FUNCTIONS = {"APIHandler", "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect"}
ADDED_FUNCTIONS = {"CandlesFunction": "lambdas.candles.handler",
                   "FanoutFunction": "lambdas.fanout.handler",
                   "SweeperFunction": "lambdas.sweeper.handler",
                   "LedgerAuditorFunction": "lambdas.ledger_auditor.handler"}
# iac/README.md "What the processes read in AWS", for a Lambda (AWS_REGION is Lambda's).
SERVICE_VARIABLES = {"EXCHANGE_ENV", "DATABASE_SECRET_ARN", "DATABASE_HOST",
                     "DATABASE_READ_HOST", "DATABASE_PORT", "EXCHANGE_DB_NAME",
                     "SIGNING_SECRET_ARN", "REDIS_URL", "REDIS_AUTH_SECRET_ARN",
                     "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY", "ORDERS_PARTITIONS",
                     "MARKET_EVENTS_PARTITIONS", "ORDER_EVENTS_PARTITIONS"}
# The only actions a statement may grant on "*": AWS offers no resource to name.
UNSCOPABLE_ACTIONS = {
    # The VPC network interfaces Lambda creates for a function (and its MSK pollers).
    "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
    # X-Ray's write API takes no resource.
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
}


@dataclass(frozen=True)
class Package:
    stage: str
    template_path: Path
    template: dict[str, Any]
    bundle: frozenset[str]
    bundle_path: Path


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Package]:
    """One `chalice package --merge-template` run per stage, into a temporary folder."""
    chalice = Path(sys.executable).parent / "chalice"
    built = {}
    for stage in STAGES:
        out = tmp_path_factory.mktemp(f"api-{stage}")
        result = subprocess.run(
            [str(chalice), "package", "--stage", stage, "--merge-template", str(MERGE_TEMPLATE),
             str(out)],
            cwd=API_DIR, capture_output=True, text=True, timeout=900, check=False,
            env={**os.environ, "AWS_DEFAULT_REGION": REGION})
        assert result.returncode == 0, result.stderr
        assert "Could not install dependencies" not in result.stdout + result.stderr
        with zipfile.ZipFile(out / "deployment.zip") as bundle:
            names = frozenset(bundle.namelist())
        template_path = out / "sam.yaml"
        built[stage] = Package(stage, template_path, yaml.safe_load(template_path.read_text()),
                               names, out / "deployment.zip")
    return built


@pytest.fixture(params=STAGES)
def package(request: pytest.FixtureRequest, packages: dict[str, Package]) -> Package:
    return packages[request.param]


# ------------------------------------------------------------------ template helpers
def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items()
            if resource["Type"] == kind}


def merge_global(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge (the function's keys win), lists concatenate."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_global(global_value[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def functions(package: Package) -> dict[str, dict[str, Any]]:
    """Every function's properties as SAM deploys them, Globals applied and intrinsics
    resolved for the stage."""
    template = package.template
    globals_ = template.get("Globals", {}).get("Function", {})
    return {name: resolve(merge_global(globals_, function["Properties"]), package.stage)
            for name, function in resources(template, "AWS::Serverless::Function").items()}


def export(stage: str, name: str) -> str:
    """A made-up value for the export `exchange-<stage>-<name>` of an earlier stack."""
    values = {
        "PrivateSubnetIds": "subnet-0a,subnet-0b,subnet-0c",
        "KafkaClusterArn": f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/"
                           + CLUSTER_PATH.format(stage=stage),
        "RedisPrimaryHost": "master.exchange-cache.example",
        "RedisPort": "6379",
    }
    return values.get(name, f"<{stage}:{name}>")


def resolve(node: Any, stage: str) -> Any:
    """The value of `node` in the stage, with made-up exports and `<Logical>` for
    resources created by this stack."""
    if isinstance(node, list):
        return [resolve(item, stage) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        intrinsic = INTRINSICS.get(key)
        if intrinsic is not None:
            return intrinsic(value, stage)
    return {key: resolve(value, stage) for key, value in node.items()}


def resolve_import(value: Any, stage: str) -> str:
    name = str(resolve(value, stage))
    prefix = f"exchange-{stage}-"
    assert name.startswith(prefix), name
    return export(stage, name.removeprefix(prefix))


def pseudo(name: str, stage: str) -> str:
    return {"Stage": stage, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}.get(name, f"<{name}>")


def resolve_sub(value: Any, stage: str) -> str:
    text, variables = (value, {}) if isinstance(value, str) else value
    names = {name: resolve(given, stage) for name, given in variables.items()}
    return re.sub(r"\$\{([^}]+)\}",
                  lambda match: str(names.get(match[1], pseudo(match[1], stage))), text)


def resolve_if(value: Any, stage: str) -> Any:
    condition, when_true, when_false = value
    assert condition == "IsProd", condition
    return resolve(when_true if stage == "prod" else when_false, stage)


INTRINSICS: dict[str, Any] = {
    "Ref": lambda value, stage: pseudo(value, stage),
    "Fn::GetAtt": lambda value, stage: f"<{'.'.join(value)}>",
    "Fn::ImportValue": resolve_import,
    "Fn::Sub": resolve_sub,
    "Fn::Join": lambda value, stage: value[0].join(resolve(value[1], stage)),
    "Fn::Split": lambda value, stage: str(resolve(value[1], stage)).split(value[0]),
    "Fn::Select": lambda value, stage: resolve(value[1], stage)[int(value[0])],
    "Fn::If": resolve_if,
}


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role or policy, statement) for every IAM statement the template grants."""
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for name, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(package: Package, role: str) -> dict[str, set[str]]:
    """Action -> the resources (resolved) that `role` is allowed it on, managed
    policies included."""
    template = package.template
    properties = template["Resources"][role]["Properties"]
    attached = {reference["Ref"] for reference in properties.get("ManagedPolicyArns", [])
                if isinstance(reference, dict)}
    allowed: dict[str, set[str]] = {}
    for owner, statement in statements(template):
        if owner == role or owner in attached:
            assert statement["Effect"] == "Allow"
            targets = {str(resolve(target, package.stage))
                       for target in as_list(statement["Resource"])}
            for action in as_list(statement["Action"]):
                allowed.setdefault(action, set()).update(targets)
    return allowed


def kafka_arn(stage: str, kind: str, name: str) -> str:
    return f"arn:aws:kafka:{REGION}:{ACCOUNT}:{kind}/{CLUSTER_PATH.format(stage=stage)}/{name}"


# ------------------------------------------------------------------ lint and scan
def test_cfn_lint_finds_no_error_or_warning(package: Package) -> None:
    findings = [f"{match.linenumber}: {match.rule.id} {match.message}"
                for match in lint_file(package.template_path) if match.rule.id[0] in "EW"]
    assert findings == []


@pytest.fixture(scope="module")
def checkov_report(packages: dict[str, Package]) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run scripts/install.sh")
    files = [arg for package in packages.values() for arg in ("-f", str(package.template_path))]
    result = subprocess.run(
        [str(CHECKOV), *files, "--framework", "cloudformation", "--output", "json",
         "--skip-download"],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert results["passed_checks"]
    failed = [f"{check['resource']}: {check['check_id']} {check['check_name']}"
              for check in results["failed_checks"]]
    assert failed == []


def test_every_checkov_skip_says_why(package: Package) -> None:
    for name, resource in package.template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
            assert len(skip.get("comment", "")) > 40, f"{name} {skip['id']}: say why"


# ------------------------------------------------------------------ the functions
def test_the_api_and_the_three_functions_are_all_deployed(package: Package) -> None:
    found = functions(package)
    assert set(found) == API_FUNCTIONS | set(ADDED_FUNCTIONS)
    for name, handler in ADDED_FUNCTIONS.items():
        assert found[name]["Handler"] == handler
    assert found["APIHandler"]["Handler"] == "app.app"


def test_every_function_runs_in_the_private_subnets_with_the_lambda_security_group(
        package: Package) -> None:
    stage = package.stage
    for name, function in functions(package).items():
        assert function["VpcConfig"] == {
            "SubnetIds": ["subnet-0a", "subnet-0b", "subnet-0c"],
            "SecurityGroupIds": [f"<{stage}:LambdaSecurityGroupId>"]}, name


def test_every_function_reads_the_settings_of_the_readme(package: Package) -> None:
    stage = package.stage
    partitions = "12" if stage == "prod" else "4"
    for name, function in functions(package).items():
        variables = function["Environment"]["Variables"]
        assert set(variables) >= SERVICE_VARIABLES, name
        assert variables["EXCHANGE_ENV"] == "aws"
        assert variables["KAFKA_SECURITY"] == "iam"
        # Through RDS Proxy, never the cluster's own endpoints.
        assert variables["DATABASE_HOST"] == f"<{stage}:DatabaseProxyHost>"
        assert variables["DATABASE_READ_HOST"] == f"<{stage}:DatabaseProxyReadHost>"
        assert variables["REDIS_URL"] == "rediss://master.exchange-cache.example:6379/0"
        # A parameter: exchange deploy reads MSK's brokers, no stack can export them.
        assert variables["KAFKA_BOOTSTRAP_SERVERS"] == "<KafkaBootstrapServers>"
        assert {variables[f"{topic}_PARTITIONS"]
                for topic in ("ORDERS", "MARKET_EVENTS", "ORDER_EVENTS")} == {partitions}
        login = "ApiDbSecretArn" if name in API_FUNCTIONS else "FunctionsDbSecretArn"
        assert variables["DATABASE_SECRET_ARN"] == f"<{stage}:{login}>", name
        # Only the API envelope-encrypts API secrets, and is called through CloudFront.
        assert ("KMS_KEY_ID" in variables) == (name in API_FUNCTIONS), name
        assert variables.get("EDGE_SECRET_ARN") == (
            f"<{stage}:EdgeSecretArn>" if name in API_FUNCTIONS else None), name


def test_the_fanout_and_the_api_post_through_the_websocket_apis_management_endpoint(
        package: Package) -> None:
    for name in ("FanoutFunction", "APIHandler", "WebsocketMessage"):
        variables = functions(package)[name]["Environment"]["Variables"]
        assert variables["WS_MANAGEMENT_URL"] == (
            f"https://<WebsocketAPI>.execute-api.{REGION}.amazonaws.com/api"), name


def test_every_function_traces_and_has_a_concurrency_cap_smaller_in_dev(
        packages: dict[str, Package]) -> None:
    dev, prod = functions(packages["dev"]), functions(packages["prod"])
    for name in dev:
        assert dev[name]["Tracing"] == prod[name]["Tracing"] == "Active", name
        assert 1 <= dev[name]["ReservedConcurrentExecutions"] <= (
            prod[name]["ReservedConcurrentExecutions"]), name
    # The sweeper runs alone: two sweeps would race to republish the same commands.
    assert dev["SweeperFunction"]["ReservedConcurrentExecutions"] == 1
    assert prod["SweeperFunction"]["ReservedConcurrentExecutions"] == 1
    # Each audit pass continues from the previous one's checkpoint.
    assert dev["LedgerAuditorFunction"]["ReservedConcurrentExecutions"] == 1
    assert prod["LedgerAuditorFunction"]["ReservedConcurrentExecutions"] == 1
    caps = [function["ReservedConcurrentExecutions"] for function in prod.values()]
    # Lambda keeps 100 of an account's 1,000 default concurrency unreserved.
    assert sum(caps) <= 900
    assert sum(f["ReservedConcurrentExecutions"] for f in dev.values()) < sum(caps)


def test_every_function_has_a_log_group_with_retention_made_before_it(package: Package) -> None:
    template = package.template
    groups = {resolve(group["Properties"]["LogGroupName"], package.stage): (name, group)
              for name, group in resources(template, "AWS::Logs::LogGroup").items()}
    for name, function in functions(package).items():
        function_name = function["FunctionName"]
        assert function_name.startswith(f"exchange-{package.stage}-"), name
        group_name, group = groups[f"/aws/lambda/{function_name}"]
        assert template["Resources"][name]["DependsOn"] == group_name
        assert resolve(group["Properties"]["RetentionInDays"], package.stage) >= 30
        assert group["Properties"]["KmsKeyId"]


def msk_events(package: Package, name: str) -> dict[str, Any]:
    (event,) = functions(package)[name]["Events"].values()
    assert event["Type"] == "MSK"
    properties: dict[str, Any] = event["Properties"]
    assert properties["Stream"] == export(package.stage, "KafkaClusterArn")
    # Lambda acts on the handler's batchItemFailures only in provisioned mode.
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ProvisionedPollerConfig"]["MinimumPollers"] >= 1
    assert 1 <= properties["BatchSize"] <= 10_000
    return properties


def test_candles_fold_every_trade_of_market_events_as_their_own_group(
        package: Package) -> None:
    events = msk_events(package, "CandlesFunction")
    assert events["Topics"] == ["market-events"]
    assert events["ConsumerGroupId"] == "candles"
    assert events["StartingPosition"] == "TRIM_HORIZON"


def test_the_fanout_reads_both_event_topics_as_its_own_group(package: Package) -> None:
    events = msk_events(package, "FanoutFunction")
    assert sorted(events["Topics"]) == ["market-events", "order-events"]
    assert events["ConsumerGroupId"] == "fanout"


def test_the_sweeper_runs_every_minute(package: Package) -> None:
    (event,) = functions(package)["SweeperFunction"]["Events"].values()
    assert event == {"Type": "Schedule", "Properties": {
        "Schedule": "rate(1 minute)", "Description": f"exchange-{package.stage} order sweeper"}}


def test_the_ledger_auditor_runs_every_minute_with_the_functions_login_only(
        package: Package) -> None:
    stage = package.stage
    (event,) = functions(package)["LedgerAuditorFunction"]["Events"].values()
    allowed = grants(package, template_role(package, "LedgerAuditorFunction"))

    assert event == {"Type": "Schedule", "Properties": {
        "Schedule": "rate(1 minute)", "Description": f"exchange-{stage} ledger auditor"}}
    assert allowed["secretsmanager:GetSecretValue"] == {
        f"<{stage}:FunctionsDbSecretArn>", f"<{stage}:SigningSecretArn>",
        f"<{stage}:CacheAuthSecretArn>"}
    assert not any(action.startswith("kafka") for action in allowed)


# ------------------------------------------------------------------ the bundle
def test_the_one_bundle_holds_the_api_the_functions_and_their_dependencies(
        package: Package) -> None:
    assert {"app.py", "chalicelib/__init__.py", "chalicelib/settings.py",
            "chalicelib/adapters/migrations.py", "chalicelib/migrations/0001_core_schema.sql",
            "lambdas/__init__.py", "lambdas/candles.py", "lambdas/fanout.py",
            "lambdas/sweeper.py", "lambdas/ledger_auditor.py",
            "chalicelib/migrations/0013_ledger_audit.sql"} <= package.bundle
    for dependency in ("pydantic_core/", "confluent_kafka/", "psycopg_binary/", "argon2/",
                       "cryptography/", "aws_lambda_powertools/", "aws_msk_iam_sasl_signer/"):
        assert any(name.startswith(dependency) for name in package.bundle), dependency
    # Each function names the bundle itself: exchange deploy uploads what resources name.
    code_uris = {function["Properties"]["CodeUri"] for function in
                 resources(package.template, "AWS::Serverless::Function").values()}
    assert code_uris == {"./deployment.zip"}


def test_every_handler_is_defined_in_the_bundle(package: Package) -> None:
    with zipfile.ZipFile(package.bundle_path) as bundle:
        for name, function in functions(package).items():
            module, attribute = function["Handler"].rsplit(".", 1)
            source = ast.parse(bundle.read(module.replace(".", "/") + ".py"))
            defined = {node.name for node in source.body
                       if isinstance(node, ast.FunctionDef)}
            defined |= {target.id for node in source.body if isinstance(node, ast.Assign)
                        for target in node.targets if isinstance(target, ast.Name)}
            assert attribute in defined, f"{name}: {function['Handler']}"


# ------------------------------------------------------------------ permissions
def test_no_statement_grants_every_resource_but_the_unscopable_actions(
        package: Package) -> None:
    for owner, statement in statements(package.template):
        actions = set(as_list(statement["Action"]))
        assert not any(action.endswith("*") for action in actions), owner
        for target in as_list(statement["Resource"]):
            if target == "*":
                assert actions <= UNSCOPABLE_ACTIONS, f"{owner} {statement.get('Sid')}"
            else:
                # No account, region or service wildcard in a named ARN.
                assert ":*" not in str(resolve(target, package.stage)), owner


def test_the_api_reads_its_own_login_and_writes_only_the_orders_topic(package: Package) -> None:
    stage = package.stage
    allowed = grants(package, "DefaultRole")
    assert allowed["secretsmanager:GetSecretValue"] == {
        f"<{stage}:ApiDbSecretArn>", f"<{stage}:SigningSecretArn>",
        f"<{stage}:CacheAuthSecretArn>", f"<{stage}:EdgeSecretArn>"}
    assert allowed["kms:GenerateDataKey"] == {f"<{stage}:SecretsKeyArn>"}
    assert allowed["kafka-cluster:WriteData"] == {kafka_arn(stage, "topic", "orders")}
    assert "kafka-cluster:ReadData" not in allowed
    assert allowed["execute-api:ManageConnections"] == {
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:<WebsocketAPI>/api/*/@connections/*"}
    assert allowed["logs:PutLogEvents"] == {
        f"<{group}LogGroup.Arn>" for group in ("ApiHandler", "WebsocketConnect",
                                                 "WebsocketMessage", "WebsocketDisconnect")}


def test_each_function_role_names_its_topics_group_and_login(package: Package) -> None:
    stage = package.stage
    cluster = export(stage, "KafkaClusterArn")
    candles, fanout, sweeper = (grants(package, template_role(package, name))
                                for name in ("CandlesFunction", "FanoutFunction",
                                             "SweeperFunction"))

    assert candles["kafka-cluster:ReadData"] == {kafka_arn(stage, "topic", "market-events")}
    assert candles["kafka-cluster:WriteData"] == {kafka_arn(stage, "topic", "market-events")}
    assert candles["kafka-cluster:AlterGroup"] == {kafka_arn(stage, "group", "candles")}
    assert fanout["kafka-cluster:ReadData"] == {kafka_arn(stage, "topic", "market-events"),
                                                kafka_arn(stage, "topic", "order-events")}
    assert fanout["kafka-cluster:AlterGroup"] == {kafka_arn(stage, "group", "fanout")}
    assert "kafka-cluster:WriteData" not in fanout
    assert sweeper["kafka-cluster:WriteData"] == {kafka_arn(stage, "topic", "orders")}
    assert "kafka-cluster:ReadData" not in sweeper
    for allowed in (candles, fanout):
        for action in ("kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration",
                       "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"):
            assert allowed[action] == {cluster}, action
    for allowed in (candles, fanout, sweeper):
        assert allowed["secretsmanager:GetSecretValue"] == {
            f"<{stage}:FunctionsDbSecretArn>", f"<{stage}:SigningSecretArn>",
            f"<{stage}:CacheAuthSecretArn>"}
        assert allowed["kms:Decrypt"] == {f"<{stage}:SecretsKeyArn>"}
        assert "kms:GenerateDataKey" not in allowed
    assert "execute-api:ManageConnections" in fanout
    assert "execute-api:ManageConnections" not in candles


def template_role(package: Package, function: str) -> str:
    role = package.template["Resources"][function]["Properties"]["Role"]
    name: str = role["Fn::GetAtt"][0]
    return name


# ------------------------------------------------------------------ the stages
def test_the_rest_stage_throttles_logs_and_traces(package: Package) -> None:
    api = resolve(package.template["Resources"]["RestAPI"]["Properties"], package.stage)
    (settings,) = api["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    expected = (4000, 5000) if package.stage == "prod" else (100, 200)
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == expected
    assert api["TracingEnabled"] is True
    assert api["AccessLogSetting"]["DestinationArn"] == "<RestApiAccessLogGroup.Arn>"
    assert package.template["Resources"]["RestApiAccessLogGroup"]["Properties"][
        "RetentionInDays"]


def test_what_api_gateway_answers_itself_is_in_the_apis_error_format(
        package: Package) -> None:
    answers = {r["Properties"]["ResponseType"]: resolve(r["Properties"], package.stage)
               for r in resources(package.template, "AWS::ApiGateway::GatewayResponse").values()}

    assert set(answers) == {"MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "DEFAULT_4XX",
                            "DEFAULT_5XX"}
    assert (answers["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"],
            answers["THROTTLED"]["StatusCode"]) == ("404", "429")
    for answer in answers.values():
        assert answer["RestApiId"] == "<RestAPI>"
        body = answer["ResponseTemplates"]["application/json"]
        assert body.startswith('{"code": -10'), body
        assert '"msg": ' in body, body
        assert answer["ResponseParameters"] == {
            "gatewayresponse.header.Content-Type": "'application/json'"}


def test_the_websocket_stage_throttles_and_logs(package: Package) -> None:
    stage = resolve(package.template["Resources"]["WebsocketAPIStage"]["Properties"],
                    package.stage)
    routes = stage["DefaultRouteSettings"]
    assert routes["ThrottlingRateLimit"] < routes["ThrottlingBurstLimit"]
    assert stage["AccessLogSettings"]["DestinationArn"] == "<WebsocketApiAccessLogGroup.Arn>"


def test_the_stack_exports_chalices_outputs_for_the_later_stacks(package: Package) -> None:
    outputs = package.template["Outputs"]
    for name in ("RestAPIId", "EndpointURL", "WebsocketAPIId", "WebsocketConnectEndpointURL"):
        assert resolve(outputs[name]["Export"]["Name"], package.stage) == (
            f"exchange-{package.stage}-{name}")
