/**
 * The candlestick chart with volume (lightweight-charts 5): history from
 * `GET /api/v3/klines`, live from `<symbol>@kline_<interval>`, an interval switcher,
 * the theme's colours, resized with its container and disposed on unmount.
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import {
  CandlestickSeries,
  ColorType,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
} from "lightweight-charts";
import { useServices } from "../../app/services";
import {
  CandleSeries,
  candleFromStream,
  candlesFromKlines,
  toChartBar,
  toVolumeBar,
  type Candle,
  type Interval,
} from "../../lib/candles";
import { formatAmount } from "../../lib/decimal";
import type { Market } from "../../lib/orderForm";
import { Panel } from "../common/forms";
import { priceText } from "./tradeLogic";

/** The intervals the switcher offers. */
const CHART_INTERVALS: readonly Interval[] = ["1m", "5m", "15m", "1h", "4h", "1d"];
const HISTORY_LIMIT = 500;
/** The chart's height when its container has none (the stylesheet sets it). */
const CHART_HEIGHT = 360;

/** The chart's colours, read from the stylesheet's variables of the current theme. */
interface ChartColors {
  background: string;
  text: string;
  grid: string;
  up: string;
  down: string;
}

function themeColors(): ChartColors {
  const style = getComputedStyle(document.documentElement);
  const read = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;
  return {
    background: read("--panel", "#171b22"),
    text: read("--muted", "#9aa3ad"),
    grid: read("--border", "#2a303a"),
    up: read("--buy", "#0ecb81"),
    down: read("--sell", "#f6465d"),
  };
}

interface ChartParts {
  chart: IChartApi;
  candles: ISeriesApi<"Candlestick">;
  volume: ISeriesApi<"Histogram">;
}

function applyTheme(parts: ChartParts): void {
  const colors = themeColors();
  parts.chart.applyOptions({
    layout: { background: { type: ColorType.Solid, color: colors.background }, textColor: colors.text },
    grid: { vertLines: { color: colors.grid }, horzLines: { color: colors.grid } },
  });
  parts.candles.applyOptions({
    upColor: colors.up, downColor: colors.down, wickUpColor: colors.up, wickDownColor: colors.down,
    borderVisible: false,
  });
}

/** Creates the chart in `container`, themed, sized and priced for `market`. */
function createParts(container: HTMLElement, market: Market): ChartParts {
  const chart = createChart(container, {
    // The logo injects a <style> element, which the CSP refuses: the attribution that
    // lightweight-charts' licence asks for is the footer's link instead (App.tsx).
    layout: { attributionLogo: false },
    width: container.clientWidth,
    height: container.clientHeight || CHART_HEIGHT,
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const tick = formatAmount(market.tickSize, market.quoteScale, { trim: true });
  const precision = tick.includes(".") ? tick.length - tick.indexOf(".") - 1 : 0;
  const candles = chart.addSeries(CandlestickSeries, {
    priceFormat: { type: "price", precision, minMove: Number(tick) },
  });
  const volume = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "" });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const parts = { chart, candles, volume };
  applyTheme(parts);
  return parts;
}

/** Keeps the chart as wide as its container and in the current theme. */
function followContainerAndTheme(container: HTMLElement, parts: ChartParts): () => void {
  const resize = new ResizeObserver(() => parts.chart.resize(container.clientWidth,
    container.clientHeight || CHART_HEIGHT));
  resize.observe(container);
  const theme = new MutationObserver(() => applyTheme(parts));
  theme.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  return () => {
    resize.disconnect();
    theme.disconnect();
  };
}

/** Draws the candles: all of them, or only the last after a live update. */
function draw(parts: ChartParts, series: CandleSeries, candle: Candle | null): void {
  if (candle === null) {
    const all = series.candles();
    parts.candles.setData(all.map(toChartBar));
    parts.volume.setData(all.map(toVolumeBar));
    return;
  }
  parts.candles.update(toChartBar(candle));
  parts.volume.update(toVolumeBar(candle));
}

/** Loads the history, follows the live stream; reports the last candle's close. */
function useCandles(parts: ChartParts | null, symbol: string, interval: Interval,
  onLast: (close: string | null) => void): string | null {
  const services = useServices();
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (parts === null) return undefined;
    const series = new CandleSeries();
    let pending: Candle[] | null = [];
    let live = true;
    const reportLast = (): void => onLast(series.candles().at(-1)?.close ?? null);
    const applyLive = (candle: Candle): void => {
      const outcome = series.apply(candle);
      if (outcome === "ignored-older") return;
      draw(parts, series, outcome === "replaced-older" ? null : candle);
      reportLast();
    };
    const loadHistory = (): void => {
      pending = [];
      services.api.publicGet<unknown[]>("/api/v3/klines", { symbol, interval, limit: HISTORY_LIMIT })
        .then((rows) => {
          if (!live) return;
          series.load(candlesFromKlines(rows, Date.now()));
          draw(parts, series, null);
          const buffered = pending ?? [];
          pending = null;
          buffered.forEach(applyLive);
          reportLast();
          setError(null);
        })
        .catch((failure: unknown) => live && setError(failure instanceof Error ? failure.message : String(failure)));
    };
    const stopStream = services.market.on(`${symbol.toLowerCase()}@kline_${interval}`, (data) => {
      let candle: Candle;
      try {
        candle = candleFromStream(data);
      } catch {
        return;
      }
      if (pending === null) applyLive(candle);
      else pending.push(candle);
    });
    const stopReopen = services.market.onReopen(loadHistory);
    onLast(null);
    draw(parts, series, null);
    loadHistory();
    return () => {
      live = false;
      stopStream();
      stopReopen();
    };
  }, [parts, symbol, interval, services]);
  return error;
}

/** The interval buttons. */
function IntervalSwitcher({ value, onChange }: { value: Interval; onChange: (interval: Interval) => void }): JSX.Element {
  return (
    <div class="interval-switcher" role="group" aria-label="Chart interval">
      {CHART_INTERVALS.map((interval) => (
        <button key={interval} type="button" class="ghost small" aria-pressed={interval === value}
                onClick={() => onChange(interval)}>{interval}</button>
      ))}
    </div>
  );
}

/** The chart panel of `market`. */
export function ChartPanel({ market }: { market: Market }): JSX.Element {
  const container = useRef<HTMLDivElement>(null);
  const [parts, setParts] = useState<ChartParts | null>(null);
  const [interval, setChartInterval] = useState<Interval>("1m");
  const [lastClose, setLastClose] = useState<string | null>(null);
  useEffect(() => {
    const element = container.current;
    if (element === null) return undefined;
    const created = createParts(element, market);
    const stopFollowing = followContainerAndTheme(element, created);
    setParts(created);
    return () => {
      stopFollowing();
      setParts(null);
      created.chart.remove();
    };
  }, [market.symbol, market.tickSize, market.quoteScale]);
  const error = useCandles(parts, market.symbol, interval, setLastClose);
  return (
    <div data-testid="chart" class="trade-chart">
      <Panel title={`${market.baseAsset}/${market.quoteAsset} chart`}
             actions={<IntervalSwitcher value={interval} onChange={setChartInterval} />}>
        <div ref={container} class="chart-canvas" role="img"
             aria-label={`Candlestick chart of ${market.symbol}, ${interval} candles`} />
        <p class="chart-last muted">
          Last close: <span data-testid="last-candle-close" class="num">
            {lastClose === null ? "–" : priceText(market, lastClose)}
          </span>
        </p>
        {error === null ? null : <p class="error" role="alert">Candles could not be loaded: {error}</p>}
      </Panel>
    </div>
  );
}
