"""The composition root: each process's adapters built from its settings, in one place.

As in Cosmic Python's ``bootstrap.py``, one function per role (the API, the sweeper,
the fan-out, the candles function) builds the clients that role uses and hands them to
its handlers; the handlers import no adapter. A test passes its own part (a clock, a
publisher) and gets the rest as the process has it. The matcher has its own root,
``matching_cluster.service.bootstrap``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import boto3
import redis

from chalicelib.adapters.candles_store import CandleRepository, KlineEvents
from chalicelib.adapters.envelope import KmsMasterKey, LocalMasterKey, MasterKey
from chalicelib.adapters.kafka import make_producer
from chalicelib.adapters.listen_keys import ListenKeyStore
from chalicelib.adapters.market_cache import ClosedKlines, MarketDataCache, RecentKlines
from chalicelib.adapters.metrics import MetricsRecorder, metrics_for
from chalicelib.adapters.order_publisher import CommandPublisher as KafkaCommandPublisher
from chalicelib.adapters.outages import outage_of as outage_of
from chalicelib.adapters.postgres import (
    API_LIMITS,
    FUNCTION_LIMITS,
    Database,
    DbLimits,
)
from chalicelib.adapters.redis_store import (
    LoginFailures,
    OrderCounter,
    SessionStore,
    TotpFailures,
    UsedTotpCodes,
    WeightMeter,
    redis_client,
)
from chalicelib.adapters.replay_guard import ReplayGuard
from chalicelib.adapters.settled_orders import SettledOrderNotices
from chalicelib.adapters.stream_subscriptions import (
    CancelClientIds,
    OrderEventProgress,
    StreamSubscriptions,
)
from chalicelib.adapters.ws_sender import sender_for
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.orders import Market
from chalicelib.service_layer import api_keys, order_intake
from chalicelib.service_layer.api_keys import ReadKey
from chalicelib.service_layer.auth import AuthContext
from chalicelib.service_layer.order_intake import UnitOfWork
from chalicelib.service_layer.ports import (
    CancelRequests,
    CommandPublisher,
    ListenKeys,
    MarketCache,
    Sender,
    SettledOrders,
    Subscriptions,
)
from chalicelib.service_layer.recently_read import RecentlyRead, recent_keys, recent_markets
from chalicelib.service_layer.stream_fanout import FanoutContext
from chalicelib.service_layer.tokens import TokenConfig
from chalicelib.settings import Settings


@dataclass(frozen=True)
class Services:
    """What the API's handlers use (HTTP and WebSocket), built once per Lambda container."""

    settings: Settings
    clock: Clock
    db: UnitOfWork
    """A pooled connection to the writer for one request, committed when the block ends
    without error; a lost, refused or silent one raises ``BackendUnavailableError``."""
    single_read: UnitOfWork
    """A pooled connection to the writer in autocommit, for work that is one read (one
    round trip, no BEGIN or COMMIT); retried like a transaction when its connection is
    lost."""
    single_write: UnitOfWork
    """The same for one statement that writes atomically by itself (a server-side
    function): a connection lost while it runs is not retried, it may have committed."""
    read_db: UnitOfWork
    """The same on ``DATABASE_READ_URL`` (a standby, Aurora's reader): for reads that may
    lag a little (history pages, market data, exchangeInfo), never for a read that must
    see what this client just wrote (balances before placing, an order just placed)."""
    master_key: MasterKey
    auth: AuthContext
    weights: WeightMeter
    order_counts: OrderCounter
    """New orders per account in the ORDERS windows (Binance's order rate limits)."""
    publisher: CommandPublisher
    replay_guard: ReplayGuard
    market_cache: MarketCache
    subscriptions: Subscriptions
    listen_keys: ListenKeys
    cancel_requests: CancelRequests
    sender_for: Callable[[str], Sender]
    """The sender posting to WebSocket clients through the management API at a URL."""
    metrics: MetricsRecorder
    """The API's metrics (requests, order outcomes, rate-limit refusals)."""
    recent_markets: RecentlyRead[Market] = field(
        default_factory=lambda: recent_markets(time.monotonic))
    """Markets as order placements last read them (checked again by each placement)."""
    recent_keys: RecentlyRead[ReadKey] = field(
        default_factory=lambda: recent_keys(time.monotonic))
    """API keys as order placements last read them (checked again by each placement)."""
    resources: ExitStack = field(default_factory=ExitStack)
    """What the bootstrap opened, closed with the services."""
    settled_orders: SettledOrders | None = None
    """The matcher's word of settled orders, which RESULT and FULL answers wait for."""

    def now_ms(self) -> int:
        return self.clock.now_ms()

    @property
    def intake(self) -> order_intake.Intake:
        # The time module is intake's waiting clock: monotonic() and sleep() are all it needs.
        return order_intake.Intake(self.db, self.publisher, time,
                                   self.settings.order_result_wait_ms / 1000,
                                   self.recent_markets, self.single_write,
                                   self.settled_orders)

    def close(self) -> None:
        self.resources.close()


