"""What an account pays: the market's rates, lowered by the account's fee tier (0009).

Every route that shows or charges a fee reads it here (`account`, `account/commission`,
`order/test` with computeCommissionRates, `/sapi/v1/asset/tradeFee`); the matcher charges
the same rates (``settlement``, with the tier rates it loads per batch). Tiers are set by
an admin; an account is pinned to one, or assigned one from its 30-day volume whenever
an admin recomputes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters import admin_repo, fee_tiers_repo
from chalicelib.domain.errors import ApiError, ErrorCode, bad_request, not_found
from chalicelib.domain.fees import FeeTier, Rates, tier_for
from chalicelib.domain.orders import Market
from chalicelib.service_layer import Conn
from chalicelib.service_layer.admin import asset_scale, record_audit, require_admin


def tiers(conn: Conn) -> list[FeeTier]:
    return fee_tiers_repo.tiers(conn)


def tier_rates(conn: Conn, user_id: int) -> Rates | None:
    """The account's tier rates; None without a tier."""
    return fee_tiers_repo.tier_rates(conn, [user_id]).get(user_id)


def market_rates(conn: Conn, user_id: int, market: Market) -> Rates:
    """What the account pays in the market."""
    spec = market.spec
    return Rates(spec.maker_fee_ppm, spec.taker_fee_ppm).lowest(tier_rates(conn, user_id))


def account_rates(conn: Conn, user_id: int) -> Rates:
    """The highest rates the account pays in any market (`account` shows one pair)."""
    maker, taker = admin_repo.highest_fees_ppm(conn)
    return Rates(maker, taker).lowest(tier_rates(conn, user_id))


@dataclass(frozen=True)
class Recomputed:
    assigned: int
    removed: int


def set_tiers(conn: Conn, *, actor_id: int, tiers: list[FeeTier]) -> list[FeeTier]:
    require_admin(conn, actor_id)
    if len({t.tier for t in tiers}) != len(tiers):
        raise bad_request(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                          "Each tier number appears once.")
    for t in tiers:
        asset_scale(conn, t.volume_asset, param="volumeAsset")
    with conn.transaction():
        fee_tiers_repo.replace_tiers(conn, tiers)
        record_audit(conn, actor_id=actor_id, action="FEE_TIERS_SET", target="fee_tiers",
                     details={"tiers": [t.tier for t in tiers]})
    return fee_tiers_repo.tiers(conn)


def pin_tier(conn: Conn, *, actor_id: int, user_id: int, tier: int | None) -> None:
    """Pin the account to ``tier`` (None: its volume decides again)."""
    require_admin(conn, actor_id)
    if not fee_tiers_repo.user_exists(conn, user_id):
        raise not_found("No such user.")
    if tier is not None and tier not in {t.tier for t in fee_tiers_repo.tiers(conn)}:
        raise unknown_tier()
    with conn.transaction():
        fee_tiers_repo.pin_tier(conn, user_id, tier)
        record_audit(conn, actor_id=actor_id, action="FEE_TIER_PIN", target=f"user:{user_id}",
                     details={"tier": tier})


def unknown_tier() -> ApiError:
    return not_found("No such fee tier.")


def recompute(conn: Conn, *, actor_id: int) -> Recomputed:
    """Assign every unpinned account the tier its 30-day volume reaches."""
    require_admin(conn, actor_id)
    with conn.transaction():
        tiers = fee_tiers_repo.tiers(conn)
        volumes: dict[int, dict[str, int]] = {}
        for asset in {t.volume_asset for t in tiers}:
            for user_id, volume in fee_tiers_repo.volumes_30d(conn, asset).items():
                volumes.setdefault(user_id, {})[asset] = volume
        assigned: dict[int, tuple[int, int] | None] = {
            user_id: None for user_id in fee_tiers_repo.unpinned_users(conn)}
        for user_id, by_asset in volumes.items():
            reached = tier_for(tiers, by_asset)
            if reached is not None:
                assigned[user_id] = (reached.tier, by_asset[reached.volume_asset])
        fee_tiers_repo.assign_by_volume(conn, assigned)
        record_audit(conn, actor_id=actor_id, action="FEE_TIERS_RECOMPUTE",
                     target="fee_tiers", details={"accounts": len(assigned)})
    return Recomputed(sum(1 for v in assigned.values() if v is not None),
                      sum(1 for v in assigned.values() if v is None))
