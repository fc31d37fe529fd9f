"""The web app shipped to the web stack: every file of the build with its Content-Type and
Cache-Control, the stage's config.json, files no longer in the build deleted, and the
entry points invalidated in CloudFront (iac/README.md, stack web)."""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.settings import PROJECT_ROOT

Report = Callable[[str], None]

WEB_DIR = PROJECT_ROOT / "web"
DEFAULT_BUILD_DIR = WEB_DIR / "dist"
# Another build to ship (a CI artifact, say); the deploy never builds that one itself.
BUILD_DIR = Path(os.environ.get("EXCHANGE_WEB_DIST", DEFAULT_BUILD_DIR))
BUILD_COMMAND = "cd web && npm ci && npm run build"
INDEX_KEY = "index.html"
CONFIG_KEY = "config.json"
# Vite names everything under assets/ by its content hash: a changed file is a new key.
HASHED_PREFIX = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
# Every other file keeps its name across builds: browsers and CloudFront revalidate it.
REVALIDATE = "no-cache"
# "/" too: CloudFront caches the default root object under the path viewers ask for.
INVALIDATED_PATHS = ("/", "/index.html", "/config.json")
DELETE_BATCH = 1000  # DeleteObjects' limit
TEXT_TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
              ".css": "text/css", ".txt": "text/plain", ".svg": "image/svg+xml",
              ".json": "application/json", ".map": "application/json",
              ".webmanifest": "application/manifest+json", ".xml": "application/xml"}
# Explicit, because mimetypes reads the host's /etc/mime.types, which differ between hosts.
BINARY_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif",
                ".ico": "image/x-icon", ".woff": "font/woff", ".woff2": "font/woff2",
                ".ttf": "font/ttf", ".otf": "font/otf", ".wasm": "application/wasm"}


class WebAssetsError(Exception):
    """The web app cannot be shipped; the message says what to do."""


@dataclass(frozen=True)
class WebFile:
    key: str
    body: bytes
    content_type: str
    cache_control: str


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    if suffix in TEXT_TYPES:
        return f"{TEXT_TYPES[suffix]}; charset=utf-8"
    guessed = BINARY_TYPES.get(suffix) or mimetypes.guess_type(key)[0]
    return guessed or "application/octet-stream"


def cache_control(key: str) -> str:
    return IMMUTABLE if key.startswith(HASHED_PREFIX) else REVALIDATE


def web_file(key: str, body: bytes) -> WebFile:
    return WebFile(key, body, content_type(key), cache_control(key))


def locate_build(report: Report, build_dir: Path = BUILD_DIR) -> Path:
    """The build to ship: `build_dir` when it holds index.html; for web/dist, built with
    `npm run build` first when it does not."""
    index = build_dir / INDEX_KEY
    if index.is_file():
        return build_dir
    if build_dir != DEFAULT_BUILD_DIR:
        raise WebAssetsError(f"{index} is missing: EXCHANGE_WEB_DIST must name a built web "
                             "app (its index.html and assets/)")
    npm = shutil.which("npm")
    if npm is None or not (WEB_DIR / "node_modules").is_dir():
        raise WebAssetsError(f"the web app is not built ({index} is missing) and cannot be "
                             f"built here (npm or web/node_modules is missing): run "
                             f"`{BUILD_COMMAND}`, then rerun")
    report("web: no build in web/dist; running npm run build in web/")
    result = subprocess.run([npm, "run", "build"], cwd=WEB_DIR, capture_output=True,
                            text=True, timeout=900, check=False)
    if result.returncode != 0 or not index.is_file():
        raise WebAssetsError(f"npm run build in web/ failed:\n{result.stdout[-4000:]}"
                             f"{result.stderr[-4000:]}\nfix the web app until `{BUILD_COMMAND}`"
                             " passes, then rerun")
    return build_dir


def app_config(stage: str, api_outputs: Mapping[str, str]) -> dict[str, str]:
    """config.json for the stage: the API is the page's own origin (the distribution
    routes its paths), so only the streams' URL and the environment's name."""
    websocket = api_outputs.get("WebsocketConnectEndpointURL")
    if not websocket:
        raise WebAssetsError("the api stack has no WebsocketConnectEndpointURL output for the "
                             "web app's config.json: see iac/README.md")
    return {"wsBaseUrl": websocket, "environment": stage}


def build_files(build_dir: Path, config: Mapping[str, str]) -> list[WebFile]:
    """Every file of the build and config.json (the build's own, a local one, is replaced),
    in upload order: the hashed assets before the entry points that name them, so a viewer
    never loads an index.html whose assets are not there yet."""
    files = [web_file(path.relative_to(build_dir).as_posix(), path.read_bytes())
             for path in sorted(build_dir.rglob("*")) if path.is_file()]
    files = [f for f in files if f.key != CONFIG_KEY]
    files.append(web_file(CONFIG_KEY, json.dumps(config, indent=1).encode()))
    return sorted(files, key=lambda f: (f.key in (INDEX_KEY, CONFIG_KEY), f.key))


@dataclass(frozen=True)
class Shipped:
    uploaded: int
    deleted: tuple[str, ...]


class WebAssets:
    """The web stack's bucket and distribution, through boto3's S3 and CloudFront clients."""

    def __init__(self, s3: Any, cloudfront: Any, report: Report) -> None:
        self.s3 = s3
        self.cloudfront = cloudfront
        self.report = report

    def keys(self, bucket: str) -> set[str]:
        found: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update(item["Key"] for item in page.get("Contents", []))
        return found

    def preview(self, files: list[WebFile], bucket: str | None) -> None:
        """What a deploy would upload and delete, changing nothing."""
        where = f"s3://{bucket}" if bucket else "the web stack's bucket (not deployed yet)"
        for file in files:
            self.report(f"web: would upload {file.key} to {where} ({file.content_type}; "
                        f"Cache-Control {file.cache_control}; {len(file.body)} bytes)")
        for key in sorted(self.keys(bucket) - {f.key for f in files}) if bucket else []:
            self.report(f"web: would delete {key}")

    def ship(self, files: list[WebFile], bucket: str, distribution_id: str) -> Shipped:
        """Upload every file, delete what the build no longer has, invalidate the entry
        points (the hashed assets are new keys, nothing to invalidate)."""
        stale = sorted(self.keys(bucket) - {f.key for f in files})
        for file in files:
            self.s3.put_object(Bucket=bucket, Key=file.key, Body=file.body,
                               ContentType=file.content_type, CacheControl=file.cache_control)
        for start in range(0, len(stale), DELETE_BATCH):
            batch = stale[start:start + DELETE_BATCH]
            self.s3.delete_objects(Bucket=bucket, Delete={
                "Objects": [{"Key": key} for key in batch], "Quiet": True})
        reference = "exchange-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        self.cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
            "Paths": {"Quantity": len(INVALIDATED_PATHS), "Items": list(INVALIDATED_PATHS)},
            "CallerReference": reference})
        return Shipped(len(files), tuple(stale))
