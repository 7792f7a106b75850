// A small SVG chart of a few series over time (the overview's throughput): areas under
// lines, a y axis with round ticks, and the value under the pointer. Drawn in pixels from
// the box's measured width, so text and strokes keep their size at any width.

import { html, useEffect, useRef, useState } from "../vendor/preact-htm.module.js";

const PAD = { top: 10, right: 12, bottom: 22, left: 40 };

/** The smallest "round" number (1, 2 or 5 times a power of ten) at or above `value`. */
function niceCeiling(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function useWidth() {
  const ref = useRef(null);
  const [width, setWidth] = useState(600);
  useEffect(() => {
    const box = ref.current;
    if (!box) return undefined;
    const observer = new ResizeObserver(([entry]) => setWidth(Math.max(160, entry.contentRect.width)));
    observer.observe(box);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

const MINUTE = 60000;

/**
 * `points`: [{at: ms, values: {name: number}}], oldest first; `series`: [{name, label,
 * className}], drawn in that order; `maxSpanMs`: the most time the x axis covers, ending
 * at the last point (it covers less, in whole minutes, while the data is younger).
 */
export function Chart({ points, series, maxSpanMs, height = 180, unit = "/s", label }) {
  const [ref, width] = useWidth();
  const [hover, setHover] = useState(null);
  const end = points.length ? points[points.length - 1].at : Date.now();
  const age = points.length ? end - points[0].at : 0;
  const spanMs = Math.min(maxSpanMs, Math.max(MINUTE, Math.ceil(age / MINUTE) * MINUTE));
  const start = end - spanMs;
  const shown = points.filter((p) => p.at >= start);
  const top = niceCeiling(Math.max(0, ...shown.flatMap((p) => series.map((s) => p.values[s.name] || 0))));
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (at) => PAD.left + ((at - start) / spanMs) * plotW;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const base = PAD.top + plotH;

  const paths = series.map((s) => {
    if (shown.length < 2) return { ...s, line: "", area: "" };
    const coords = shown.map((p) => [x(p.at), y(p.values[s.name] || 0)]);
    const line = coords.map(([cx, cy], i) => `${i ? "L" : "M"}${cx.toFixed(1)},${cy.toFixed(1)}`).join("");
    const area = `${line}L${coords[coords.length - 1][0].toFixed(1)},${base}L${coords[0][0].toFixed(1)},${base}Z`;
    return { ...s, line, area };
  });
  const ticks = [0, top / 2, top];
  // a label every so many seconds that they never touch: at least 70 px apart
  const steps = [15, 30, 60, 120, 300].map((s) => s * 1000);
  const step = steps.find((s) => (s / spanMs) * plotW >= 70) || spanMs;
  const xTicks = Array.from({ length: Math.floor(spanMs / step) + 1 }, (_, i) => i * step);
  const tickText = (ms) => (ms === 0 ? "now" : ms % MINUTE ? `−${ms / 1000} s` : `−${ms / MINUTE} min`);

  const move = (event) => {
    if (!shown.length) return;
    const box = event.currentTarget.getBoundingClientRect();
    const at = start + ((event.clientX - box.left - PAD.left) / plotW) * spanMs;
    let nearest = shown[0];
    for (const p of shown) if (Math.abs(p.at - at) < Math.abs(nearest.at - at)) nearest = p;
    setHover(nearest);
  };

  return html`<div class="chart" ref=${ref}>
    <svg width=${width} height=${height} role="img" aria-label=${label}
         onMouseMove=${move} onMouseLeave=${() => setHover(null)}>
      ${ticks.map(
        (t) => html`<g key=${`y${t}`}>
          <line class="grid" x1=${PAD.left} x2=${width - PAD.right} y1=${y(t)} y2=${y(t)} />
          <text class="axis" x=${PAD.left - 6} y=${y(t) + 4} text-anchor="end">${Number(t.toFixed(2))}</text>
        </g>`,
      )}
      ${xTicks.map(
        (ms) => html`<text key=${`x${ms}`} class="axis" x=${x(end - ms)} y=${height - 6}
              text-anchor=${ms === 0 ? "end" : ms === spanMs ? "start" : "middle"}>${tickText(ms)}</text>`,
      )}
      ${paths.map((p) => html`<path key=${`a${p.name}`} class=${`area ${p.className}`} d=${p.area} />`)}
      ${paths.map((p) => html`<path key=${`l${p.name}`} class=${`line ${p.className}`} d=${p.line} />`)}
      ${hover
        ? html`<line class="cursor" x1=${x(hover.at)} x2=${x(hover.at)} y1=${PAD.top} y2=${base} />`
        : null}
    </svg>
    <div class="chart-legend">
      ${series.map((s) => {
        const last = hover || shown[shown.length - 1];
        const value = last ? last.values[s.name] || 0 : 0;
        return html`<span key=${s.name} class="legend-item"><i class=${`swatch ${s.className}`}></i>${s.label}
          <strong>${Number(value.toFixed(1))}${unit}</strong></span>`;
      })}
      <span class="legend-when muted">${hover ? new Date(hover.at).toLocaleTimeString("en-GB") : "now"}</span>
    </div>
  </div>`;
}
