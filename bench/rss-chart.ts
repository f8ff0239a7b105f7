// An SVG line chart of a process's RssAnon over time, written by hand (no dependency): the
// timeline as a polyline, axes with ticks in seconds and MB, dashed limit lines, phases shaded.

export interface ChartPhase {
  name: string;
  from: number; // seconds
  to: number;
  fill: string;
}

export interface ChartLine {
  mb: number;
  label: string;
  stroke: string;
}

export interface RssChart {
  title: string;
  /** Lines under the title. */
  subtitle?: string[];
  /** [seconds, MB] samples. */
  timeline: [number, number][];
  phases: ChartPhase[];
  lines: ChartLine[];
}

const W = 960;
const H = 480;
const M = { left: 64, right: 24, top: 80, bottom: 52 };

/** 1, 2 or 5 times a power of ten, so that `range` takes about `count` steps. */
function niceStep(range: number, count: number): number {
  const raw = Math.max(range, 1e-9) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number) => (Math.abs(x) >= 10 || Number.isInteger(x) ? x.toFixed(0) : x.toFixed(1));

export function rssChartSvg(chart: RssChart): string {
  const samples = chart.timeline;
  const tMax = Math.max(1, ...samples.map(([t]) => t), ...chart.phases.map((p) => p.to));
  const peak = Math.max(0, ...samples.map(([, mb]) => mb));
  const yTop = Math.max(peak, ...chart.lines.map((l) => l.mb)) * 1.1;
  const xStep = niceStep(tMax, 10);
  const yStep = niceStep(yTop, 8);
  const xEnd = Math.ceil(tMax / xStep) * xStep;
  const yEnd = Math.ceil(yTop / yStep) * yStep;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (t: number) => M.left + (t / xEnd) * plotW;
  const y = (mb: number) => M.top + plotH - (mb / yEnd) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(chart.title)}</text>`,
  ];
  chart.subtitle?.forEach((line, i) => out.push(`<text x="${M.left}" y="${42 + 16 * i}" fill="#555">${esc(line)}</text>`));
  for (const phase of chart.phases) {
    const x0 = x(phase.from);
    const x1 = x(phase.to);
    out.push(
      `<rect x="${x0.toFixed(1)}" y="${M.top}" width="${Math.max(0.5, x1 - x0).toFixed(1)}" height="${plotH}" fill="${phase.fill}"/>`,
      `<text x="${((x0 + x1) / 2).toFixed(1)}" y="${M.top + 14}" text-anchor="middle" fill="#333">${esc(phase.name)}</text>`,
    );
  }
  // grid and ticks
  for (let v = 0; v <= yEnd + 1e-9; v += yStep) {
    out.push(
      `<line x1="${M.left}" x2="${M.left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e4e4e4"/>`,
      `<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  for (let t = 0; t <= xEnd + 1e-9; t += xStep) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${M.top + plotH}" y2="${M.top + plotH + 5}" stroke="#333"/>`,
      `<text x="${x(t).toFixed(1)}" y="${M.top + plotH + 18}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + plotH}" stroke="#333"/>`,
    `<line x1="${M.left}" x2="${M.left + plotW}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#333"/>`,
    `<text x="${M.left + plotW / 2}" y="${H - 10}" text-anchor="middle">seconds since the proxy started</text>`,
    `<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">RssAnon (MB)</text>`,
  );
  for (const line of chart.lines) {
    out.push(
      `<line x1="${M.left}" x2="${M.left + plotW}" y1="${y(line.mb).toFixed(1)}" y2="${y(line.mb).toFixed(1)}" stroke="${line.stroke}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${M.left + plotW - 4}" y="${(y(line.mb) - 5).toFixed(1)}" text-anchor="end" fill="${line.stroke}">${esc(line.label)}</text>`,
    );
  }
  if (samples.length) {
    const points = samples.map(([t, mb]) => `${x(t).toFixed(1)},${y(mb).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="#1f5fbf" stroke-width="1.5" stroke-linejoin="round"/>`);
    const [tPeak] = samples.find(([, mb]) => mb === peak) as [number, number];
    out.push(
      `<circle cx="${x(tPeak).toFixed(1)}" cy="${y(peak).toFixed(1)}" r="3.5" fill="#1f5fbf"/>`,
      `<text x="${(x(tPeak) + (x(tPeak) > M.left + plotW * 0.8 ? -6 : 6)).toFixed(1)}" y="${(y(peak) - 6).toFixed(1)}" text-anchor="${x(tPeak) > M.left + plotW * 0.8 ? 'end' : 'start'}" fill="#1f5fbf">peak ${peak.toFixed(1)} MB at ${tPeak.toFixed(1)} s</text>`,
    );
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
