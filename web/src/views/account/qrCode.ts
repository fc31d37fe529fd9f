/**
 * A QR code as one SVG path (from uqr's `encode` modules), rendered inline by the page:
 * no data: URL, so a strict Content-Security-Policy (img-src 'self') still shows it.
 */

/** The SVG path of the dark modules of `modules` (rows of booleans, true is dark), one
 * unit square each, in a viewBox of `0 0 <size> <size>`. */
export function qrPath(modules: readonly (readonly boolean[])[]): string {
  const squares: string[] = [];
  modules.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) squares.push(`M${x} ${y}h1v1h-1z`);
    });
  });
  return squares.join("");
}
