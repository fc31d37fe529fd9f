"""The matcher run exactly as its pod runs it, against the local stack.

The command, the environment (the stack-outputs ConfigMap, then the container's `env`,
on top of the image's ENV) and the probes come from the rendered dev overlay and the
Dockerfile; only what cannot be the same off AWS is replaced (OFF_AWS below). The pod
becomes ready as its probes define it, matches and settles crossing orders, and on
SIGTERM, with commands still flowing, exits 0 within its terminationGracePeriodSeconds;
the pod the StatefulSet starts again under the same name then finishes the stream and
every command is applied exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from chalicelib.domain.orders import Side
from chalicelib.settings import Settings
from tests.conftest import as_role
from tests.support.polling import wait_until
from tests.unit.iac.test_k8s_manifests import (
    POD_NAME,
    Object,
    Rendered,
    matcher_container,
    pod_environment,
    pod_spec,
    render_overlay,
)
from tests.unit.iac.test_matcher_image import VENV, dockerfile_stages

from .conftest import Topics
from .load import LoadGenerator, assert_applied_exactly_once
from .support import (
    BTC_UNIT,
    Market,
    balance,
    create_users,
    fund,
    new_order,
    order_row,
    place_orders,
    publish,
    wait_applied,
)
from .test_crash_safety import free_port, http_status, produce_in_background, wait_mid_stream

Conn = psycopg.Connection[Any]
USD = 100
PRICE_50K = 50_000 * USD


class Pod:
    """The matcher's container as a process: the manifest's command and environment."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, env=env, cwd=log_path.parent, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.port = env["EXCHANGE_MATCHER_PORT"]

    def probe(self, probe: Object) -> int:
        """What the kubelet sees: the HTTP status of the probe's GET, 0 if refused."""
        return http_status(self.port, probe["httpGet"]["path"])

    def wait_for(self, probe: Object, budget: Object) -> None:
        """Poll ``probe`` until it passes, for as long as ``budget`` (the startup probe)
        gives a starting container before the kubelet restarts it."""
        def status() -> int:
            assert self.proc.poll() is None, "the matcher exited while starting"
            return self.probe(probe)

        wait_until(status, until=lambda seen: seen == 200,
                   timeout=budget["periodSeconds"] * budget["failureThreshold"],
                   what=f"{probe['httpGet']['path']} to pass")

    def start_like_the_kubelet(self, container: Object) -> None:
        """Started (the startup probe passes), then ready, and live."""
        self.wait_for(container["startupProbe"], container["startupProbe"])
        self.wait_for(container["readinessProbe"], container["startupProbe"])
        assert self.probe(container["livenessProbe"]) == 200


@pytest.fixture(scope="module")
def dev() -> Rendered:
    return render_overlay("dev")


@pytest.fixture(scope="module")
def container(dev: Rendered) -> Object:
    return matcher_container(dev)


@pytest.fixture
def start_pod(
    dev: Rendered, container: Object, db_url: str, test_settings: Settings,
    kafka_bootstrap: str, topics: Topics, tmp_path: Path,
) -> Iterator[Callable[[str], Pod]]:
    """Start matcher pods by name; any still running at teardown is killed."""
    # What must differ off AWS, and nothing else: the local stack's endpoints without
    # Secrets Manager or MSK IAM, this test's topics and consumer group, and a free
    # loopback port (here services bind loopback only, and `exchange up` runs a matcher
    # on the manifest's port with the default group and topics).
    off_aws = {
        "EXCHANGE_ENV": "local", "KAFKA_SECURITY": "plaintext",
        "DATABASE_URL": as_role(test_settings, "matcher").database_url,
        "REDIS_URL": test_settings.redis_url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ORDERS_TOPIC": topics.orders, "MARKET_EVENTS_TOPIC": topics.market_events,
        "ORDER_EVENTS_TOPIC": topics.order_events,
        "MATCHER_GROUP_ID": f"pod-{uuid.uuid4().hex[:8]}",
        "EXCHANGE_MATCHER_HOST": "127.0.0.1", "EXCHANGE_MATCHER_PORT": str(free_port()),
    }
    base = {**image_environment(), **pod_environment(dev, container), **off_aws}
    command = [*container["command"], *container.get("args", [])]
    pods: list[Pod] = []

    def start(name: str) -> Pod:
        port = base["EXCHANGE_MATCHER_PORT"] if not pods else str(free_port())
        # The pod's name, which the manifest's fieldRef gives each pod.
        env = {**base, "MATCHER_INSTANCE_ID": name, "EXCHANGE_MATCHER_PORT": port}
        pods.append(Pod(command, env, tmp_path / f"{name}.log"))
        return pods[-1]

    yield start
    for pod in pods:
        if pod.proc.poll() is None:
            pod.proc.kill()
            pod.proc.wait(10)


