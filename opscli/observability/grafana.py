"""Publish the dashboards to a stage's Amazon Managed Grafana workspace.

`exchange deploy` runs this after the observability stack; alone:

    python -m opscli.observability.grafana --stage dev [--region R]

Managed Grafana has no CloudFormation resource for a data source or a dashboard, so they
go through the workspace's HTTP API with a service account token that lives ten minutes
and is deleted afterwards: the workspace's Prometheus data source (signed with the
workspace's IAM role), the folder "Exchange" and every dashboard of
iac/observability/dashboards, overwritten by uid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from opscli.deploy.stages import load_stage
from opscli.observability.dashboards import build

PROMETHEUS_UID = "exchange-prometheus"
FOLDER_UID = "exchange"
SERVICE_ACCOUNT = "exchange-deploy"
TOKEN_SECONDS = 600


class GrafanaError(Exception):
    """The workspace refused a call; the message names it and its answer."""


@dataclass(frozen=True)
class GrafanaApi:
    url: str
    token: str
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise GrafanaError(f"{self.url} is not a Grafana workspace's http(s) URL")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The status and JSON answer of one call; 404 is an answer, other errors raise."""
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            self.url.rstrip("/") + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(  # noqa: S310 - http(s) only
                    request, timeout=self.timeout_seconds) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return 404, None
            raise GrafanaError(f"{method} {path} answered {exc.code}: "
                               f"{exc.read().decode(errors='replace')[:300]}") from exc


def prometheus_datasource(prometheus_url: str, region: str) -> dict[str, Any]:
    """The workspace's Prometheus, queried with SigV4 as the workspace's IAM role."""
    return {"uid": PROMETHEUS_UID, "name": "Amazon Managed Prometheus", "type": "prometheus",
            "access": "proxy", "url": prometheus_url.rstrip("/"), "isDefault": True,
            "jsonData": {"httpMethod": "POST", "sigV4Auth": True,
                         "sigV4AuthType": "ec2_iam_role", "sigV4Region": region}}


def publish(api: GrafanaApi, prometheus_url: str, region: str) -> list[str]:
    """The data source, the folder and every dashboard; what was published."""
    datasource = prometheus_datasource(prometheus_url, region)
    status, _ = api.call("GET", f"/api/datasources/uid/{PROMETHEUS_UID}")
    if status == 404:
        api.call("POST", "/api/datasources", datasource)
    else:
        api.call("PUT", f"/api/datasources/uid/{PROMETHEUS_UID}", datasource)
    status, _ = api.call("GET", f"/api/folders/{FOLDER_UID}")
    if status == 404:
        api.call("POST", "/api/folders", {"uid": FOLDER_UID, "title": "Exchange"})
    published = []
    for dashboard in build().values():
        api.call("POST", "/api/dashboards/db", {
            "dashboard": dashboard, "folderUid": FOLDER_UID, "overwrite": True,
            "message": "exchange deploy: iac/observability/dashboards"})
        published.append(str(dashboard["title"]))
    return published


@contextmanager
def workspace_token(grafana: Any, workspace_id: str) -> Iterator[str]:
    """A short-lived admin token of the deploy's service account, deleted on the way out."""
    accounts = grafana.list_workspace_service_accounts(workspaceId=workspace_id)
    account = next((a for a in accounts.get("serviceAccounts", [])
                    if a["name"] == SERVICE_ACCOUNT), None)
    if account is None:
        account = grafana.create_workspace_service_account(
            workspaceId=workspace_id, name=SERVICE_ACCOUNT, grafanaRole="ADMIN")
    token = grafana.create_workspace_service_account_token(
        workspaceId=workspace_id, serviceAccountId=account["id"],
        name=f"{SERVICE_ACCOUNT}-{int(time.time())}", secondsToLive=TOKEN_SECONDS,
    )["serviceAccountToken"]
    try:
        yield str(token["key"])
    finally:
        grafana.delete_workspace_service_account_token(
            workspaceId=workspace_id, serviceAccountId=account["id"], tokenId=token["id"])


def publish_to_stage(session: Any, outputs: dict[str, str], region: str,
                     report: Callable[[str], None]) -> list[str]:
    """Publish into the workspace the observability stack's outputs name."""
    workspace_id = outputs["GrafanaWorkspaceId"]
    with workspace_token(session.client("grafana"), workspace_id) as token:
        published = publish(GrafanaApi(outputs["GrafanaUrl"], token),
                            outputs["PrometheusEndpoint"], region)
    report(f"dashboards: {len(published)} published in {outputs['GrafanaUrl']}")
    return published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--region", help="default: the region in stages/<stage>.json")
    args = parser.parse_args(argv)
    plan = load_stage(args.stage, args.region)
    session = boto3.session.Session(region_name=plan.region)
    try:
        stack = session.client("cloudformation").describe_stacks(
            StackName=plan.stack("observability").stack_name(args.stage))["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        publish_to_stage(session, outputs, plan.region, print)
    except (ClientError, BotoCoreError, GrafanaError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
