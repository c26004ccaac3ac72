import { formatPrice } from '../lib/money.js';

export interface ChartPoint {
  /** Beijing date, YYYY-MM-DD */
  date: string;
  fen: number;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A round ceiling for the y axis: 1, 2 or 5 × a power of ten, in fen (at least ¥1). */
export function niceCeiling(fen: number): number {
  if (fen <= 100) return 100;
  const magnitude = 10 ** Math.floor(Math.log10(fen));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= fen) return step * magnitude;
  return 10 * magnitude;
}

/**
 * Daily revenue as a bar chart in inline SVG (data in, markup out): no script, readable without
 * JavaScript; the page puts the same figures in a table next to it.
 */
export function renderRevenueChart(points: ChartPoint[], opts: { width?: number; height?: number; title?: string } = {}): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 240;
  const title = opts.title ?? 'Daily paid revenue';
  const pad = { top: 16, right: 12, bottom: 28, left: 72 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = niceCeiling(Math.max(0, ...points.map((p) => p.fen)));
  const slot = points.length ? plotW / points.length : plotW;
  const barW = Math.max(1, slot * 0.7);
  const total = points.reduce((s, p) => s + p.fen, 0);
  const first = points[0]?.date ?? '';
  const last = points.at(-1)?.date ?? '';
  const desc = points.length ? `${points.length} days from ${first} to ${last}, ${formatPrice(total)} in all` : 'no data';

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="revenue-chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="chart-title chart-desc">`,
    `<title id="chart-title">${escapeXml(title)}</title>`,
    `<desc id="chart-desc">${escapeXml(desc)}</desc>`,
  ];
  for (const fraction of [0, 0.5, 1]) {
    const y = (pad.top + plotH * (1 - fraction)).toFixed(1);
    parts.push(`<line class="grid" x1="${pad.left}" x2="${width - pad.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text class="axis" x="${pad.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${escapeXml(formatPrice(Math.round(max * fraction)))}</text>`);
  }
  points.forEach((p, i) => {
    const h = max ? (Math.max(0, p.fen) / max) * plotH : 0;
    const x = (pad.left + i * slot + (slot - barW) / 2).toFixed(1);
    const y = (pad.top + plotH - h).toFixed(1);
    parts.push(
      `<rect class="bar" x="${x}" y="${y}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="#1677ff"><title>${escapeXml(`${p.date}: ${formatPrice(Math.max(0, p.fen))}`)}</title></rect>`,
    );
  });
  if (points.length) {
    const baseline = height - pad.bottom + 16;
    parts.push(`<text class="axis" x="${pad.left}" y="${baseline}" font-size="11">${escapeXml(first)}</text>`);
    parts.push(`<text class="axis" x="${width - pad.right}" y="${baseline}" text-anchor="end" font-size="11">${escapeXml(last)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