def bootstrap_api(settings: Settings, *, clock: Clock = SYSTEM_CLOCK,
                  weight_clock: Clock | None = None,
                  publisher: CommandPublisher | None = None) -> Services:
    """The API's services: PostgreSQL, Redis, the master key and the orders topic.

    Request weights and order counts follow ``weight_clock`` (``clock`` unless given):
    a test moves it through minutes while tokens and signed requests keep real time."""
    resources = ExitStack()
    client = resources.enter_context(
        redis_client(settings, socket_timeout=5, health_check_interval=30))
    writer = resources.enter_context(small_pool(settings, API_LIMITS))
    reader = resources.enter_context(read_pool(settings, writer))
    master = master_key_for(settings)
    metrics = metrics_for("api")
    return Services(
        settings=settings, clock=clock, db=writer.transaction,
        single_read=functools.partial(writer.statement, reads_only=True),
        single_write=functools.partial(writer.statement, reads_only=False),
        read_db=reader.transaction,
        master_key=master,
        auth=auth_context(settings, client, master, clock),
        weights=WeightMeter(client, weight_clock or clock),
        order_counts=OrderCounter(client, weight_clock or clock),
        publisher=publisher or kafka_publisher(settings, resources, metrics, "api"),
        replay_guard=ReplayGuard(client, api_keys.SIGNATURE_LIFETIME_MS),
        market_cache=MarketDataCache(client), subscriptions=StreamSubscriptions(client),
        listen_keys=ListenKeyStore(client), cancel_requests=CancelClientIds(client),
        sender_for=lambda endpoint: sender_for(endpoint, settings.aws_region,
                                               settings.exchange_env == "local"),
        metrics=metrics, resources=resources,
        settled_orders=settled_notices(client, resources))


def settled_notices(client: redis.Redis, resources: ExitStack) -> SettledOrders:
    """The process's one subscription to the matcher's word, opened on first use."""
    notices = SettledOrderNotices(client)
    resources.callback(notices.close)
    return notices


def auth_context(settings: Settings, client: redis.Redis,
                 master: MasterKey, clock: Clock) -> AuthContext:
    tokens = TokenConfig(settings.signing_key.get_secret_value(), settings.jwt_issuer,
                         settings.jwt_audience, settings.access_token_ttl_seconds)
    return AuthContext(
        sessions=SessionStore(client, settings.refresh_session_ttl_seconds),
        failures=LoginFailures(client, settings.login_max_failures,
                               settings.login_ip_max_failures,
                               settings.login_email_max_failures,
                               settings.login_lockout_seconds),
        totp_failures=TotpFailures(client, settings.totp_max_failures,
                                   settings.login_lockout_seconds),
        used_codes=UsedTotpCodes(client), master_key=master, tokens=tokens,
        step_up_ttl_seconds=settings.step_up_ttl_seconds, clock=clock)


def master_key_for(settings: Settings) -> MasterKey:
    if settings.exchange_env == "aws":
        if not settings.kms_key_id:
            raise RuntimeError("EXCHANGE_ENV=aws needs KMS_KEY_ID: the key that wraps API secrets")
        kms = boto3.client("kms", region_name=settings.aws_region)
        return KmsMasterKey(kms, settings.kms_key_id)
    return LocalMasterKey(settings.local_master_key_path)


def small_pool(settings: Settings, limits: DbLimits, *, autocommit: bool = False) -> Database:
    """The writer's pool. A Lambda container serves one request (or batch) at a time: a
    tiny pool suffices."""
    return Database(settings.database_url, limits.for_settings(settings), name="writer",
                    autocommit=autocommit)


