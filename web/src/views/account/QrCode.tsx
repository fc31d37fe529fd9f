/** A QR code drawn inline as SVG (see qrCode.ts), dark on a light square whatever the theme. */
import type { JSX } from "preact";
import { useMemo } from "preact/hooks";
import { encode } from "uqr";
import { qrPath } from "./qrCode";

/** The QR code of `value`, described to screen readers by `label`. */
export function QrCode({ value, label }: { value: string; label: string }): JSX.Element {
  const qr = useMemo(() => encode(value, { ecc: "M", border: 4 }), [value]);
  return (
    <svg class="qr-code" role="img" aria-label={label} viewBox={`0 0 ${qr.size} ${qr.size}`}
         shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg">
      <rect width={qr.size} height={qr.size} fill="#fff" />
      <path d={qrPath(qr.data)} fill="#000" />
    </svg>
  );
}
