import { describe, expect, it } from 'vitest';
import { niceCeiling, renderRevenueChart } from '../../../src/admin/revenue-chart.js';

const days = (fens: number[]) => fens.map((fen, i) => ({ date: `2026-11-${String(i + 1).padStart(2, '0')}`, fen }));

describe('renderRevenueChart', () => {
  it('draws one bar per day, scaled to a round maximum, with a title, a description and the day range', () => {
    const svg = renderRevenueChart(days([0, 5_000, 10_000]), { width: 300, height: 140, title: 'Revenue' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('<title id="chart-title">Revenue</title>');
    expect(svg).toContain('<desc id="chart-desc">3 days from 2026-11-01 to 2026-11-03, ¥150.00 in all</desc>');
    const heights = [...svg.matchAll(/<rect class="bar"[^>]* height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights).toHaveLength(3);
    expect(heights[0]).toBe(0);
    expect(heights[2]).toBeCloseTo(2 * heights[1]!, 5);
    expect(heights[2]).toBeCloseTo(140 - 16 - 28, 5);
    expect(svg).toContain('<title>2026-11-02: ¥50.00</title>');
    expect(svg).toContain('>¥100.00</text>');
  });

  it('escapes every text it writes', () => {
    const svg = renderRevenueChart([{ date: '<script>&"', fen: 1 }], { title: '</title><script>alert(1)</script>' });
    expect(svg).not.toContain('<script');
    expect(svg).toContain('&lt;/title&gt;&lt;script&gt;');
  });

  it('draws an empty chart without dividing by zero', () => {
    const svg = renderRevenueChart(days([0, 0]));
    expect(svg).not.toContain('NaN');
    expect(renderRevenueChart([])).toContain('no data');
  });
});

describe('niceCeiling', () => {
  it('rounds up to 1, 2 or 5 times a power of ten, at least ¥1', () => {
    expect([0, 100, 101, 199, 201, 450, 501, 999, 1001, 123_456].map(niceCeiling)).toEqual([100, 100, 200, 200, 500, 500, 1000, 1000, 2000, 200_000]);
  });
});
