"""Stack 10 (web) and what `exchange deploy` ships to it.

The template is rendered as CloudFormation would for a stage (test_cluster_edge_observability's
`Rendered`: conditions decided, intrinsics evaluated, imports read from the contract table of
iac/README.md): the headers every response carries, which paths reach the REST API and how,
who may read the bucket. Then the shipping's own rules: each file's Content-Type and
Cache-Control, config.json, the upload order, and a missing build explained.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.entrypoints.http.requests import EDGE_SECRET_HEADER, VIEWER_IP_HEADER
from opscli.deploy import web_assets
from opscli.deploy.stages import STACKS, WEB_STACK
from tests.unit.iac.test_cluster_edge_observability import ACCOUNT, REGION, Rendered, export

API_PATHS = ["/api/*", "/sapi/*", "/v1/*", "/openapi.json"]
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CERTIFICATE = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0a1b2c3d-0000-4000-8000-000000000000"


class RenderedIn(Rendered):
    """Rendered in another region than the shared one (CLOUDFRONT-scope ACLs: us-east-1)."""

    def __init__(self, region: str, template_name: str, **parameters: str) -> None:
        self.region = region
        super().__init__(template_name, **parameters)

    def ref(self, name: str) -> Any:
        return self.region if name == "AWS::Region" else super().ref(name)


def web(stage: str = "dev", region: str = REGION, **parameters: str) -> Rendered:
    return RenderedIn(region, "web.yaml", Stage=stage, **parameters)


def distribution(rendered: Rendered) -> dict[str, Any]:
    config: dict[str, Any] = rendered.props("Distribution")["DistributionConfig"]
    return config


def security_headers(rendered: Rendered) -> dict[str, Any]:
    config = rendered.props("SecurityHeadersPolicy")["ResponseHeadersPolicyConfig"]
    headers: dict[str, Any] = config["SecurityHeadersConfig"]
    return headers


def csp_directives(rendered: Rendered) -> dict[str, list[str]]:
    """The policy's directives; the fake WebSocket API id (it has a space) read as WSID."""
    policy = security_headers(rendered)["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    policy = policy.replace(export("dev", "WebsocketAPIId"), "WSID")
    directives = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in directives}


# --- the headers ------------------------------------------------------------------------

def test_csp_allows_only_this_origin_and_the_websocket_apis() -> None:
    websocket = f"wss://WSID.execute-api.{REGION}.amazonaws.com"

    assert csp_directives(web()) == {
        "default-src": ["'self'"], "script-src": ["'self'"], "style-src": ["'self'"],
        "img-src": ["'self'", "data:"], "connect-src": ["'self'", websocket],
        "frame-ancestors": ["'none'"], "base-uri": ["'self'"], "form-action": ["'self'"],
        "object-src": ["'none'"]}


def test_hsts_nosniff_deny_framing_and_referrer_policy_override_every_origin() -> None:
    headers = security_headers(web())

    assert headers["StrictTransportSecurity"] == {
        "Override": True, "AccessControlMaxAgeSec": 63072000, "IncludeSubdomains": True,
        "Preload": True}
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"Override": True, "FrameOption": "DENY"}
    assert headers["ReferrerPolicy"] == {"Override": True,
                                         "ReferrerPolicy": "strict-origin-when-cross-origin"}
    assert headers["ContentSecurityPolicy"]["Override"] is True


def test_every_behaviour_carries_the_security_headers() -> None:
    config = distribution(web())

    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert {b["ResponseHeadersPolicyId"] for b in behaviours} == {"ref:SecurityHeadersPolicy"}


# --- the routing ------------------------------------------------------------------------

