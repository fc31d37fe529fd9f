/** The audit log: every admin action (and refused one), newest first, a page at a time. */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { useServices } from "../../app/services";
import { FormError, Panel } from "../common/forms";
import {
  compactDetails,
  formatTime,
  mergeOlder,
  pageQuery,
  type AdminPageAnswer,
  type AuditEntry,
} from "./adminForms";
import { useLoad } from "./useLoad";

const PAGE_SIZE = 50;

/** The operator's audit log screen. */
export function AuditSection(): JSX.Element {
  const services = useServices();
  const fetchPage = (beforeId: number | null): Promise<AdminPageAnswer<AuditEntry>> =>
    services.api.v1("GET", `/v1/admin/audit-log?${new URLSearchParams(pageQuery(PAGE_SIZE, beforeId))}`);
  const log = useLoad(() => fetchPage(null));
  const [olderError, setOlderError] = useState<string | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const loadOlder = async (): Promise<void> => {
    const page = log.data;
    if (page === null || page.nextBeforeId === null) return;
    setLoadingOlder(true);
    setOlderError(null);
    try {
      const older = await fetchPage(page.nextBeforeId);
      log.set({ items: mergeOlder(page.items, older.items), nextBeforeId: older.nextBeforeId });
    } catch (error) {
      setOlderError(error instanceof Error ? error.message : String(error));
    } finally {
      setLoadingOlder(false);
    }
  };
  const entries = log.data?.items ?? [];
  return (
    <div class="admin-section" data-testid="admin-audit">
      <Panel title="Audit log" actions={<button type="button" class="ghost" onClick={log.reload}>Newest</button>}>
        <FormError message={log.error} />
        {log.data === null && log.loading ? <p class="muted">Loading the audit log…</p> : null}
        {log.data !== null && entries.length === 0 ? <p class="muted">Nothing recorded yet.</p> : null}
        {entries.length === 0 ? null : (
          <table class="admin-table admin-audit-table" aria-label="Audit log, newest first">
            <thead>
              <tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th>
                <th scope="col">Subject</th><th scope="col">Details</th></tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id} data-testid="admin-audit-row">
                  <td>{formatTime(entry.createdAt)}</td>
                  <td class="num">{entry.actorUserId === null ? "system" : `#${entry.actorUserId}`}</td>
                  <td><code>{entry.action}</code></td>
                  <td>{entry.target}</td>
                  <td class="admin-details"><code>{compactDetails(entry.details)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <FormError message={olderError} />
        {log.data?.nextBeforeId == null ? null
          : <button type="button" class="ghost" disabled={loadingOlder} onClick={() => void loadOlder()}>
              {loadingOlder ? "Loading…" : "Older entries"}
            </button>}
      </Panel>
    </div>
  );
}
