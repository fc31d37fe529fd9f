/**
 * Open orders with Cancel (`DELETE /api/v3/order`) and Amend, which reduces the quantity
 * keeping the order's place in the book (`PUT /api/v3/order/amend/keepPriority`) in a
 * small inline form (Escape closes it). Used by the trade page and the orders page.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { useServices } from "../../app/services";
import type { OpenOrder } from "../../lib/accountState";
import { isDecimalText, isZeroDecimal } from "../../lib/decimal";
import type { Market } from "../../lib/orderForm";
import { errorFor, Field, formError, FormError, useAction } from "../common/forms";
import { useAccountActions } from "../account-state/useAccountState";
import { priceText, quantityText } from "./tradeLogic";

/** A price of `market` at its tick's decimals; as sent when the market is unknown. */
export function marketPrice(market: Market | undefined, text: string): string {
  return market === undefined ? text : priceText(market, text);
}

/** An amount of `market`'s base asset at its lot's decimals; as sent when unknown. */
export function marketQuantity(market: Market | undefined, text: string): string {
  return market === undefined ? text : quantityText(market, text);
}

function hasStopPrice(order: OpenOrder): boolean {
  return isDecimalText(order.stopPrice ?? "") && !isZeroDecimal(order.stopPrice);
}

/** Date and time of `ms` in the viewer's locale, 24 h. */
export function dateTimeOf(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}

function AmendForm({ order, market, onDone }: { order: OpenOrder; market: Market | undefined; onDone: () => void }): JSX.Element {
  const services = useServices();
  const accountActions = useAccountActions();
  const [newQty, setNewQty] = useState("");
  const id = `amend-${order.symbol}-${order.orderId}`;
  const amend = useAction(async () => {
    await services.api.account("PUT", "/api/v3/order/amend/keepPriority",
      { symbol: order.symbol, orderId: order.orderId, newQty: newQty.trim() });
    accountActions?.afterOwnAction();
    onDone();
  });
  return (
    <form class="amend-form" noValidate
          onSubmit={(event) => {
            event.preventDefault();
            void amend.run();
          }}
          onKeyDown={(event) => {
            if (event.key === "Escape") onDone();
          }}>
      <Field id={id} label={`New quantity (below ${marketQuantity(market, order.origQty)})`}
             error={errorFor(amend.problem, "newQty", "quantity")}>
        {(describedBy, invalid) => (
          <input id={id} type="text" inputMode="decimal" autoComplete="off" value={newQty} autoFocus
                 aria-describedby={describedBy} aria-invalid={invalid}
                 onInput={(event) => setNewQty(event.currentTarget.value)} />
        )}
      </Field>
      <FormError message={formError(amend.problem, ["newQty", "quantity"]) ?? amend.failure} />
      <button type="submit" disabled={amend.busy || newQty.trim() === ""}>Save quantity</button>
      <button type="button" class="ghost" onClick={onDone}>Keep as is</button>
    </form>
  );
}

function OpenOrderRow({ order, market, showSymbol }: { order: OpenOrder; market: Market | undefined; showSymbol: boolean }): JSX.Element {
  const services = useServices();
  const accountActions = useAccountActions();
  const [amending, setAmending] = useState(false);
  const cancel = useAction(async () => {
    await services.api.account("DELETE", "/api/v3/order", { symbol: order.symbol, orderId: order.orderId });
    accountActions?.afterOwnAction();
  });
  const columns = showSymbol ? 9 : 8;
  const cancelError = formError(cancel.problem, []) ?? cancel.failure;
  return (
    <>
      <tr data-testid="open-order-row" data-order-id={order.orderId}>
        <td class="muted">{dateTimeOf(order.time)}</td>
        {showSymbol ? <td>{order.symbol}</td> : null}
        <td class={order.side === "BUY" ? "up" : "down"}>{order.side === "BUY" ? "Buy" : "Sell"}</td>
        <td>
          {order.type.replace(/_/g, " ").toLowerCase()}
          {hasStopPrice(order) ? <span class="muted"> (stop {marketPrice(market, order.stopPrice)})</span> : null}
        </td>
        <td class="num">{marketPrice(market, order.price)}</td>
        <td class="num">{marketQuantity(market, order.origQty)}</td>
        <td class="num">{marketQuantity(market, order.executedQty)}</td>
        <td>{order.status === "PARTIALLY_FILLED" ? "Partly filled" : "Open"}</td>
        <td class="row-actions">
          <button type="button" class="ghost small" aria-expanded={amending}
                  aria-label={`Amend order ${order.orderId}`} onClick={() => setAmending(!amending)}>Amend</button>
          <button type="button" class="danger small" disabled={cancel.busy}
                  aria-label={`Cancel order ${order.orderId}`} onClick={() => void cancel.run()}>
            {cancel.busy ? "Cancelling…" : "Cancel"}
          </button>
        </td>
      </tr>
      {cancelError === null ? null : (
        <tr><td colSpan={columns}><p class="error" role="alert">{cancelError}</p></td></tr>
      )}
      {amending ? (
        <tr class="amend-row"><td colSpan={columns}>
          <AmendForm order={order} market={market} onDone={() => setAmending(false)} />
        </td></tr>
      ) : null}
    </>
  );
}

/** A table of open orders; `showSymbol` adds the market column. */
export function OpenOrdersTable({ orders, markets, showSymbol, label }: {
  orders: readonly OpenOrder[];
  markets: ReadonlyMap<string, Market>;
  showSymbol: boolean;
  label: string;
}): JSX.Element {
  return (
    <table aria-label={label} class="open-orders-table">
      <thead>
        <tr>
          <th scope="col">Time</th>
          {showSymbol ? <th scope="col">Market</th> : null}
          <th scope="col">Side</th>
          <th scope="col">Type</th>
          <th scope="col">Price</th>
          <th scope="col">Amount</th>
          <th scope="col">Filled</th>
          <th scope="col">Status</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        {orders.length === 0
          ? <tr><td colSpan={showSymbol ? 9 : 8} class="muted">No open orders</td></tr>
          : orders.map((order) => (
              <OpenOrderRow key={`${order.symbol}:${order.orderId}`} order={order}
                            market={markets.get(order.symbol)} showSymbol={showSymbol} />
            ))}
      </tbody>
    </table>
  );
}
