"""What CloudFormation receives besides parameters: the API packaged by `chalice package`
(merged with api-merge.yaml), and the deploy bucket that holds the Lambda code and every
template too large to send inline."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from opscli.deploy.cloudformation import MAX_TEMPLATE_BODY_BYTES, Template
from opscli.deploy.stages import API_DIR, TEMPLATES_DIR

CODE_URI_KEYS = ("CodeUri", "ContentUri")  # functions' and layers' local paths


class PackagingError(Exception):
    """Packaging the API failed; the message says what to do."""


def tool(name: str) -> str:
    """A console script of this virtualenv (the deploy runs from .venv/bin/exchange)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def package_api(stage: str, region: str, out_dir: Path) -> Path:
    """`chalice package` for the stage, merged with api-merge.yaml; the SAM template's path
    (sam.json, or sam.yaml as chalice names it after a YAML merge template; its
    deployment.zip beside it)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [tool("chalice"), "package", "--stage", stage, "--merge-template",
               str(TEMPLATES_DIR / "api-merge.yaml"), str(out_dir)]
    # chalice only needs the region to name ARNs in the template; nothing is called.
    env = {**os.environ, "AWS_DEFAULT_REGION": region}
    result = subprocess.run(command, cwd=API_DIR, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise PackagingError(f"chalice package failed:\n{result.stdout}{result.stderr}\n"
                             "fix api/.chalice/config.json, api/requirements.txt or "
                             "iac/cloudformation/api-merge.yaml, then rerun")
    return next(out_dir.glob("sam.*"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DeployBucket:
    """`exchange-<stage>-deploy-<account>`: versioned, encrypted, never public."""

    def __init__(self, s3: Any, stage: str, account: str, region: str) -> None:
        self.s3 = s3
        self.region = region
        self.name = f"exchange-{stage}-deploy-{account}"

    def exists(self) -> bool:
        try:
            self.s3.head_bucket(Bucket=self.name)
        except ClientError:
            return False
        return True

    def ensure(self) -> None:
        if self.exists():
            return
        location = ({} if self.region == "us-east-1"
                    else {"CreateBucketConfiguration": {"LocationConstraint": self.region}})
        self.s3.create_bucket(Bucket=self.name, **location)
        self.s3.put_public_access_block(Bucket=self.name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        self.s3.put_bucket_encryption(Bucket=self.name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                       "BucketKeyEnabled": True}]})
        self.s3.put_bucket_versioning(Bucket=self.name,
                                      VersioningConfiguration={"Status": "Enabled"})

    def upload(self, prefix: str, data: bytes, suffix: str) -> str:
        """Store `data` under its content hash (an unchanged file keeps its key, so an
        unchanged template stays unchanged); its key."""
        key = f"{prefix}/{sha256(data)}{suffix}"
        try:
            self.s3.head_object(Bucket=self.name, Key=key)
        except ClientError:
            self.s3.put_object(Bucket=self.name, Key=key, Body=data)
        return key

    def url(self, key: str) -> str:
        return f"https://{self.name}.s3.{self.region}.amazonaws.com/{key}"

    def empty_and_delete(self) -> int:
        """Delete every object version and the bucket; how many versions went."""
        if not self.exists():
            return 0
        deleted = empty_bucket(self.s3, self.name)
        self.s3.delete_bucket(Bucket=self.name)
        return deleted


def empty_bucket(s3: Any, name: str) -> int:
    """Delete every object version in a bucket; how many went."""
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        versions = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if versions:
            s3.delete_objects(Bucket=name, Delete={"Objects": versions})
            deleted += len(versions)
    return deleted


def point_code_at_s3(template: dict[str, Any], bucket: DeployBucket, base: Path) -> None:
    """What `aws cloudformation package` does: upload each local code path the template
    names (chalice's deployment.zip) and name it by its S3 URI instead."""
    uploaded: dict[str, str] = {}
    resources = [r.get("Properties", {}) for r in template.get("Resources", {}).values()]
    for properties in [template.get("Globals", {}).get("Function", {}), *resources]:
        for key in CODE_URI_KEYS:
            local = properties.get(key)
            if isinstance(local, str) and not local.startswith("s3://"):
                if local not in uploaded:
                    data = (base / local).read_bytes()
                    uploaded[local] = f"s3://{bucket.name}/{bucket.upload('code', data, '.zip')}"
                properties[key] = uploaded[local]


def as_sent(stack: str, text: str, bucket: DeployBucket | None) -> Template:
    """The template inline, or uploaded to the deploy bucket when it is too large."""
    data = text.encode()
    if len(data) <= MAX_TEMPLATE_BODY_BYTES:
        return Template(body=text)
    if bucket is None:
        raise PackagingError(f"the {stack} template ({len(data)} bytes) needs the deploy bucket,"
                             " which a dry run does not create: deploy once without --dry-run")
    return Template(url=bucket.url(bucket.upload(f"templates/{stack}", data, ".json")))


def render_json(template: dict[str, Any]) -> str:
    return json.dumps(template, indent=1, sort_keys=True)
