"""The OpenAPI table's rows for the ledger auditor's admin routes."""

from __future__ import annotations

from chalicelib.entrypoints.http import admin_audit_routes
from chalicelib.entrypoints.http.route_doc_kinds import ADMIN, Auth, RouteDoc, web_app

ROUTES: tuple[RouteDoc, ...] = (
    web_app("GET", "/v1/admin/ledger-audit", admin_audit_routes.ledger_audit_status,
            "The ledger auditor's last pass (ok or broken, what broke) and whether"
            " withdrawals are halted.", ADMIN, Auth.ADMIN),
    web_app("POST", "/v1/admin/ledger-audit/clear", admin_audit_routes.clear_withdrawal_halt,
            "Lift the withdrawal halt (stepped-up admin, audited); 409 while the last pass"
            " still found a break.", ADMIN, Auth.ADMIN),
)
