"""`exchange`: the operator's single entry point.

    exchange up|down|status          the whole local exchange: services, demo data, processes
    exchange logs --order ID | --correlation ID [--since 10m] [--json]
                                     one order's path through the local services' logs
    exchange stack up|down|status|logs [SERVICE] [-n LINES]
    exchange db migrate [--database-url URL]
    exchange db failover [--force]
    exchange db watch [--failover-after SECONDS] [--max-seconds SECONDS]
    exchange admin grant|revoke EMAIL [--database-url URL]
    exchange deploy --stage dev|prod [--dry-run] [--region R] [--image I] [--kube-context C]
    exchange destroy --stage dev [--yes] [--region R]
"""

from __future__ import annotations

import argparse
import sys
import time

from chalicelib.adapters import accounts_repo
from chalicelib.adapters.migrations import MigrationError, apply_migrations
from chalicelib.adapters.postgres import connect
from chalicelib.settings import Settings
from opscli import logs as order_logs
from opscli.demo.seed import seed, web_login
from opscli.stack import lifecycle
from opscli.stack.apps import app_processes
from opscli.stack.config import StackConfig
from opscli.stack.failover import FailoverRefusedError, failover
from opscli.stack.postgres import Postgres
from opscli.stack.process import ServiceError, tail_lines
from opscli.stack.watchdog import watch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = parser.add_subparsers(dest="group", required=True)
    groups.add_parser("up", help="start the whole exchange locally with demo markets")
    groups.add_parser("down", help="stop every process the project started")
    groups.add_parser("status", help="health of every service and process")
    followed = groups.add_parser(
        "logs", help="one order's lines across the local services' logs, in time order")
    wanted = followed.add_mutually_exclusive_group(required=True)
    wanted.add_argument("--order", type=int, metavar="ID", help="an order's id")
    wanted.add_argument("--correlation", metavar="ID", help="a correlation id")
    followed.add_argument("--since", metavar="WHEN",
                          help="only lines from then on: 30s, 10m, 2h, 1d or an ISO time")
    followed.add_argument("--json", action="store_true", help="print the raw JSON lines")

    stack = groups.add_parser("stack", help="the local PostgreSQL, Redis and Kafka")
    stack_actions = stack.add_subparsers(dest="action", required=True)
    stack_actions.add_parser("up", help="start everything (idempotent) and wait until ready")
    stack_actions.add_parser("down", help="stop what the project started")
    stack_actions.add_parser("status", help="each service's health; exit 1 if any is not ready")
    logs = stack_actions.add_parser("logs", help="the last lines of the services' logs")
    logs.add_argument("service", nargs="?", choices=["postgres", "redis", "kafka"])
    logs.add_argument("-n", "--lines", type=int, default=40)

    db = groups.add_parser("db", help="the database schema; the local primary and standby")
    db_actions = db.add_subparsers(dest="action", required=True)
    migrate = db_actions.add_parser("migrate", help="apply pending migrations")
    migrate.add_argument("--database-url",
                         help="the schema owner's URL; default: MIGRATIONS_DATABASE_URL")
    failover = db_actions.add_parser(
        "failover", help="promote the local standby, re-attach the old primary as standby")
    failover.add_argument("--force", action="store_true",
                          help="also when the primary is healthy: a planned switchover")
    watch = db_actions.add_parser(
        "watch", help="fail over when the local primary stays down (JSON lines on stdout)")
    watch.add_argument("--failover-after", type=float, metavar="SECONDS",
                       help="default: EXCHANGE_DB_FAILOVER_AFTER_SECONDS (5)")
    watch.add_argument("--max-seconds", type=float,
                       help="stop watching after this long; default: never")

    admin = groups.add_parser("admin", help="who may administer the exchange")
    admin_actions = admin.add_subparsers(dest="action", required=True)
    for action in ("grant", "revoke"):
        command = admin_actions.add_parser(action, help=f"{action} the admin role")
        command.add_argument("email")
        command.add_argument("--database-url", help="default: DATABASE_URL from the settings")

    deploy = groups.add_parser("deploy", help="create or update a stage's stacks in AWS and "
                               "apply the matching cluster's manifests (iac/README.md)")
    deploy.add_argument("--stage", required=True, choices=["dev", "prod"])
    deploy.add_argument("--dry-run", action="store_true",
                        help="show each stack's change set, then delete it: nothing changes")
    deploy.add_argument("--region", help="default: the region in stages/<stage>.json")
    deploy.add_argument("--image", help="the matcher's image; default: "
                        "<MatcherImageRepositoryUri>:<git short sha>")
    deploy.add_argument("--kube-context",
                        help="apply the manifests through this kubectl context; default: "
                        "the stage's EKS cluster through `aws eks update-kubeconfig`")
    destroy = groups.add_parser("destroy", help="delete a dev stage's stacks and deploy bucket")
    destroy.add_argument("--stage", required=True, choices=["dev", "prod"])
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.add_argument("--region", help="default: the region in stages/<stage>.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.group in ("deploy", "destroy"):
        return run_deploy_action(args)
    settings = Settings()
    if args.group == "logs":
        return order_logs.run(settings.state_dir / "logs", order_id=args.order,
                               correlation_id=args.correlation, since=args.since,
                               as_json=args.json)
    config = StackConfig.from_settings(settings)
    try:
        if args.group in ("up", "down", "status"):
            return run_exchange_action(args.group, settings, config)
        if args.group == "db" and args.action == "migrate":
            return migrate(args.database_url or settings.migrations_database_url)
        if args.group == "db":
            return run_replication_action(args, settings, config)
        if args.group == "admin":
            return set_admin(args.database_url or settings.database_url, args.email,
                             args.action == "grant")
        return run_stack_action(args, config)
    except (ServiceError, MigrationError, FailoverRefusedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run_deploy_action(args: argparse.Namespace) -> int:
    # Imported here: it loads cfn-lint and boto3, a second that `exchange db failover`
    # should not wait.
    from opscli.deploy import command as deploy_command

    def report(line: str) -> None:
        print(f"{args.group}: {line}", flush=True)

    if args.group == "destroy":
        return deploy_command.run_command(
            lambda: deploy_command.destroy(args.stage, args.region, args.yes, report))
    return deploy_command.run_command(lambda: deploy_command.deploy(
        args.stage, args.region, args.dry_run, args.image, args.kube_context, report))


def run_exchange_action(action: str, settings: Settings, config: StackConfig) -> int:
    processes = app_processes(settings)
    if action == "down":
        for process in processes:
            if process.running_pid() is not None:
                process.stop()
                print(f"{process.name}: stopped")
        lifecycle.down(config)
        return 0
    if action == "status":
        infrastructure = lifecycle.status(config)
        ready = [entry.ready for entry in infrastructure]
        for entry in infrastructure:
            print(entry.describe())
        for process in processes:
            ready.append(process.is_ready())
            state = "ready" if ready[-1] else "stopped"
            print(f"{process.name:<14} {state:<7} {process.address:<24} log: {process.log_path}")
        return 0 if all(ready) else 1
    lifecycle.up(config)
    keys = seed(settings)
    print(f"demo: markets BTCUSDT and ETHUSDT; {len(keys)} funded traders")
    for process in processes:  # in order: the market maker needs the API up
        process.start()
        process.wait_ready(lifecycle.READY_TIMEOUT_SECONDS)
        print(f"{process.name}: ready {process.address} (log: {process.log_path})")
    api = f"http://127.0.0.1:{settings.api_port}"
    login = web_login(settings)
    account = ("sign up there" if login is None else
               f"log in as {login[0]} with password {login[1]}, funded with BTC, ETH and"
               " USDT, or sign up")
    print(f"\nThe exchange is up. Trade in your browser: http://127.0.0.1:{settings.web_port}/\n"
          f"  ({account}; the demo market maker keeps both markets' books full)\n"
          f"API: {api}/api/v3/exchangeInfo\n"
          f"Demo API keys (READ, TRADE): {settings.state_dir / 'demo' / 'keys.json'}\n"
          f"Metrics and alerts: http://127.0.0.1:{settings.prometheus_port}/alerts"
          " (dashboards: iac/observability/dashboards)\n"
          f"Follow an order: .venv/bin/exchange logs --order ID\n"
          f"Stop it with: .venv/bin/exchange down")
    return 0


def run_stack_action(args: argparse.Namespace, config: StackConfig) -> int:
    if args.action == "up":
        lifecycle.up(config)
        print(f"The exchange's local stack is up. Data and logs: {config.state_dir}")
        return 0
    if args.action == "down":
        lifecycle.down(config)
        return 0
    if args.action == "status":
        health = lifecycle.status(config)
        for entry in health:
            print(entry.describe())
        return 0 if all(entry.ready for entry in health) else 1
    for name, path in lifecycle.log_paths(config).items():
        if args.service in (None, name):
            print(f"==> {name}: {path} <==\n{tail_lines(path, args.lines)}")
    return 0


def run_replication_action(args: argparse.Namespace, settings: Settings,
                           config: StackConfig) -> int:
    postgres = Postgres(config)
    if args.action == "watch":
        watch(postgres, failover_after=args.failover_after or settings.db_failover_after_seconds,
              max_seconds=args.max_seconds)
        return 0
    started = time.monotonic()
    failover(postgres, force=args.force, report=lambda step: print(step.describe(), flush=True))
    primary = postgres.primary()
    print(f"failover done in {time.monotonic() - started:.2f} s: node {primary.name}"
          f" ({primary.address}) is the primary, node {postgres.peer(primary).name} its"
          " synchronous standby")
    return 0


def migrate(database_url: str) -> int:
    applied = apply_migrations(database_url)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none (up to date)"
    print(f"migrations applied: {names}")
    return 0


def set_admin(database_url: str, email: str, is_admin: bool) -> int:
    with connect(database_url) as conn:
        if not accounts_repo.set_admin(conn, email, is_admin):
            print(f"error: no user with email {email}", file=sys.stderr)
            return 1
    print(f"{email}: admin role {'granted' if is_admin else 'revoked'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