def test_the_apis_paths_reach_the_rest_apis_stage_uncached_with_every_header_but_host() -> None:
    config = distribution(web(RestApiStageName="v9"))

    api_behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert list(api_behaviours) == API_PATHS
    for behaviour in api_behaviours.values():
        assert behaviour["TargetOriginId"] == "rest-api"
        assert behaviour["CachePolicyId"] == CACHING_DISABLED
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
        assert behaviour["FunctionAssociations"] == [{
            "EventType": "viewer-request", "FunctionARN": "getatt:ViewerIpFunction.FunctionARN"}]
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
        assert {"POST", "PUT", "DELETE"} <= set(behaviour["AllowedMethods"])
    origin = next(o for o in config["Origins"] if o["Id"] == "rest-api")
    assert origin["DomainName"] == (f"{export('dev', 'RestAPIId')}.execute-api.{REGION}"
                                    ".amazonaws.com")
    assert origin["OriginPath"] == "/v9"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_the_api_origin_proves_itself_with_the_keys_stacks_secret_never_a_literal() -> None:
    origins = {o["Id"]: o for o in distribution(web())["Origins"]}

    assert origins["rest-api"]["OriginCustomHeaders"] == [{
        "HeaderName": EDGE_SECRET_HEADER,
        "HeaderValue": "{{resolve:secretsmanager:" + export("dev", "EdgeSecretArn")
                       + ":SecretString:token}}"}]
    assert "OriginCustomHeaders" not in origins["web-bucket"]


def run_viewer_ip_function(event: dict[str, Any]) -> dict[str, Any]:
    """The distribution's viewer-request function run by Node on a CloudFront event."""
    code = web().props("ViewerIpFunction")["FunctionCode"]
    script = (f"{code}\nhandler({json.dumps(event)})"
              ".then(request => process.stdout.write(JSON.stringify(request)));")
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True,
                            timeout=30, check=True)
    request: dict[str, Any] = json.loads(result.stdout)
    return request


def test_the_viewers_ip_replaces_whatever_the_viewer_sent_under_its_name() -> None:
    function = web().props("ViewerIpFunction")
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["AutoPublish"] is True
    header = VIEWER_IP_HEADER.lower()
    forged = {header: {"value": "1.1.1.1", "multiValue": [{"value": "1.1.1.1"}]},
              "authorization": {"value": "Bearer t"}}

    request = run_viewer_ip_function({
        "viewer": {"ip": "2001:db8::7"},
        "request": {"method": "POST", "uri": "/api/v3/order", "headers": forged}})

    assert request["headers"] == {header: {"value": "2001:db8::7"},
                                  "authorization": {"value": "Bearer t"}}


def test_everything_else_is_the_bucket_over_https_compressed_with_the_origins_cache_rules() -> None:
    rendered = web()

    config = distribution(rendered)
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "web-bucket"
    assert "FunctionAssociations" not in default
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["AllowedMethods"] == ["GET", "HEAD"]
    assert default["Compress"] is True
    assert config["DefaultRootObject"] == "index.html"
    assert config["HttpVersion"] == "http2and3"
    # The deploy's Cache-Control decides (assets/* a year, the rest no-cache): no floor.
    cache = rendered.props("StaticCachePolicy")["CachePolicyConfig"]
    assert cache["MinTTL"] == 0
    assert cache["MaxTTL"] >= 31536000
    keyed = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert keyed["EnableAcceptEncodingBrotli"] is True
    assert keyed["EnableAcceptEncodingGzip"] is True


# --- the bucket -------------------------------------------------------------------------

