"""`exchange deploy` and `exchange destroy`: the steps, in order, with progress."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from chalicelib.settings import PROJECT_ROOT
from opscli.deploy import manifests, web_assets
from opscli.deploy.cloudformation import CloudFormation, Outcome, StackError
from opscli.deploy.packaging import (
    DeployBucket,
    PackagingError,
    as_sent,
    empty_bucket,
    package_api,
    point_code_at_s3,
    render_json,
    tool,
)
from opscli.deploy.stages import (
    API_STACK,
    WEB_STACK,
    PlanError,
    StackPlan,
    StagePlan,
    load_stage,
    parse_template,
    stack_parameters,
)
from opscli.deploy.summary import StackLine, render_summary
from opscli.observability import grafana
from opscli.observability.rules import RulesError, with_rules

Report = Callable[[str], None]
DEPLOY_ERRORS = (StackError, PlanError, PackagingError, manifests.ManifestError, RulesError,
                 web_assets.WebAssetsError)
# Its rule groups namespace takes iac/observability/rules/*.yml (opscli/observability/rules.py).
OBSERVABILITY_STACK = "observability"


class CredentialsError(Exception):
    """No usable AWS credentials; the message says how to provide them."""


def session_for(region: str) -> tuple[Any, str]:
    """A boto3 session in `region` and the account its credentials belong to."""
    advice = ("set AWS_PROFILE to a profile of ~/.aws/config (or AWS_ACCESS_KEY_ID and "
              "AWS_SECRET_ACCESS_KEY, with AWS_SESSION_TOKEN for temporary ones), then rerun;"
              f" the region is {region} (the stage file's, or --region)")
    try:
        session = boto3.session.Session(region_name=region)
        identity = session.client("sts").get_caller_identity()
    except NoCredentialsError as exc:
        raise CredentialsError(f"no AWS credentials found: {advice}") from exc
    except (ClientError, BotoCoreError) as exc:
        raise CredentialsError(f"AWS did not accept the credentials ({exc}): {advice}") from exc
    return session, str(identity["Account"])


def imported_exports(node: Any, stage: str) -> Iterator[str]:
    """The export names a template imports (`!ImportValue !Sub exchange-${Stage}-X`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::ImportValue":
                name = value.get("Fn::Sub", value) if isinstance(value, dict) else value
                if isinstance(name, str):
                    yield name.replace("${Stage}", stage)
            yield from imported_exports(value, stage)
    elif isinstance(node, list):
        for item in node:
            yield from imported_exports(item, stage)


def lint(paths: list[Path]) -> str:
    """cfn-lint over the templates: errors and warnings fail (informational is fine)."""
    result = subprocess.run([tool("cfn-lint"), *map(str, paths)], capture_output=True,
                            text=True, check=False)
    if result.returncode & 0b0110:  # cfn-lint's exit bits: 2 errors, 4 warnings
        raise PlanError(f"cfn-lint found problems; nothing was deployed:\n{result.stdout}"
                        f"{result.stderr}\nfix them (rerun: {tool('cfn-lint')} "
                        f"{shlex.join(map(str, paths))})")
    return f"{len(paths)} templates clean"


def default_image(outputs: dict[str, dict[str, str]]) -> str:
    """The cluster stack's image repository, tagged with the checkout's commit."""
    repository = outputs.get("cluster", {}).get("MatcherImageRepositoryUri")
    if not repository:
        raise manifests.ManifestError("the cluster stack has no MatcherImageRepositoryUri "
                                      "output to take the matcher's image from: pass --image")
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, check=False)
    if sha.returncode != 0:
        raise PlanError("no git commit to tag the matcher's image with: pass --image")
    return f"{repository}:{sha.stdout.strip()}"


