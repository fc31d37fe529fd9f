/**
 * What the wallet page reads: the assets' scales (from exchangeInfo), the balances,
 * deposits and withdrawals (/v1), loaded together and again on `reload()` (after an
 * action) and every `WALLET_REFRESH_MS` while the tab is visible, so a deposit credited
 * or a withdrawal approved shows without reloading the page.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { marketsFromExchangeInfo } from "../../lib/markets";
import { useServices } from "../../app/services";
import { useAction, type Action } from "../common/forms";
import {
  balanceRows,
  scalesOfMarkets,
  type ApiBalance,
  type BalanceRow,
  type Deposit,
  type HistoryPage,
  type Withdrawal,
} from "./walletModel";

/** How often the wallet is read again while shown. */
export const WALLET_REFRESH_MS = 15_000;

const HISTORY_LIMIT = 50;

/** The wallet as last read; null until the first read finished. */
export interface WalletData {
  balances: BalanceRow[];
  deposits: Deposit[];
  withdrawals: Withdrawal[];
}

/** The wallet, the action that reads it (its `problem` when the read failed) and reload. */
export interface WalletState {
  data: WalletData | null;
  loading: Action<[]>;
  reload: () => void;
}

/** Loads the wallet and keeps it fresh. */
export function useWalletData(): WalletState {
  const services = useServices();
  const [scales, setScales] = useState<ReadonlyMap<string, number> | null>(null);
  const [data, setData] = useState<WalletData | null>(null);
  const loading = useAction(async () => {
    const known = scales ?? scalesOfMarkets(marketsFromExchangeInfo(await services.api.publicGet("/api/v3/exchangeInfo")));
    setScales(known);
    const [balances, deposits, withdrawals] = await Promise.all([
      services.api.v1<{ balances: ApiBalance[] }>("GET", "/v1/balances"),
      services.api.v1<HistoryPage<Deposit>>("GET", `/v1/deposits?limit=${HISTORY_LIMIT}`),
      services.api.v1<HistoryPage<Withdrawal>>("GET", `/v1/withdrawals?limit=${HISTORY_LIMIT}`),
    ]);
    setData({ balances: balanceRows(balances.balances, known), deposits: deposits.items,
              withdrawals: withdrawals.items });
  });
  const latest = useRef(loading);
  latest.current = loading;
  const reload = (): void => void latest.current.run();
  useEffect(() => {
    reload();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible" && !latest.current.busy) reload();
    }, WALLET_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  return { data, loading, reload };
}
