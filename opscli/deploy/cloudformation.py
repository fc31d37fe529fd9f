"""CloudFormation through boto3: change sets, waiting with progress, events, outputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

Report = Callable[[str], None]

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# Larger bodies must be sent as a TemplateURL (CloudFormation's TemplateBody limit).
MAX_TEMPLATE_BODY_BYTES = 51_200
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# A stack no change set can update: a create that rolled back, or one never executed.
REPLACEABLE = {"ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"}
SETTLED_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
RERUN_ADVICE = ("see the events above; fix the template or parameter, then rerun: "
                "the change set was rolled back")


class StackError(Exception):
    """A stack operation failed; the message says what to do."""


@dataclass(frozen=True)
class Template:
    """A template as CloudFormation receives it: its body, or where S3 holds it."""

    body: str | None = None
    url: str | None = None

    def arguments(self) -> dict[str, str]:
        return {"TemplateURL": self.url} if self.url else {"TemplateBody": self.body or ""}


@dataclass(frozen=True)
class Outcome:
    status: str  # created, updated, unchanged, dry-run
    changes: tuple[str, ...] = ()


class CloudFormation:
    def __init__(self, client: Any, report: Report, poll_seconds: float = 5.0) -> None:
        self.client = client
        self.report = report
        self.poll_seconds = poll_seconds

    def status(self, stack_name: str) -> str | None:
        """The stack's status, None when it does not exist (or was deleted)."""
        try:
            stacks = self.client.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        status = str(stacks[0]["StackStatus"])
        return None if status == "DELETE_COMPLETE" else status

    def outputs(self, stack_name: str) -> dict[str, str]:
        stack = self.client.describe_stacks(StackName=stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}

    def exports(self) -> set[str]:
        names: set[str] = set()
        for page in self.client.get_paginator("list_exports").paginate():
            names.update(export["Name"] for export in page["Exports"])
        return names

    def deploy(self, stack_name: str, template: Template, parameters: dict[str, str],
               dry_run: bool) -> Outcome:
        """Create or update the stack through one change set; with `dry_run`, describe
        the change set's changes and delete it instead of executing it."""
        status = self.status(stack_name)
        if status in REPLACEABLE:
            self.report(f"{stack_name} is {status} (never created): deleting it first")
            if not dry_run:
                self.delete(stack_name)
            status = None
        elif status is not None and status.endswith("_IN_PROGRESS"):
            raise StackError(f"{stack_name} is busy ({status}): wait until it settles "
                             "(see the CloudFormation console), then rerun")
        change_type = "CREATE" if status is None else "UPDATE"
        change_set = self._create_change_set(stack_name, template, parameters, change_type)
        if change_set is None:
            return Outcome("unchanged")
        described = self._wait_change_set(change_set)
        if described["Status"] == "FAILED":
            reason = str(described.get("StatusReason", ""))
            self.client.delete_change_set(ChangeSetName=change_set)
            if any(marker in reason for marker in NO_CHANGES):
                return Outcome("unchanged")
            self._forget_unexecuted(stack_name, change_type)
            raise StackError(f"{stack_name}: the change set failed: {reason}; "
                             "fix the template or parameter, then rerun")
        changes = tuple(self._describe_changes(change_set))
        for change in changes:
            self.report(f"  {change}")
        if dry_run:
            self.client.delete_change_set(ChangeSetName=change_set)
            self._forget_unexecuted(stack_name, change_type)
            return Outcome("dry-run", changes)
        before = self._event_ids(stack_name)
        self.client.execute_change_set(ChangeSetName=change_set)
        final = self._wait_stack(stack_name, set(before))
        if final not in SETTLED_OK:
            raise StackError(f"{stack_name} ended {final}: "
                             f"{self._failure_reasons(stack_name, before)}; {RERUN_ADVICE}")
        return Outcome("created" if change_type == "CREATE" else "updated", changes)

    def buckets(self, stack_name: str) -> list[str]:
        """The S3 buckets the stack created (none when there is no stack)."""
        if self.status(stack_name) is None:
            return []
        paginator = self.client.get_paginator("list_stack_resources")
        return [resource["PhysicalResourceId"]
                for page in paginator.paginate(StackName=stack_name)
                for resource in page["StackResourceSummaries"]
                if resource["ResourceType"] == "AWS::S3::Bucket"
                and resource.get("PhysicalResourceId")
                and resource["ResourceStatus"] != "DELETE_COMPLETE"]

    def delete(self, stack_name: str) -> bool:
        """Delete the stack and wait; False when there was none."""
        if self.status(stack_name) is None:
            return False
        before = self._event_ids(stack_name)
        self.client.delete_stack(StackName=stack_name)
        final = self._wait_stack(stack_name, set(before))
        if final is not None:
            raise StackError(f"{stack_name} could not be deleted ({final}): "
                             f"{self._failure_reasons(stack_name, before)}; empty or detach "
                             "what the events name, then rerun")
        return True

    def _create_change_set(self, stack_name: str, template: Template,
                           parameters: dict[str, str], change_type: str) -> str | None:
        name = "exchange-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        try:
            created = self.client.create_change_set(
                StackName=stack_name, ChangeSetName=name, ChangeSetType=change_type,
                Parameters=[{"ParameterKey": k, "ParameterValue": v}
                            for k, v in sorted(parameters.items())],
                Capabilities=CAPABILITIES, **template.arguments())
        except ClientError as exc:
            if any(marker in str(exc) for marker in NO_CHANGES):
                return None
            raise StackError(f"{stack_name}: CloudFormation refused the change set: "
                             f"{exc.response['Error']['Message']}; fix the template or "
                             "parameter, then rerun") from exc
        return str(created["Id"])

    def _wait_change_set(self, change_set: str) -> dict[str, Any]:
        while True:
            described: dict[str, Any] = self.client.describe_change_set(ChangeSetName=change_set)
            if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
                return described
            time.sleep(self.poll_seconds)

    def _describe_changes(self, change_set: str) -> Iterator[str]:
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = self.client.describe_change_set(ChangeSetName=change_set, **extra)
            for change in page.get("Changes", []):
                resource = change["ResourceChange"]
                replacement = resource.get("Replacement")
                note = " (replacement)" if replacement == "True" else ""
                yield (f"{resource['Action']:<7} {resource['ResourceType']:<40} "
                       f"{resource['LogicalResourceId']}{note}")
            token = page.get("NextToken")
            if not token:
                return

    def _forget_unexecuted(self, stack_name: str, change_type: str) -> None:
        """A CREATE change set leaves an empty REVIEW_IN_PROGRESS stack behind."""
        if change_type == "CREATE" and self.status(stack_name) == "REVIEW_IN_PROGRESS":
            self.client.delete_stack(StackName=stack_name)

    def _wait_stack(self, stack_name: str, seen: set[str]) -> str | None:
        """Print the stack's events not in `seen` as they arrive until it settles; its
        final status (None once deleted)."""
        while True:
            status = self.status(stack_name)
            for event in self._events(stack_name, seen):
                seen.add(event["EventId"])
                self.report("  " + describe_event(event))
            if status is None or not status.endswith("_IN_PROGRESS"):
                return status
            time.sleep(self.poll_seconds)

    def _events(self, stack_name: str, skip: set[str] | frozenset[str]) -> list[dict[str, Any]]:
        """The stack's events newer than any in `skip`, oldest first ([] once it is gone)."""
        fresh: list[dict[str, Any]] = []
        try:
            pages = self.client.get_paginator("describe_stack_events").paginate(
                StackName=stack_name)
            for page in pages:  # newest first: stop at the first one already known
                for event in page["StackEvents"]:
                    if event["EventId"] in skip:
                        return fresh[::-1]
                    fresh.append(event)
        except ClientError:
            return []
        return fresh[::-1]

    def _event_ids(self, stack_name: str) -> frozenset[str]:
        return frozenset(event["EventId"] for event in self._events(stack_name, frozenset()))

    def _failure_reasons(self, stack_name: str, before: frozenset[str]) -> str:
        failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '?')}"
                  for e in self._events(stack_name, before)
                  if str(e["ResourceStatus"]).endswith("FAILED")]
        return "; ".join(failed) or "no resource reported a failure"


def describe_event(event: dict[str, Any]) -> str:
    reason = event.get("ResourceStatusReason") or ""
    return (f"{event['Timestamp']:%H:%M:%S} {event['ResourceStatus']:<20} "
            f"{event['ResourceType']:<36} {event['LogicalResourceId']} {reason}").rstrip()