@dataclass
class Deployment:
    plan: StagePlan
    session: Any
    account: str
    dry_run: bool
    report: Report
    cloudformation: CloudFormation = field(init=False)
    bucket: DeployBucket = field(init=False)
    web: web_assets.WebAssets = field(init=False)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    computed: dict[str, str] = field(default_factory=dict)
    lines: list[StackLine] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cloudformation = CloudFormation(self.session.client("cloudformation"), self.report)
        self.bucket = DeployBucket(self.session.client("s3"), self.plan.stage, self.account,
                                   self.plan.region)
        self.web = web_assets.WebAssets(self.session.client("s3"),
                                        self.session.client("cloudfront"), self.report)

    def templates(self, api_template: Path) -> dict[str, str]:
        """Each stack's template text; the api stack's with its code in the bucket, the
        observability stack's with the Prometheus rule files."""
        texts = {s.name: s.template_path.read_text() for s in self.plan.stacks
                 if s.name != API_STACK}
        texts[OBSERVABILITY_STACK] = render_json(
            with_rules(parse_template(texts[OBSERVABILITY_STACK])))
        api = parse_template(api_template.read_text())
        if self.bucket.exists():
            point_code_at_s3(api, self.bucket, api_template.parent)
        texts[API_STACK] = render_json(api)
        return texts

    def run_stack(self, number: int, stack: StackPlan, text: str) -> None:
        prefix = f"[{number}/{len(self.plan.stacks)}] {stack.name}"
        template = parse_template(text)
        waiting = self.unmet(stack, template)
        if waiting:
            if not self.dry_run:
                raise StackError(f"{stack.name} needs {', '.join(waiting)}, which no earlier "
                                 "stack provides: the stacks' outputs must follow iac/README.md")
            self.report(f"{prefix}: no change set: it waits on {len(waiting)} values from "
                        f"earlier stacks not deployed yet ({waiting[0]}, ...)")
            self.lines.append(StackLine(stack.name, "dry-run", "(waits on earlier stacks)"))
            return
        parameters = stack_parameters(self.plan.stage, stack, template, self.computed)
        name = stack.stack_name(self.plan.stage)
        bucket = self.bucket if self.bucket.exists() else None
        self.report(f"{prefix}: change set for {name}")
        outcome = self.cloudformation.deploy(name, as_sent(stack.name, text, bucket),
                                             parameters, self.dry_run)
        self.finish_stack(prefix, stack, outcome)

    def unmet(self, stack: StackPlan, template: dict[str, Any]) -> list[str]:
        """Imports no stack exports yet, and values only an earlier stack can give."""
        exports = self.cloudformation.exports()
        missing = sorted(set(imported_exports(template, self.plan.stage)) - exports)
        declared = set(template.get("Parameters", {}))
        unknown = [p for p in ("KafkaBootstrapServers", "RestApiId")
                   if p in declared and p not in self.computed and p not in stack.overrides]
        return missing + unknown

    def finish_stack(self, prefix: str, stack: StackPlan, outcome: Outcome) -> None:
        self.report(f"{prefix}: {outcome.status}")
        self.lines.append(StackLine(stack.name, outcome.status))
        self.collect(stack)

    def collect(self, stack: StackPlan) -> None:
        """The stack's outputs, and what later stacks need that CloudFormation cannot export."""
        name = stack.stack_name(self.plan.stage)
        if self.cloudformation.status(name) is None:
            return
        outputs = self.outputs[stack.name] = self.cloudformation.outputs(name)
        if stack.name == "streaming" and "KafkaClusterArn" in outputs:
            self.computed["KafkaBootstrapServers"] = self.bootstrap_servers(
                outputs["KafkaClusterArn"])
        if stack.name == API_STACK and "RestAPIId" in outputs:
            self.computed["RestApiId"] = outputs["RestAPIId"]

    def bootstrap_servers(self, cluster_arn: str) -> str:
        """MSK's IAM brokers: CloudFormation has no attribute for them."""
        try:
            brokers = self.session.client("kafka").get_bootstrap_brokers(ClusterArn=cluster_arn)
        except ClientError as exc:
            raise StackError(f"cannot read the brokers of {cluster_arn}: {exc}; check the "
                             "streaming stack's cluster is ACTIVE, then rerun") from exc
        return str(brokers["BootstrapBrokerStringSaslIam"])


