"""docs/operations.md stays true to the repository it describes.

Every path it names exists; every "(`<template>.yaml` `<LogicalId>`)" names something
that template declares; every `exchange ...` command and option exists in the CLI; the
cost tables multiply out, add up, and price the instance types and counts the templates
deploy for each stage. Changing a template without the runbook fails here.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from opscli.cli import build_parser

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "operations.md"
CFN_DIR = REPO / "iac" / "cloudformation"
STAGES = ("dev", "prod")
HOURS = Decimal(730)

PATH = re.compile(r"(?<![\w./-])((?:iac|tests|chalicelib|matching_cluster|opscli|lambdas|api|docs)"
                  r"/[\w./<>-]*)")
CITATION = re.compile(r"\(`(?P<template>[\w-]+\.yaml)`(?P<ids>(?:,?\s+`[^`]+`)+)")
CODE = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)
# `kubectl -n exchange ...` names the namespace, not the CLI.
COMMAND = re.compile(r"(?<!-n )\bexchange[ \t]+([a-z][\w-]*)([^\n`|;&]*)")
ACTION = re.compile(r"[ \t]+([a-z][\w-]*)")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
COST_HEADER = "| item | unit price (USD) | quantity | monthly (USD) |"
INSTANCE_TYPE = re.compile(r"\b(?:(?:db|cache|kafka)\.[a-z0-9]+\.[a-z0-9]+"
                           r"|[a-z]\d[a-z]*\.(?:nano|micro|small|medium|\d*x?large))\b")
CENT = Decimal("0.01")


@cache
def doc() -> str:
    return DOC.read_text()


@cache
def template(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(CFN_DIR / name))
    return loaded


def stage_file(stage: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CFN_DIR / "stages" / f"{stage}.json").read_text())
    return loaded


def declared_names(document: dict[str, Any]) -> set[str]:
    """What a citation may name: resources, outputs, parameters, mappings, conditions,
    rules and the template's own metadata keys."""
    sections = ("Resources", "Outputs", "Parameters", "Mappings", "Conditions", "Rules",
                "Metadata")
    return {name for section in sections for name in document.get(section, {})}


# ------------------------------------------------------------------ paths, citations


def cited_paths() -> set[str]:
    paths = {match.rstrip(".,;:)") for match in PATH.findall(doc())}
    return {path.replace("<stage>", stage) for path in paths for stage in STAGES}


def test_the_runbook_cites_templates_paths_and_tests() -> None:
    assert len(CITATION.findall(doc())) >= 40
    assert sum(path.startswith("tests/") for path in cited_paths()) >= 5


@pytest.mark.parametrize("path", sorted(cited_paths()))
def test_every_cited_path_exists(path: str) -> None:
    assert (REPO / path).exists(), f"docs/operations.md names {path}, which does not exist"


def citations() -> Iterator[tuple[str, str]]:
    for match in CITATION.finditer(doc()):
        for logical_id in re.findall(r"`([^`]+)`", match["ids"]):
            yield match["template"], logical_id


@pytest.mark.parametrize(("template_name", "logical_id"), sorted(set(citations())))
def test_every_citation_names_what_its_template_declares(template_name: str,
                                                          logical_id: str) -> None:
    assert (CFN_DIR / template_name).is_file(), f"no template {template_name}"
    assert logical_id in declared_names(template(template_name)), (
        f"docs/operations.md cites {logical_id} in {template_name}, which declares no such "
        "resource, output, parameter, mapping, condition, rule or metadata")


# ------------------------------------------------------------------ commands


def exchange_commands() -> set[tuple[str, tuple[str, ...]]]:
    """(subcommand, its --options) of every `exchange ...` in code spans and blocks; a
    subcommand with actions (`exchange db failover`) is named with its action."""
    found = set()
    for block, span in CODE.findall(doc()):
        for subcommand, rest in COMMAND.findall(block or span):
            action = ACTION.match(rest)
            if action and action.group(1) in subcommand_help(subcommand):
                subcommand = f"{subcommand} {action.group(1)}"
            found.add((subcommand, tuple(sorted(set(re.findall(r"--[a-z][\w-]*", rest))))))
    return found