@contextmanager
def read_pool(settings: Settings, writer: Database) -> Iterator[Database]:
    """The reader's pool: the writer's own while DATABASE_READ_URL names the writer;
    else one connected on first use only."""
    if settings.database_read_url == settings.database_url:
        yield writer
        return
    with Database(settings.database_read_url, writer.limits, name="reader", min_size=0,
                  max_size=2) as reader:
        yield reader


def kafka_publisher(settings: Settings, resources: ExitStack, metrics: MetricsRecorder,
                    service: str) -> CommandPublisher:
    """The orders topic's publisher, flushed when ``resources`` close; ``service`` names
    its failed publishes in ``metrics``."""
    publisher = KafkaCommandPublisher(settings.kafka_bootstrap_servers, settings.orders_topic,
                                      metrics=metrics, service=service)
    resources.callback(publisher.close)
    return publisher


@dataclass(frozen=True)
class SweeperServices:
    """What the sweeper uses to republish stuck order commands."""

    db: UnitOfWork
    """An autocommit connection to the writer for each use."""
    publisher: CommandPublisher
    threshold_seconds: int
    metrics: MetricsRecorder
    resources: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        self.resources.close()


def bootstrap_sweeper(settings: Settings, *,
                      publisher: CommandPublisher | None = None) -> SweeperServices:
    resources = ExitStack()
    limits = FUNCTION_LIMITS.for_settings(settings)
    writer = resources.enter_context(Database(settings.database_url, limits, name="writer",
                                              min_size=0, max_size=1, autocommit=True))
    metrics = metrics_for("sweeper")
    return SweeperServices(writer.transaction,
                           publisher or kafka_publisher(settings, resources, metrics, "sweeper"),
                           settings.sweeper_threshold_seconds, metrics, resources)


@dataclass(frozen=True)
class FanoutServices:
    """What the stream fan-out keeps across the batches of a warm container."""

    context: FanoutContext
    resources: ExitStack

    def close(self) -> None:
        self.resources.close()


def bootstrap_fanout(settings: Settings) -> FanoutServices:
    if not settings.ws_management_endpoint:
        raise RuntimeError("the fan-out needs WS_MANAGEMENT_URL: the WebSocket API's "
                           "https://{api-id}.execute-api.{region}.amazonaws.com/{stage}")
    resources = ExitStack()
    client = resources.enter_context(redis_client(settings, socket_timeout=5))
    pool = resources.enter_context(small_pool(settings, FUNCTION_LIMITS, autocommit=True))
    context = FanoutContext(
        subscriptions=StreamSubscriptions(client), progress=OrderEventProgress(client),
        market_data=MarketDataCache(client), db=pool.transaction,
        sender=sender_for(settings.ws_management_endpoint, settings.aws_region,
                          settings.exchange_env == "local"),
        now_ms=SYSTEM_CLOCK.now_ms, listen_keys=ListenKeyStore(client),
        cancel_requests=CancelClientIds(client))
    resources.callback(context.pool.shutdown)
    return FanoutServices(context, resources)


@dataclass(frozen=True)
class CandleServices:
    """What the candles function keeps across the batches of a warm container."""

    repository: CandleRepository
    recent: RecentKlines
    events: KlineEvents
    finals: ClosedKlines


def bootstrap_candles(settings: Settings) -> CandleServices:
    client = redis_client(settings)
    return CandleServices(
        CandleRepository(settings.database_url, FUNCTION_LIMITS.for_settings(settings)),
        RecentKlines(client),
        KlineEvents(make_producer(settings.kafka_bootstrap_servers),
                    settings.market_events_topic),
        ClosedKlines(client))


@dataclass(frozen=True)
class AuditorServices:
    """What the ledger auditor uses: the writer (its passes write their checkpoint and the
    halt) and its metrics."""

    db: UnitOfWork
    metrics: MetricsRecorder
    resources: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        self.resources.close()


# A full pass sums the whole ledger: longer than a function's usual statement.
AUDITOR_LIMITS = DbLimits(connect_timeout_s=3, deadline_s=240, statement_timeout_ms=230_000)


def bootstrap_ledger_auditor(settings: Settings) -> AuditorServices:
    resources = ExitStack()
    writer = resources.enter_context(Database(
        settings.database_url, AUDITOR_LIMITS.for_settings(settings), name="writer",
        min_size=0, max_size=1, autocommit=True))
    return AuditorServices(writer.transaction, metrics_for("ledger-auditor"), resources)