def deploy(stage: str, region: str | None, dry_run: bool, image: str | None,
           kube_context: str | None, report: Report) -> int:
    plan = load_stage(stage, region)
    session, account = session_for(plan.region)
    report(f"credentials: account {account}, region {plan.region}")
    build = web_assets.locate_build(report)
    report(f"web: the build in {build}")
    sam = package_api(stage, plan.region, plan.state_dir / "api")
    report(f"package: the API in {sam.parent}")
    report("lint: " + lint([s.template_path for s in plan.stacks if s.name != API_STACK]
                           + [sam]))
    run = Deployment(plan, session, account, dry_run, report)
    if not dry_run:
        run.bucket.ensure()
        report(f"bucket: s3://{run.bucket.name}")
    for number, (stack, text) in enumerate(
            zip(plan.stacks, ordered(plan, run.templates(sam)), strict=True), start=1):
        run.run_stack(number, stack, text)
    ship_web_app(run, build)
    where = finish_manifests(run, image, kube_context)
    publish_dashboards(run)
    domain = plan.stack("edge").overrides.get("DomainName", "")
    print(render_summary(stage, account, plan.region, run.lines, run.outputs, domain, where))
    return 0


def ship_web_app(run: Deployment, build: Path) -> None:
    """The build and the stage's config.json into the web stack's bucket; with a dry run,
    what would be uploaded and deleted."""
    outputs = run.outputs.get(WEB_STACK, {})
    api = run.outputs.get(API_STACK, {})
    if run.dry_run and "WebsocketConnectEndpointURL" not in api:
        api = {"WebsocketConnectEndpointURL": "wss://<the api stack's WebSocket URL>"}
    files = web_assets.build_files(build, web_assets.app_config(run.plan.stage, api))
    if run.dry_run:
        run.web.preview(files, outputs.get("WebBucketName"))
        return
    if "WebBucketName" not in outputs or "WebDistributionId" not in outputs:
        raise StackError("the web stack has no WebBucketName or WebDistributionId output to "
                         "ship the web app to: see iac/README.md")
    shipped = run.web.ship(files, outputs["WebBucketName"], outputs["WebDistributionId"])
    run.report(f"web: {shipped.uploaded} files uploaded to s3://{outputs['WebBucketName']}, "
               f"{len(shipped.deleted)} no longer in the build deleted, "
               f"{', '.join(web_assets.INVALIDATED_PATHS)} invalidated in "
               f"{outputs['WebDistributionId']}")


def publish_dashboards(run: Deployment) -> None:
    """iac/observability/dashboards into the stage's Managed Grafana; a workspace that does
    not answer yet (Identity Center not enabled, say) is reported, not a failed deploy."""
    outputs = run.outputs.get(OBSERVABILITY_STACK, {})
    if run.dry_run or "GrafanaWorkspaceId" not in outputs:
        return
    try:
        grafana.publish_to_stage(run.session, outputs, run.plan.region, run.report)
    except (ClientError, BotoCoreError, grafana.GrafanaError, OSError) as exc:
        run.report(f"dashboards: not published ({exc}); once the workspace answers: "
                   f".venv/bin/python -m opscli.observability.grafana --stage {run.plan.stage}")


def ordered(plan: StagePlan, texts: dict[str, str]) -> list[str]:
    return [texts[stack.name] for stack in plan.stacks]


def finish_manifests(run: Deployment, image: str | None, kube_context: str | None) -> str:
    """Render the manifests with the outputs and the image (by default the cluster stack's
    repository at this commit), apply them where a cluster answers; what the summary says
    about them."""
    missing = manifests.missing_outputs(run.outputs)
    if missing:
        if run.dry_run:
            return "not rendered: the stacks are not deployed yet"
        raise manifests.ManifestError(f"the stacks lack outputs {missing}: see iac/README.md")
    values = manifests.stack_values(run.plan.stage, run.plan.region, run.outputs,
                                    run.computed["KafkaBootstrapServers"])
    image = image or default_image(run.outputs)
    rendered = manifests.render(run.plan, values, image)
    run.report(f"manifests: rendered with image {image} in {rendered.directory}")
    if run.dry_run:
        return f"{rendered.directory} (dry run: not applied)"
    kubectl = cluster_access(run, kube_context)
    if kubectl is None:
        cluster = run.outputs["cluster"].get("EksClusterName", "<cluster>")
        run.report("manifests: no cluster reachable; to apply them:\n  "
                   f"aws eks update-kubeconfig --name {cluster} --region {run.plan.region}\n  "
                   + "\n  ".join(map(shlex.join, rendered.commands(["kubectl"]))))
        return f"{rendered.directory} (not applied: no cluster reachable)"
    manifests.apply(rendered, kubectl, run.report)
    return f"{rendered.directory} (applied)"


