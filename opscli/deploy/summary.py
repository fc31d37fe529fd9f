"""What a deploy ends with: each stack's fate and where the exchange answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class StackLine:
    name: str
    status: str  # created, updated, unchanged, dry-run
    note: str = ""


def api_url(outputs: Mapping[str, Mapping[str, str]], domain: str) -> str:
    """The custom domain when the stage has one (its base path maps the API's stage)."""
    if domain:
        return f"https://{domain}/"
    return outputs.get("api", {}).get("EndpointURL", "(not deployed)")


def render_summary(stage: str, account: str, region: str, stacks: list[StackLine],
                   outputs: Mapping[str, Mapping[str, str]], domain: str,
                   manifests: str) -> str:
    width = max(len(line.name) for line in stacks) + 2
    rows = [f"exchange-{stage} in account {account}, region {region}:"]
    rows += [f"  {line.name:<{width}}{line.status}{'  ' + line.note if line.note else ''}"
             for line in stacks]
    websocket = outputs.get("api", {}).get("WebsocketConnectEndpointURL", "(not deployed)")
    dashboard = outputs.get("observability", {}).get("DashboardUrl", "(not deployed)")
    cluster = outputs.get("cluster", {})
    web_app = outputs.get("web", {}).get("WebUrl", "(not deployed)")
    rows += [f"  {'Web app':<{width}}{web_app}",
             f"  {'API':<{width}}{api_url(outputs, domain)}",
             f"  {'WebSocket':<{width}}{websocket}",
             f"  {'Dashboard':<{width}}{dashboard}",
             f"  {'Images':<{width}}{cluster.get('MatcherImageRepositoryUri', '(not deployed)')}",
             # KEDA's service account needs it (docs/operations.md, prerequisites).
             f"  {'KEDA role':<{width}}{cluster.get('KedaOperatorRoleArn', '(not deployed)')}",
             f"  {'Manifests':<{width}}{manifests}"]
    return "\n".join(rows)