def test_the_bucket_is_private_encrypted_owner_enforced_read_by_this_distribution_only() -> None:
    rendered = web()

    bucket = rendered.props("WebBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    statements = {s["Sid"]: s for s in
                  rendered.props("WebBucketPolicy")["PolicyDocument"]["Statement"]}
    assert statements["TlsOnly"]["Effect"] == "Deny"
    assert statements["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    reader = statements["ReadByThisDistributionOnly"]
    assert reader["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert reader["Action"] == "s3:GetObject"
    assert reader["Condition"] == {"StringEquals": {
        "AWS:SourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/ref:Distribution"}}
    origin = next(o for o in distribution(rendered)["Origins"] if o["Id"] == "web-bucket")
    assert origin["OriginAccessControlId"] == "getatt:OriginAccessControl.Id"
    access = rendered.props("OriginAccessControl")["OriginAccessControlConfig"]
    assert (access["SigningBehavior"], access["SigningProtocol"]) == ("always", "sigv4")


# --- domain, TLS, WAF, outputs ----------------------------------------------------------

def test_without_a_domain_cloudfronts_own_name_serves_and_is_the_web_url() -> None:
    rendered = web()

    config = distribution(rendered)
    assert "Aliases" not in config
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    assert rendered.outputs["WebUrl"]["Value"] == "https://getatt:Distribution.DomainName/"
    assert set(rendered.outputs) == {"WebBucketName", "WebDistributionId",
                                     "WebDistributionDomainName", "WebUrl"}


def test_a_custom_domain_is_served_over_tls_1_2_with_its_certificate() -> None:
    rendered = web(DomainName="app.example.com", CertificateArn=CERTIFICATE)

    config = distribution(rendered)
    assert config["Aliases"] == ["app.example.com"]
    assert config["ViewerCertificate"] == {"AcmCertificateArn": CERTIFICATE,
                                           "SslSupportMethod": "sni-only",
                                           "MinimumProtocolVersion": "TLSv1.2_2021"}
    assert rendered.outputs["WebUrl"]["Value"] == "https://app.example.com/"


def test_in_us_east_1_the_stack_puts_its_own_cloudfront_scope_acl_in_front() -> None:
    rendered = web(region="us-east-1", RateLimitPerIp="700")

    acl = rendered.props("WebAcl")
    assert acl["Scope"] == "CLOUDFRONT"
    rate, = (r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"])
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == "700"
    assert distribution(rendered)["WebACLId"] == "getatt:WebAcl.Arn"


def test_elsewhere_a_given_acl_is_used_and_none_is_made() -> None:
    given = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/shared/0a1b2c3d"

    assert "WebACLId" not in distribution(web())
    with_given = web(region="us-east-1", WebAclArn=given)
    assert "WebAcl" not in with_given.resources
    assert distribution(with_given)["WebACLId"] == given


def test_the_web_stack_is_deployed_last() -> None:
    assert [name for name, _ in STACKS][-1] == WEB_STACK


# --- what the deploy ships --------------------------------------------------------------

@pytest.mark.parametrize(("key", "content_type", "cache_control"), [
    ("index.html", "text/html; charset=utf-8", "no-cache"),
    ("config.json", "application/json; charset=utf-8", "no-cache"),
    ("assets/index-1a2b3c.js", "text/javascript; charset=utf-8",
     "public, max-age=31536000, immutable"),
    ("assets/index-1a2b3c.js.map", "application/json; charset=utf-8",
     "public, max-age=31536000, immutable"),
    ("assets/index-4d5e6f.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable"),
    ("assets/inter-7a8b9c.woff2", "font/woff2", "public, max-age=31536000, immutable"),
    ("favicon.svg", "image/svg+xml; charset=utf-8", "no-cache"),
    ("robots.txt", "text/plain; charset=utf-8", "no-cache"),
    ("assets/blob-0a0b0c.unknownext", "application/octet-stream",
     "public, max-age=31536000, immutable"),
])
def test_each_file_gets_its_type_and_cache_rule(key: str, content_type: str,
                                                cache_control: str) -> None:
    file = web_assets.web_file(key, b"")

    assert (file.content_type, file.cache_control) == (content_type, cache_control)


def test_the_stages_config_replaces_the_builds_and_the_entry_points_go_last(
        tmp_path: Path) -> None:
    for key in ("index.html", "config.json", "assets/index-1a2b3c.js", "zebra.txt"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_text(key)
    config = web_assets.app_config("prod", {
        "WebsocketConnectEndpointURL": "wss://abc.execute-api.us-east-1.amazonaws.com/api/"})

    files = web_assets.build_files(tmp_path, config)

    assert [f.key for f in files] == ["assets/index-1a2b3c.js", "zebra.txt", "config.json",
                                      "index.html"]
    assert json.loads(files[2].body) == {
        "wsBaseUrl": "wss://abc.execute-api.us-east-1.amazonaws.com/api/",
        "environment": "prod"}


def test_a_missing_build_elsewhere_than_web_dist_is_refused_with_what_to_do(
        tmp_path: Path) -> None:
    with pytest.raises(web_assets.WebAssetsError, match=r"index\.html is missing"):
        web_assets.locate_build(print, tmp_path)


def test_a_build_with_its_index_is_shipped_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")

    assert web_assets.locate_build(print, tmp_path) == tmp_path
