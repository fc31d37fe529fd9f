"""The local Prometheus (Debian's ``prometheus`` package): scrapes every local process's
/metrics, evaluates the alert and SLO rules of iac/observability/rules, and answers on
loopback only.

``python -m opscli.stack.prometheus`` writes $EXCHANGE_STATE_DIR/prometheus/prometheus.yml
from the settings (the same ports ``exchange up`` gives the processes) and then becomes
the Prometheus server (exec), so that the pid file `exchange up` keeps is the server's.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from chalicelib.settings import METRICS_PORT_OFFSETS, PROJECT_ROOT, Settings

RULES_DIR = PROJECT_ROOT / "iac" / "observability" / "rules"
# Locally a short interval: a killed matcher shows within seconds, and a minute of the
# demo gives rate() windows enough samples. (In AWS the managed scraper's 30 s.)
SCRAPE_INTERVAL = "5s"
EVALUATION_INTERVAL = "5s"
RETENTION = "2d"
# Every role whose process serves /metrics, the matcher on its health port.
SCRAPED_ROLES = ("matcher", *METRICS_PORT_OFFSETS)


def home(settings: Settings) -> Path:
    return settings.state_dir / "prometheus"


def config_path(settings: Settings) -> Path:
    return home(settings) / "prometheus.yml"


def scrape_config(job: str, target: str) -> dict[str, Any]:
    return {"job_name": job, "static_configs": [{"targets": [target]}]}


def prometheus_config(settings: Settings) -> dict[str, Any]:
    """prometheus.yml: one job per role (named after it), Prometheus itself, the rules."""
    jobs = [scrape_config(role, f"127.0.0.1:{settings.metrics_port(role)}")
            for role in SCRAPED_ROLES]
    jobs.append(scrape_config("prometheus", f"127.0.0.1:{settings.prometheus_port}"))
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL,
                   "evaluation_interval": EVALUATION_INTERVAL,
                   "external_labels": {"environment": "local"}},
        "rule_files": [str(RULES_DIR / "*.yml")],
        "scrape_configs": jobs,
    }


def write_config(settings: Settings) -> Path:
    path = config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: no YAML writer needed at run time.
    path.write_text(json.dumps(prometheus_config(settings), indent=2) + "\n")
    return path


def server_command(settings: Settings) -> list[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed: run scripts/install.sh")
    return [binary, f"--config.file={config_path(settings)}",
            f"--web.listen-address=127.0.0.1:{settings.prometheus_port}",
            f"--storage.tsdb.path={home(settings) / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            # One JSON object per line, as every local process logs.
            "--log.format=json"]


def main() -> None:
    settings = Settings()
    write_config(settings)
    command = server_command(settings)
    os.execv(command[0], command)  # noqa: S606 - our own argv, no shell


if __name__ == "__main__":
    main()
