/**
 * The operator's screens (admin role only; App.tsx refuses others): a sub-navigation
 * and the section of the route's second part (#/admin/markets by default).
 */
import type { JSX } from "preact";
import { href } from "../../app/router";
import { AssetsSection } from "./AssetsSection";
import { AuditSection } from "./AuditSection";
import { DepositsSection } from "./DepositsSection";
import { MarketsSection } from "./MarketsSection";
import { WithdrawalsSection } from "./WithdrawalsSection";
import "./admin.css";

/** The sections, in the sub-navigation's order. */
const SECTIONS: readonly { name: string; label: string; render: () => JSX.Element }[] = [
  { name: "markets", label: "Markets", render: () => <MarketsSection /> },
  { name: "assets", label: "Assets", render: () => <AssetsSection /> },
  { name: "withdrawals", label: "Withdrawals", render: () => <WithdrawalsSection /> },
  { name: "deposits", label: "Deposits", render: () => <DepositsSection /> },
  { name: "audit", label: "Audit log", render: () => <AuditSection /> },
];

function AdminNav({ current }: { current: string }): JSX.Element {
  return (
    <nav class="admin-nav" aria-label="Operator sections">
      {SECTIONS.map(({ name, label }) => (
        <a key={name} href={href(`/admin/${name}`)} aria-current={name === current ? "page" : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

/** The operator page; `section` is the route's second part ("markets", "assets",
 * "withdrawals", "deposits" or "audit"). */
export function AdminPage({ section }: { section: string }): JSX.Element {
  const shown = SECTIONS.find((entry) => entry.name === section);
  return (
    <div class="admin-page">
      <h1>Operator</h1>
      <AdminNav current={section} />
      {shown === undefined
        ? <p role="alert">There is no operator section “{section}”. <a href={href("/admin/markets")}>Go to markets</a>.</p>
        : <div key={shown.name}>{shown.render()}</div>}
    </div>
  );
}