def subcommand_help(subcommand: str) -> str:
    """`exchange <subcommand> [action] --help`, from the CLI's own parser."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), \
            pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*subcommand.split(), "--help"])
    assert exited.value.code == 0, f"`exchange {subcommand}` is not a subcommand"
    return out.getvalue()


def test_the_runbook_shows_deploy_and_destroy() -> None:
    subcommands = {subcommand for subcommand, _ in exchange_commands()}
    assert {"deploy", "destroy"} <= subcommands


@pytest.mark.parametrize(("subcommand", "options"), sorted(exchange_commands()))
def test_every_exchange_command_and_option_exists(subcommand: str,
                                                  options: tuple[str, ...]) -> None:
    usage = subcommand_help(subcommand)
    missing = [option for option in options if option not in usage]
    assert not missing, f"`exchange {subcommand}` has no {missing}"


# ------------------------------------------------------------------ cost tables


@dataclass(frozen=True)
class CostRow:
    item: str
    unit_price: Decimal
    quantity: Decimal
    monthly: Decimal


@dataclass(frozen=True)
class CostTable:
    rows: tuple[CostRow, ...]
    total: Decimal

    def row(self, text: str) -> CostRow:
        matches = [row for row in self.rows if text in row.item]
        assert len(matches) == 1, f"expected one cost row naming {text!r}, got {len(matches)}"
        return matches[0]


def numbers(cell: str) -> list[Decimal]:
    return [Decimal(n.replace(",", "")) for n in NUMBER.findall(cell)]


def product(values: list[Decimal]) -> Decimal:
    result = Decimal(1)
    for value in values:
        result *= value
    return result


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def cost_tables() -> dict[str, CostTable]:
    """The cost table under each `### <stage>` heading of the cost section."""
    section = doc().split("## 6. Cost", 1)[1]
    tables: dict[str, CostTable] = {}
    for chunk in re.split(r"^### ", section, flags=re.MULTILINE)[1:]:
        stage, _, body = chunk.partition("\n")
        lines = body.splitlines()
        start = lines.index(COST_HEADER) + 2
        rows, total = [], None
        for line in lines[start:]:
            if not line.startswith("|"):
                break
            item, price, quantity, monthly = cells(line)
            if item.startswith("**Total"):
                total = numbers(monthly)[0]
                continue
            rows.append(CostRow(item, numbers(price)[0], product(numbers(quantity)),
                                numbers(monthly)[0]))
        assert total is not None, f"the {stage} cost table has no total row"
        tables[stage.strip()] = CostTable(tuple(rows), total)
    return tables


def test_there_is_a_cost_table_per_stage() -> None:
    assert set(cost_tables()) == set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_every_cost_row_is_unit_price_times_quantity(stage: str) -> None:
    wrong = [f"{row.item}: {row.unit_price} * {row.quantity} != {row.monthly}"
             for row in cost_tables()[stage].rows
             if abs(row.unit_price * row.quantity - row.monthly) >= CENT]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("stage", STAGES)
def test_each_total_is_the_sum_of_its_rows(stage: str) -> None:
    table = cost_tables()[stage]
    assert sum(row.monthly for row in table.rows) == table.total


def stage_setting(name: str, mapping: str, stage: str, key: str) -> Any:
    return template(name)["Mappings"][mapping][stage][key]


def resources(name: str, kind: str, stage: str | None = None) -> list[dict[str, Any]]:
    """A template's resources of `kind`; with `stage`, only those its IsProd condition
    keeps for that stage."""
    found = [r for r in template(name)["Resources"].values() if r.get("Type") == kind]
    if stage is None:
        return found
    return [r for r in found if r.get("Condition") != "IsProd" or stage == "prod"]


def stage_types(stage: str) -> dict[str, int]:
    """Each instance or node type the templates deploy in `stage`, with how many."""
    types = {
        stage_setting("data.yaml", "StageSettings", stage, "InstanceClass"):
            len(resources("data.yaml", "AWS::RDS::DBInstance")),
        stage_setting("cache.yaml", "StageSettings", stage, "NodeType"):
            stage_setting("cache.yaml", "StageSettings", stage, "Nodes"),
        stage_setting("cluster.yaml", "StageNodes", stage, "InstanceType"):
            stage_setting("cluster.yaml", "StageNodes", stage, "DesiredSize"),
    }
    if not serverless(stage):
        types[stage_setting("streaming.yaml", "StageSettings", stage, "BrokerType")] = \
            template("streaming.yaml")["Resources"]["Cluster"]["Properties"][
                "NumberOfBrokerNodes"]
    # The log search domain's data nodes and, in prod, its dedicated masters.
    search = template("observability.yaml")["Mappings"]["StageLogSearch"][stage]
    types[search["InstanceType"].removesuffix(".search")] = search["InstanceCount"]
    if search["Masters"]:
        types[search["MasterType"].removesuffix(".search")] = search["Masters"]
    return types


def serverless(stage: str) -> bool:
    streaming = stage_file(stage).get("parameters", {}).get("streaming", {})
    return str(streaming.get("UseServerless", "false")) == "true"


@pytest.mark.parametrize("stage", STAGES)
def test_the_cost_table_prices_the_templates_instance_types_and_counts(stage: str) -> None:
    table = cost_tables()[stage]
    expected = stage_types(stage)
    priced = {t for row in table.rows for t in INSTANCE_TYPE.findall(row.item)}
    assert priced == set(expected), f"{stage}: the table prices {priced}, the templates " \
                                    f"deploy {set(expected)}"
    for instance_type, count in expected.items():
        assert table.row(instance_type).quantity == HOURS * count, instance_type


@pytest.mark.parametrize("stage", STAGES)
def test_the_cost_table_counts_what_the_network_deploys(stage: str) -> None:
    table = cost_tables()[stage]
    nats = len(resources("network.yaml", "AWS::EC2::NatGateway", stage))
    addresses = len(resources("network.yaml", "AWS::EC2::EIP", stage))
    interfaces = sum(len(r["Properties"]["SubnetIds"])
                     for r in resources("network.yaml", "AWS::EC2::VPCEndpoint")
                     if r["Properties"]["VpcEndpointType"] == "Interface")
    assert table.row("`NatGateway1`").quantity == HOURS * nats
    assert table.row("`NatAddress1`").quantity == HOURS * addresses
    assert table.row("`SecretsManagerEndpoint`").quantity == HOURS * interfaces


@pytest.mark.parametrize("stage", STAGES)
def test_the_cost_table_prices_the_stages_kafka(stage: str) -> None:
    table = cost_tables()[stage]
    if serverless(stage):
        topics = template("streaming.yaml")["Metadata"]["Exchange::Topics"][stage]
        assert table.row("`ServerlessCluster`").quantity == HOURS
        assert table.row("Serverless partitions").quantity == HOURS * sum(topics.values())
    else:
        brokers = stage_types(stage)[stage_setting("streaming.yaml", "StageSettings", stage,
                                                   "BrokerType")]
        volume = stage_setting("streaming.yaml", "StageSettings", stage, "VolumeGiB")
        assert table.row("MSK broker storage").quantity == volume * brokers


@pytest.mark.parametrize("stage", STAGES)
def test_the_cost_table_counts_keys_secrets_alarms_rules_and_pollers(stage: str) -> None:
    table = cost_tables()[stage]
    keys = sum(len(resources(path.name, "AWS::KMS::Key")) for path in CFN_DIR.glob("*.yaml"))
    # The RDS-managed master secret (ManageMasterUserPassword) is the one more.
    secrets = len(resources("keys.yaml", "AWS::SecretsManager::Secret")) + 1
    alarms = len(resources("observability.yaml", "AWS::CloudWatch::Alarm"))
    rules = len(template("edge.yaml")["Resources"]["WebAcl"]["Properties"]["Rules"])
    pollers = [event for function in resources("api-merge.yaml", "AWS::Serverless::Function")
               for event in function["Properties"].get("Events", {}).values()
               if "ProvisionedPollerConfig" in event.get("Properties", {})]
    assert table.row("KMS keys").quantity == keys
    assert table.row("`SigningSecret`").quantity == secrets
    assert table.row("CloudWatch alarms").quantity == alarms
    assert table.row("WAF rules").quantity == rules
    assert table.row("event pollers").quantity == HOURS * len(pollers)
    assert table.row("RDS Proxy, per vCPU").quantity == HOURS * 2 * len(
        resources("data.yaml", "AWS::RDS::DBInstance"))