def cluster_access(run: Deployment, kube_context: str | None) -> list[str] | None:
    """kubectl's arguments for the stage's cluster, None when none answers."""
    if kube_context:
        kubectl = ["kubectl", "--context", kube_context]
        if not reachable(kubectl):
            raise manifests.ManifestError(f"kube context {kube_context} does not answer: "
                                          "check `kubectl --context ... get nodes`, then rerun")
        return kubectl
    cluster = run.outputs["cluster"].get("EksClusterName")
    if not cluster or not shutil.which("aws"):
        return None
    kubeconfig = run.plan.state_dir / "kubeconfig"
    result = subprocess.run(["aws", "eks", "update-kubeconfig", "--name", cluster, "--region",
                             run.plan.region, "--kubeconfig", str(kubeconfig)],
                            capture_output=True, text=True, timeout=120, check=False)
    kubectl = ["kubectl", "--kubeconfig", str(kubeconfig)]
    return kubectl if result.returncode == 0 and reachable(kubectl) else None


def reachable(kubectl: list[str]) -> bool:
    probe = subprocess.run([*kubectl, "get", "--raw", "/readyz", "--request-timeout=15s"],
                           capture_output=True, text=True, timeout=60, check=False)
    return probe.returncode == 0


def destroy(stage: str, region: str | None, yes: bool, report: Report) -> int:
    if stage == "prod":
        raise PlanError("exchange destroy refuses prod: its database has deletion protection "
                        "and holds the ledger and the users' funds; retire a prod stage by "
                        "hand, after a final snapshot, if you truly mean to")
    plan = load_stage(stage, region)
    if not yes and not confirmed(plan):
        report("nothing deleted")
        return 1
    session, account = session_for(plan.region)
    report(f"credentials: account {account}, region {plan.region}")
    cloudformation = CloudFormation(session.client("cloudformation"), report)
    stacks = list(reversed(plan.stacks))
    s3 = session.client("s3")
    for number, stack in enumerate(stacks, start=1):
        name = stack.stack_name(stage)
        prefix = f"[{number}/{len(stacks)}] {stack.name}"
        report(f"{prefix}: deleting {name}")
        deleted = delete_emptying_buckets(cloudformation, s3, name, prefix, report)
        report(f"{prefix}: {'deleted' if deleted else 'absent'}")
    bucket = DeployBucket(session.client("s3"), stage, account, plan.region)
    versions = bucket.empty_and_delete()
    report(f"bucket: s3://{bucket.name} emptied ({versions} object versions) and deleted")
    return 0


def delete_emptying_buckets(cloudformation: CloudFormation, s3: Any, name: str, prefix: str,
                            report: Report) -> bool:
    """Delete the stack after emptying its buckets, which CloudFormation deletes only empty
    (the log delivery's backups, the web app's files and logs). Access logs arrive minutes
    after the requests, so one may refill a bucket after its emptying: a deletion that
    fails while the stack still holds a bucket is retried once, the buckets emptied again."""
    def empty_buckets() -> None:
        for bucket_name in cloudformation.buckets(name):
            versions = empty_bucket(s3, bucket_name)
            report(f"{prefix}: emptied s3://{bucket_name} ({versions} object versions)")

    empty_buckets()
    try:
        return cloudformation.delete(name)
    except StackError:
        if not cloudformation.buckets(name):
            raise
    report(f"{prefix}: not deleted; emptying its buckets again and retrying")
    empty_buckets()
    return cloudformation.delete(name)


def confirmed(plan: StagePlan) -> bool:
    if not sys.stdin.isatty():
        raise PlanError("exchange destroy asks for confirmation on a terminal: pass --yes "
                        "to delete without asking")
    answer = input(f"Delete every exchange-{plan.stage}-* stack and the deploy bucket in "
                   f"{plan.region}? Type {plan.stage} to confirm: ")
    return answer.strip() == plan.stage


def run_command(action: Callable[[], int]) -> int:
    """Run deploy or destroy, turning its failures into one error line and exit code 1."""
    try:
        return action()
    except (*DEPLOY_ERRORS, CredentialsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"error: AWS refused {exc.operation_name}: {exc.response['Error']['Message']}; "
              "check the account's permissions and the stage's region, then rerun",
              file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"error: talking to AWS failed: {exc}; check the network and the region, then "
              "rerun (a deploy resumes: finished stacks report unchanged)", file=sys.stderr)
        return 1
