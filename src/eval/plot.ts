/**
 * Loss curves: a self-contained SVG (axes, ticks, legend) for the run directory, and a
 * small block-character chart for the terminal at the end of training.
 */
export interface Series {
  name: string;
  points: [number, number][];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
/** Once the colours run out, each further cycle of them gets its own dash pattern, so no two curves look alike. */
const DASHES = ['', '6 3', '2 3', '9 3 2 3'];

/** Series i's stroke: a colour and, from the 11th series on, a dash pattern (`stroke-dasharray`). */
function stroke(i: number): { color: string; dash: string } {
  return { color: COLORS[i % COLORS.length], dash: DASHES[Math.floor(i / COLORS.length) % DASHES.length] };
}

/** The terminal chart's markers; past them, series are marked a, b, c, … */
const MARKS = ['█', '●', '▲', '◆', '■', '○', '△', '◇', '□', '✚', '✖', '★'];

/**
 * Series i's marker in the terminal chart: distinct for every series of a chart.
 * @example mark(0) // '█'; mark(12) // 'a'
 */
export function mark(i: number): string {
  return i < MARKS.length ? MARKS[i] : String.fromCharCode(97 + ((i - MARKS.length) % 26));
}

function niceTicks(lo: number, hi: number, n: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function lossCurveSVG(series: readonly Series[], opts: { title: string; xLabel?: string; yLabel?: string }): string {
  const W = 760,
    H = 440,
    L = 64,
    R = 180,
    T = 40,
    B = 52;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!Number.isFinite(y0)) [y0, y1] = [0, 1];
  if (y1 - y0 < 1e-6) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  if (x1 <= x0) x1 = x0 + 1;
  const sx = (x: number): number => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number): number => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2 - R / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(opts.title)}</text>`);
  for (const v of niceTicks(y0, y1, 6)) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${L - 6}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${+v.toFixed(3)}</text>`);
  }
  for (const v of niceTicks(x0, x1, 6)) {
    out.push(`<line x1="${sx(v).toFixed(1)}" x2="${sx(v).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${sx(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" fill="#444">${v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : v}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#888"/>`);
  if (opts.xLabel) out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel) out.push(`<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(opts.yLabel)}</text>`);
  series.forEach((s, i) => {
    const { color: c, dash } = stroke(i);
    const da = dash ? ` stroke-dasharray="${dash}"` : '';
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (p.length === 1) out.push(`<circle cx="${sx(p[0][0]).toFixed(1)}" cy="${sy(p[0][1]).toFixed(1)}" r="3" fill="${c}"/>`);
    else if (p.length > 1) out.push(`<polyline fill="none" stroke="${c}" stroke-width="${i === 0 ? 1.2 : 2}"${da} points="${p.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    const ly = T + 14 + i * 18;
    out.push(`<line x1="${W - R + 14}" x2="${W - R + 34}" y1="${ly - 4}" y2="${ly - 4}" stroke="${c}" stroke-width="3"${da}/>`);
    out.push(`<text x="${W - R + 40}" y="${ly}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** A width × height chart of the first series (others as extra rows of markers) in block characters. */
export function terminalChart(series: readonly Series[], opts: { width?: number; height?: number; title?: string } = {}): string {
  const W = opts.width ?? 60;
  const H = opts.height ?? 12;
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (pts.length === 0) return '(no data)';
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 1, y1 + 1];
  const grid = Array.from({ length: H }, () => Array<string>(W).fill(' '));
  series.forEach((s, si) => {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) continue;
      const c = Math.min(W - 1, Math.round(((x - x0) / (x1 - x0 || 1)) * (W - 1)));
      const r = Math.min(H - 1, Math.round((1 - (y - y0) / (y1 - y0)) * (H - 1)));
      grid[r][c] = mark(si);
    }
  });
  const lines = grid.map((row, r) => `${(y1 - (r / (H - 1)) * (y1 - y0)).toFixed(2).padStart(7)} │${row.join('')}`);
  lines.push(`${' '.repeat(8)}└${'─'.repeat(W)}`);
  lines.push(`${' '.repeat(9)}${String(x0).padEnd(W - String(x1).length)}${x1}`);
  if (opts.title) lines.unshift(opts.title);
  lines.push(series.map((s, i) => `${mark(i)} ${s.name}`).join('   '));
  return lines.join('\n');
}
