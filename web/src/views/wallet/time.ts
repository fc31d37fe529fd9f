/** Times of the wallet's histories (ms since the epoch) in the reader's locale and zone. */

/** A timestamp as local date and time; a dash when there is none. */
export function formatTime(ms: number | null): string {
  return ms === null ? "–" : new Date(ms).toLocaleString();
}
