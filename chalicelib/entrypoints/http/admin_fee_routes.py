"""/v1/admin fee tiers: define the tiers, pin a user to one, recompute every unpinned
user's tier from their 30-day volume. Each change is audited (``service_layer.fees``)."""

from __future__ import annotations

from chalicelib.domain.fees import FeeTier
from chalicelib.domain.money import format_units, parse_units
from chalicelib.entrypoints.http.admin_routes import admin_user
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.fee_tier_models import FeeTiers, UserFeeTier
from chalicelib.entrypoints.http.requests import parse_body, path_id
from chalicelib.service_layer import Conn, fees
from chalicelib.service_layer.admin import asset_scale

routes = ApiBlueprint(__name__)


def shown(conn: Conn, tier: FeeTier) -> dict[str, object]:
    scale = asset_scale(conn, tier.volume_asset)
    return {"tier": tier.tier, "volumeAsset": tier.volume_asset,
            "minVolume": format_units(tier.min_volume, scale),
            "makerFeePpm": tier.maker_fee_ppm, "takerFeePpm": tier.taker_fee_ppm}


@routes.route("/v1/admin/fee-tiers", methods=["GET"])
def list_fee_tiers() -> dict[str, object]:
    admin_user()
    with routes.services.db() as conn:
        return {"tiers": [shown(conn, t) for t in fees.tiers(conn)]}


@routes.route("/v1/admin/fee-tiers", methods=["PUT"])
def set_fee_tiers() -> dict[str, object]:
    actor, _ = admin_user()
    body = parse_body(routes.current_request, FeeTiers)
    with routes.services.db() as conn:
        tiers = [FeeTier(t.tier, t.volume_asset,
                         parse_units(t.min_volume, asset_scale(conn, t.volume_asset,
                                                               param="volumeAsset"),
                                     param="minVolume"),
                         t.maker_fee_ppm, t.taker_fee_ppm) for t in body.tiers]
        return {"tiers": [shown(conn, t)
                          for t in fees.set_tiers(conn, actor_id=actor.id, tiers=tiers)]}


@routes.route("/v1/admin/users/{user_id}/fee-tier", methods=["PUT"])
def pin_fee_tier(user_id: str) -> dict[str, object]:
    actor, _ = admin_user()
    body = parse_body(routes.current_request, UserFeeTier)
    target = path_id(user_id, "user_id")
    with routes.services.db() as conn:
        fees.pin_tier(conn, actor_id=actor.id, user_id=target, tier=body.tier)
    return {"userId": target, "tier": body.tier, "pinned": body.tier is not None}


@routes.route("/v1/admin/fee-tiers/recompute", methods=["POST"])
def recompute_fee_tiers() -> dict[str, object]:
    actor, _ = admin_user()
    with routes.services.db() as conn:
        done = fees.recompute(conn, actor_id=actor.id)
    return {"assigned": done.assigned, "removed": done.removed}