def image_environment() -> dict[str, str]:
    """The final stage's ENV, its venv being this test's virtualenv."""
    env = {"PATH": os.environ["PATH"]}
    for line in dockerfile_stages()[-1].arguments("ENV"):
        for pair in line.split():
            key, _, value = pair.partition("=")
            env[key] = value.replace("$PATH", os.environ["PATH"]).replace(
                VENV, str(Path(sys.executable).parent.parent))
    return env


def test_the_pod_becomes_ready_and_settles_crossing_orders(
    db: Conn, producer: Producer, topics: Topics, market: Market, container: Object,
    start_pod: Callable[[str], Pod],
) -> None:
    start_pod(POD_NAME).start_like_the_kubelet(container)

    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): BTC_UNIT, (buyer, "USDT"): 100_000 * USD})
    commands = place_orders(db, market, [
        new_order(seller, Side.SELL, price=PRICE_50K, qty=BTC_UNIT // 2),
        new_order(buyer, Side.BUY, price=51_000 * USD, qty=3 * BTC_UNIT // 10)])
    publish(producer, topics.orders, commands)
    wait_applied(db, [c.command_id for c in commands])

    sell, buy = (order_row(db, c.order_id) for c in commands)
    assert (sell["status"], sell["executed_qty"]) == ("PARTIALLY_FILLED", 3 * BTC_UNIT // 10)
    assert buy["status"] == "FILLED"
    # 0.3 BTC at the maker's 50,000: taker 0.2 % of the base, maker 0.1 % of the quote.
    quote_qty = 15_000 * USD
    assert balance(db, buyer, "BTC") == (3 * BTC_UNIT // 10 - 3 * BTC_UNIT // 10 * 2 // 1000, 0)
    assert balance(db, buyer, "USDT") == (100_000 * USD - quote_qty, 0)
    assert balance(db, seller, "USDT") == (quote_qty - quote_qty // 1000, 0)
    assert balance(db, seller, "BTC") == (BTC_UNIT // 2, 2 * BTC_UNIT // 10)
    owner = db.execute("SELECT DISTINCT owner FROM matcher_offsets").fetchall()
    assert owner == [(POD_NAME,)], "the pod owns its partitions under its own name"


def test_sigterm_drains_within_the_grace_period_and_loses_no_command(
    db_url: str, kafka_bootstrap: str, producer: Producer, topics: Topics, market: Market,
    dev: Rendered, container: Object, start_pod: Callable[[str], Pod],
) -> None:
    grace = pod_spec(dev.one("StatefulSet", "matcher"))["terminationGracePeriodSeconds"]
    with psycopg.connect(db_url, autocommit=True) as conn, \
            psycopg.connect(db_url, autocommit=True) as load_conn:
        load = LoadGenerator(load_conn, [market], users=40, seed=11)
        first = start_pod(POD_NAME)
        first.start_like_the_kubelet(container)
        producing = produce_in_background(load, producer, topics.orders, pause=0.2)
        wait_mid_stream(conn, producing)

        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(grace) == 0

        # The StatefulSet's replacement: the same name, so the same static member.
        second = start_pod(POD_NAME)
        second.start_like_the_kubelet(container)
        producing.join()
        wait_applied(conn, load.command_ids, timeout=120)
        owners = conn.execute("SELECT DISTINCT owner FROM matcher_offsets").fetchall()
        assert owners == [(POD_NAME,)], "the replacement took every partition back"
        assert_applied_exactly_once(conn, kafka_bootstrap, topics.orders, [market])
