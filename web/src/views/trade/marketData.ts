/**
 * The markets, loaded once per app from `GET /api/v3/exchangeInfo`, and the signed-in
 * account's fee rates of one market from `GET /api/v3/account/commission`.
 */
import { useEffect, useState } from "preact/hooks";
import type { Services } from "../../app/services";
import { useMe, useServices } from "../../app/services";
import { listedMarketsFromExchangeInfo, withCommission, type ListedMarket } from "../../lib/markets";
import type { Market } from "../../lib/orderForm";
import { orderTypesBySymbol } from "./tradeLogic";

/** The exchange's markets, their statuses and the order types each one takes. */
export interface MarketCatalog {
  listed: ListedMarket[];
  orderTypes: Record<string, string[]>;
}

/** The catalog, or why it could not be loaded. */
export type CatalogAnswer = { catalog: MarketCatalog; error: null } | { catalog: null; error: string };

const catalogs = new WeakMap<Services, Promise<MarketCatalog>>();

function loadCatalog(services: Services): Promise<MarketCatalog> {
  let pending = catalogs.get(services);
  if (pending === undefined) {
    pending = services.api.publicGet<unknown>("/api/v3/exchangeInfo").then((info) => ({
      listed: listedMarketsFromExchangeInfo(info),
      orderTypes: orderTypesBySymbol(info),
    }));
    pending.catch(() => catalogs.delete(services));
    catalogs.set(services, pending);
  }
  return pending;
}

/** The market catalog (null while loading), shared by every screen. */
export function useMarketCatalog(): CatalogAnswer | null {
  const services = useServices();
  const [answer, setAnswer] = useState<CatalogAnswer | null>(null);
  useEffect(() => {
    let live = true;
    loadCatalog(services).then(
      (catalog) => live && setAnswer({ catalog, error: null }),
      (error: unknown) => live && setAnswer({ catalog: null, error: error instanceof Error ? error.message : String(error) }),
    );
    return () => {
      live = false;
    };
  }, [services]);
  return answer;
}

/** `market` with the signed-in account's fee rates once they arrive (0 % before, and
 *  when signed out). */
export function useMarketWithFees(market: Market | null): Market | null {
  const services = useServices();
  const me = useMe();
  const [withFees, setWithFees] = useState<Market | null>(null);
  const symbol = market?.symbol ?? null;
  useEffect(() => {
    setWithFees(null);
    if (market === null || me === null) return undefined;
    let live = true;
    services.api.account<unknown>("GET", "/api/v3/account/commission", { symbol: market.symbol })
      .then((answer) => live && setWithFees(withCommission(market, answer)))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [services, symbol, me?.id]);
  if (market === null) return null;
  return withFees !== null && withFees.symbol === market.symbol ? withFees : market;
}
