"""The Chalice app answers through Chalice's test client, and `chalice package`
builds a Lambda bundle that really contains the shared chalicelib (a symlink)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from chalice.test import Client

from chalicelib.settings import PROJECT_ROOT

API_DIR = PROJECT_ROOT / "api"


def test_ping_answers_an_empty_object(client: Client) -> None:
    response = client.http.get("/api/v3/ping")

    assert response.status_code == 200
    assert response.json_body == {}


def test_time_is_the_servers_clock_in_milliseconds(client: Client) -> None:
    before = time.time_ns() // 1_000_000
    response = client.http.get("/api/v3/time")
    after = time.time_ns() // 1_000_000

    assert response.status_code == 200
    assert before <= response.json_body["serverTime"] <= after


def test_chalice_package_bundles_the_app_and_the_shared_chalicelib(tmp_path: Path) -> None:
    out = tmp_path / "package"
    chalice = Path(sys.executable).parent / "chalice"
    result = subprocess.run(
        [str(chalice), "package", "--stage", "prod", str(out)], cwd=API_DIR,
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})

    assert result.returncode == 0, result.stderr
    assert "Could not install dependencies" not in result.stdout + result.stderr
    with zipfile.ZipFile(out / "deployment.zip") as bundle:
        names = set(bundle.namelist())
    assert {"app.py", "chalicelib/__init__.py", "chalicelib/settings.py",
            "chalicelib/adapters/migrations.py",
            "chalicelib/migrations/0001_core_schema.sql"} <= names
    for package in ("pydantic_core/", "confluent_kafka/", "psycopg_binary/", "argon2/",
                    "cryptography/"):
        assert any(name.startswith(package) for name in names), package
    template = json.loads((out / "sam.json").read_text())
    functions = [r for r in template["Resources"].values()
                 if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    assert all(f["Properties"]["Environment"]["Variables"]["EXCHANGE_ENV"] == "aws"
               for f in functions)
