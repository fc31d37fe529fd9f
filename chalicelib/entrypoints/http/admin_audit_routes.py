"""/v1/admin/ledger-audit: what the ledger auditor last found, and lifting the withdrawal
halt it sets on a break (``service_layer.ledger_audit``).

Clearing is a money action (withdrawals start leaving again): it needs a stepped-up admin
session, is audited, and is refused (409) while the last pass still found a break.
"""

from __future__ import annotations

from chalicelib.domain.ledger_audit import AuditStatus, Break
from chalicelib.domain.money import format_units
from chalicelib.entrypoints.http.admin_routes import admin_user, money_admin
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.presenters import millis
from chalicelib.service_layer import Conn, admin, ledger_audit

routes = ApiBlueprint(__name__)


@routes.route("/v1/admin/ledger-audit", methods=["GET"])
def ledger_audit_status() -> dict[str, object]:
    admin_user()
    with routes.services.db() as conn:
        return shown(conn, ledger_audit.audit_status(conn))


@routes.route("/v1/admin/ledger-audit/clear", methods=["POST"])
def clear_withdrawal_halt() -> dict[str, object]:
    actor = money_admin()
    with routes.services.db() as conn:
        return shown(conn, ledger_audit.clear_halt(conn, actor_id=actor.id))


def shown(conn: Conn, status: AuditStatus) -> dict[str, object]:
    """``status``: never (no pass yet), ok or broken; amounts at their asset's scale."""
    scales = admin.asset_scales(conn)
    return {
        "status": "never" if status.last_pass_at is None else "ok" if status.ok else "broken",
        "withdrawalsHalted": status.withdrawals_halted, "haltedAt": millis(status.halted_at),
        "lastPass": None if status.last_pass_at is None else {
            "at": millis(status.last_pass_at), "full": status.last_pass_full,
            "entriesRead": status.last_pass_entries},
        "lastFullPassAt": millis(status.last_full_at), "passes": status.passes,
        "breaks": [shown_break(b, scales.get(b.asset)) for b in status.breaks]}


def shown_break(found: Break, scale: int | None) -> dict[str, object]:
    """An asset the exchange does not list (an entry naming a missing one) shows units."""
    def amount(units: int) -> str:
        return str(units) if scale is None else format_units(units, scale)

    return {"invariant": found.invariant.value, "asset": found.asset,
            "balanceId": found.balance_id, "userId": found.user_id, "bucket": found.bucket,
            "expected": amount(found.expected), "actual": amount(found.actual)}
