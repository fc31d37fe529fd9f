"""Every stack template lints clean, scans clean, and imports only what an earlier stack exports.

cfn-lint and checkov are the deploy's quality bar (iac/README.md): no error or warning,
no failed check unless the resource's Metadata skips it with a reason. The wiring
test holds the README's contract: exports are named `exchange-${Stage}-<Output>`, and
every `Fn::ImportValue` names an export of a stack deployed before the importer.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import cfn_yaml

REPO = Path(__file__).resolve().parents[3]
CFN_DIR = REPO / "iac" / "cloudformation"
CHECKOV = REPO / ".local" / "tools" / "checkov" / "bin" / "checkov"
# A fragment merged into `chalice package`'s output; the merged template is linted whole.
FRAGMENTS = {"api-merge.yaml"}
TEMPLATES = sorted(path for path in CFN_DIR.glob("*.yaml") if path.name not in FRAGMENTS)
# iac/README.md: the stacks in deploy order; api is `chalice package` + api-merge.yaml.
DEPLOY_ORDER = ["network", "keys", "data", "cache", "streaming", "cluster", "api", "edge",
                "observability", "web"]
CHALICE_OUTPUTS = {"RestAPIId", "EndpointURL", "WebsocketAPIId", "WebsocketConnectEndpointURL"}
EXPORT_NAME = re.compile(r"^exchange-\$\{Stage\}-([A-Z][A-Za-z0-9]*)$")


def load(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(path))
    return template


def stack_name(path: Path) -> str:
    return "api" if path.name == "api-merge.yaml" else path.stem


def all_templates() -> dict[str, dict[str, Any]]:
    """Every template, fragments included: their imports and exports are wiring too."""
    return {stack_name(path): load(path) for path in sorted(CFN_DIR.glob("*.yaml"))}


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def sub_string(value: Any) -> str:
    """The `exchange-${Stage}-<Name>` spelled by an export or import name."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        return str(sub if isinstance(sub, str) else sub[0])
    raise AssertionError(f'name {value!r} is not !Sub "exchange-${{Stage}}-<Name>"')


def imported_names(template: dict[str, Any]) -> set[str]:
    return {sub_string(node["Fn::ImportValue"]) for node in walk(template)
            if isinstance(node, dict) and "Fn::ImportValue" in node}


def test_the_deploy_order_lists_every_template() -> None:
    assert {stack_name(path) for path in CFN_DIR.glob("*.yaml")} <= set(DEPLOY_ORDER)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_cfn_lint_finds_no_error_or_warning(path: Path) -> None:
    findings = [f"{match.linenumber}: {match.rule.id} {match.message}"
                for match in lint_file(path) if match.rule.id[0] in "EW"]
    assert findings == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_every_template_takes_the_stage(path: Path) -> None:
    stage = load(path)["Parameters"]["Stage"]
    assert stage["Type"] == "String"
    assert sorted(stage["AllowedValues"]) == ["dev", "prod"]


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    """One checkov run over every template (only failed checks listed: --quiet)."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run scripts/install.sh")
    files = [arg for path in TEMPLATES for arg in ("-f", str(path))]
    result = subprocess.run(
        [str(CHECKOV), *files, "--framework", "cloudformation", "--output", "json", "--quiet",
         "--skip-download"],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_checkov_parses_every_template(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    failed = [f"{Path(check['file_path']).name} {check['resource']}: {check['check_id']} "
              f"{check['check_name']}"
              for check in checkov_report["results"].get("failed_checks", [])]
    assert failed == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_every_checkov_skip_says_why(path: Path) -> None:
    for name, resource in load(path).get("Resources", {}).items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), f"{name}: {skip}"
            assert len(str(skip.get("comment", "")).split()) >= 5, (
                f"{name} skips {skip['id']} without saying why")


def test_exports_are_named_after_their_output() -> None:
    for stack, template in all_templates().items():
        for output, spec in template.get("Outputs", {}).items():
            if "Export" in spec:
                name = sub_string(spec["Export"]["Name"])
                assert name == f"exchange-${{Stage}}-{output}", f"{stack}.{output}"


def exported_outputs(template: dict[str, Any]) -> set[str]:
    return {output for output, spec in template.get("Outputs", {}).items() if "Export" in spec}


def test_every_import_names_an_export_of_an_earlier_stack() -> None:
    templates = all_templates()
    exported_by = dict.fromkeys(CHALICE_OUTPUTS, "api")
    for stack, template in templates.items():
        exported_by.update(dict.fromkeys(exported_outputs(template), stack))
    for stack, template in templates.items():
        for name in imported_names(template):
            match = EXPORT_NAME.match(name)
            assert match, f"{stack} imports {name!r}, not exchange-${{Stage}}-<Output>"
            exporter = exported_by.get(match.group(1))
            assert exporter is not None, f"{stack} imports {name}, which no stack exports"
            assert DEPLOY_ORDER.index(exporter) < DEPLOY_ORDER.index(stack), (
                f"{stack} imports {name} from {exporter}, deployed after it")
