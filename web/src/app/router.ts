/**
 * Hash routes (`#/trade/BTCUSDT`): the app is one index.html on S3 or on loopback, so
 * every screen is reachable by URL without server rewrites.
 */
import { useEffect, useState } from "preact/hooks";

/** The default screen: the first market's trading view. */
export const HOME = "/trade/BTCUSDT";

/** The current route's path segments, e.g. ["trade", "BTCUSDT"]. */
export function currentRoute(): string[] {
  const path = window.location.hash.replace(/^#/, "") || HOME;
  return path.split("/").filter((part) => part !== "").map(decodeURIComponent);
}

/** The href of a route, for links: `href("/trade/ETHUSDT")`. */
export function href(path: string): string {
  return `#${path}`;
}

/** Goes to a route (adds a history entry, so Back works). */
export function navigate(path: string): void {
  window.location.hash = path;
}

/** The current route's segments, re-rendering when it changes. */
export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const changed = (): void => setRoute(currentRoute());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}
