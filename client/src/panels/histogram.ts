/**
 * The tree height histogram as plain SVG (no chart library): bars, a count axis with a few ticks,
 * height labels in metres, and a <title> per bar so hovering or a screen reader gives exact counts.
 */
export interface Histogram {
  /** Bin edges in metres (counts.length + 1 of them); derived from min/bin_width when absent. */
  edges?: number[];
  counts: number[];
  bin_width?: number;
  min?: number;
}

export function binEdges(h: Histogram): number[] {
  if (h.edges && h.edges.length === h.counts.length + 1) return h.edges;
  const w = h.bin_width ?? 1;
  const start = h.min ?? 0;
  return Array.from({ length: h.counts.length + 1 }, (_, i) => start + i * w);
}

/** A "nice" step for about `n` ticks up to `max` (1, 2 or 5 times a power of ten). */
export function niceStep(max: number, n = 4): number {
  if (!(max > 0)) return 1;
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function histogramSvg(h: Histogram, width = 320, height = 160): string {
  const edges = binEdges(h);
  const counts = h.counts;
  const left = 40, right = 8, top = 8, bottom = 30;
  const plotW = width - left - right, plotH = height - top - bottom;
  const maxCount = Math.max(1, ...counts);
  const step = niceStep(maxCount);
  const yMax = Math.ceil(maxCount / step) * step;
  const y = (c: number) => top + plotH - (c / yMax) * plotH;
  const barW = counts.length ? plotW / counts.length : plotW;
  const total = counts.reduce((a, b) => a + b, 0);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="Histogram of tree heights: ${total} trees in ${counts.length} height classes">`);
  for (let t = 0; t <= yMax; t += step) {
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#dde3de" />`);
    parts.push(`<text x="${left - 4}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="10" fill="#4a5a52">${t}</text>`);
  }
  counts.forEach((c, i) => {
    const x = left + i * barW;
    const yy = y(c);
    parts.push(`<rect class="bar" x="${(x + 0.5).toFixed(1)}" y="${yy.toFixed(1)}" width="${Math.max(0.5, barW - 1).toFixed(1)}" height="${(top + plotH - yy).toFixed(1)}" fill="#1f6b3a" data-count="${c}"><title>${trim(edges[i])}–${trim(edges[i + 1])} m: ${c} trees</title></rect>`);
  });
  const labelEvery = Math.max(1, Math.ceil(counts.length / 8));
  for (let i = 0; i <= counts.length; i += labelEvery) {
    parts.push(`<text x="${(left + i * barW).toFixed(1)}" y="${height - bottom + 13}" text-anchor="middle" font-size="10" fill="#4a5a52">${trim(edges[i])}</text>`);
  }
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#4a5a52" />`);
  parts.push(`<text x="${left + plotW / 2}" y="${height - 3}" text-anchor="middle" font-size="10.5" fill="#1b2420">tree height (m)</text>`);
  parts.push('</svg>');
  return parts.join('');
}
