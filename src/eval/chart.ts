/**
 * Grouped bar charts as self-contained SVG (no dependencies, opens in any browser), in the
 * style of the loss curves in plot.ts: one group per metric or task family, one bar per series
 * (model) with the same colour in every group, a legend, value labels on the bars, and a value
 * axis with nice ticks. Used for the eval table (task accuracy by family and model) and the
 * diversity comparison (base vs SFT vs RL).
 */
export interface BarGroup {
  /** Group label under the axis, e.g. "task accuracy". */
  label: string;
  /** One bar per series; a series may be absent from a group, and a NaN value is drawn as missing. */
  values: { series: string; value: number }[];
}

export interface BarChartOptions {
  title: string;
  /** Label of the value axis. */
  yLabel?: string;
  /** Fixed top of the value axis; otherwise the data maximum rounded up to a nice number. */
  yMax?: number;
  /** Values are fractions (0.42) shown as percentages (42%). */
  percent?: boolean;
  /** Size in px; default 760 × 440 (the width grows when there are many bars). */
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

/** XML text and attribute escaping. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A nice tick step giving about n intervals over [lo, hi]. */
function niceStep(lo: number, hi: number, n: number): number {
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
}

/** A tick label (exact, noise-free) or a bar label (3 significant digits). */
function fmt(v: number, percent: boolean, tick = false): string {
  const x = percent ? v * 100 : v;
  const sfx = percent ? '%' : '';
  if (tick) return `${+x.toPrecision(10)}${sfx}`;
  if (x === 0) return `0${sfx}`;
  const a = Math.abs(x);
  if (!percent && a >= 1e5) return `${+(x / 1000).toFixed(0)}k`;
  if (a >= 100) return `${Math.round(x)}${sfx}`;
  if (percent) return `${+x.toFixed(a < 10 ? 1 : 0)}${sfx}`;
  return `${+x.toPrecision(3)}`;
}

/** An axis-aligned box in px: x0 ≤ x1, y0 ≤ y1 (y grows downwards). */
interface Box {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** One drawn bar: its rectangle, centre, the y of its value's end, direction and value label. */
interface Bar {
  box: Box;
  cx: number;
  top: number;
  up: boolean;
  label: string;
}

/** A place for a value label: its box, where the text is anchored (y; x is the bar's centre), how. */
interface LabelPlace {
  box: Box;
  y: number;
  rotated: boolean;
  inside: boolean;
  anchor: 'start' | 'end';
}

const overlaps = (a: Box, b: Box): boolean => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
const within = (a: Box, b: Box): boolean => a.x0 >= b.x0 - 0.5 && a.x1 <= b.x1 + 0.5 && a.y0 >= b.y0 - 0.5 && a.y1 <= b.y1 + 0.5;

/**
 * A label's width in px, generous on purpose: the advance widths of DejaVu Sans (what system-ui
 * falls back to on most Linux desktops, and wider than Segoe UI or SF) in em — digits 0.64,
 * "%" 0.95, "." 0.32, other characters 0.62 — plus 1 px of air each side.
 */
function textWidth(text: string, size: number): number {
  let em = 0;
  for (const c of text) em += c >= '0' && c <= '9' ? 0.64 : c === '%' ? 0.95 : c === '.' ? 0.32 : 0.62;
  return em * size + 2;
}

/**
 * The places to try for a bar's value label, best first: across the bar's end, outside (above a
 * positive bar, below a negative one) then inside; then along the bar, outside then inside.
 * Text boxes run 0.8 em above the baseline and 0.2 em below it; a rotated label is 1 em across.
 */
function labelPlaces(b: Bar, w: number, size: number): LabelPlace[] {
  const { cx, top, up } = b;
  const across = (y0: number, inside: boolean): LabelPlace => ({ box: { x0: cx - w / 2, x1: cx + w / 2, y0, y1: y0 + size }, y: y0 + 0.8 * size, rotated: false, inside, anchor: 'start' });
  // rotated -90°: "start" runs up from the anchor, "end" runs down
  const along = (y: number, runsUp: boolean, inside: boolean): LabelPlace => ({ box: { x0: cx - size / 2, x1: cx + size / 2, y0: runsUp ? y - w : y, y1: runsUp ? y : y + w }, y, rotated: true, inside, anchor: runsUp ? 'start' : 'end' });
  return up ? [across(top - 3 - size, false), across(top + 2, true), along(top - 3, true, false), along(top + 3, false, true)] : [across(top + 3, false), across(top - 2 - size, true), along(top + 3, false, false), along(top - 3, true, true)];
}

/**
 * A grouped bar chart: one cluster per group, one bar per series with a consistent colour
 * and slot (series in order of first appearance), a legend naming every series, the value at
 * the end of each bar (set along the bar where it is wider than the bar, left off where no
 * place overlaps nothing: the bar's tooltip keeps it), and a value axis with nice ticks (steps of 1, 2, 2.5, 5 × 10^k) from 0 (or
 * the tick below the most negative bar) to `yMax`, or else to the data maximum rounded up to
 * the next tick. A NaN (or missing)
 * value leaves its slot empty with a grey "n/a"; values above a fixed `yMax` are clipped with
 * the true value still printed. All text is XML-escaped and every number printed is finite.
 */
export function barChartSVG(groups: readonly BarGroup[], opts: BarChartOptions): string {
  const percent = opts.percent ?? false;
  const series: string[] = [];
  for (const g of groups) for (const v of g.values) if (!series.includes(v.series)) series.push(v.series);
  const nS = Math.max(1, series.length);
  const nG = Math.max(1, groups.length);

  const legendW = Math.min(220, 40 + Math.max(6, ...series.map((s) => s.length)) * 7);
  const L = 64,
    R = legendW + 16,
    T = 44,
    B = 56;
  const W = Math.max(opts.width ?? 760, L + R + nG * (nS * 14 + 24));
  const H = Math.max(opts.height ?? 440, T + B + 120, T + 20 + nS * 18 + 10);

  const finite = groups.flatMap((g) => g.values.map((v) => v.value)).filter((v) => Number.isFinite(v));
  const dataMax = Math.max(0, ...finite);
  const dataMin = Math.min(0, ...finite);
  // axis: a nice step for about 5 intervals over [min(0, data), max(0, data) or yMax]; the ends
  // are rounded out to multiples of it (the top stays at a fixed yMax)
  const fixedMax = opts.yMax !== undefined && Number.isFinite(opts.yMax) && opts.yMax > dataMin ? opts.yMax : undefined;
  const lo = dataMin;
  const hi = fixedMax ?? (dataMax > lo ? dataMax : lo + 1);
  const step = niceStep(lo, hi, 5);
  const y0 = lo < 0 ? +(Math.floor(lo / step + 1e-9) * step).toPrecision(12) : 0;
  const y1 = fixedMax ?? +(Math.ceil(hi / step - 1e-9) * step).toPrecision(12);
  const plotW = W - L - R;
  const plotH = H - T - B;
  const sy = (y: number): number => T + (1 - (Math.min(y1, Math.max(y0, y)) - y0) / (y1 - y0)) * plotH;
  const color = (s: string): string => COLORS[series.indexOf(s) % COLORS.length];

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${esc(opts.title)}</text>`);

  // value axis: grid lines and tick labels
  for (let v = Math.ceil(y0 / step - 1e-9) * step; v <= y1 + step * 1e-9; v += step) {
    const t = +v.toPrecision(12);
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="${t === 0 ? '#888' : '#e5e5e5'}"/>`);
    out.push(`<text x="${L - 6}" y="${(+y + 4).toFixed(1)}" text-anchor="end" fill="#444">${esc(fmt(t, percent, true))}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  if (opts.yLabel) out.push(`<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(opts.yLabel)}</text>`);

  // bars: every bar's geometry first, so that each value label can be checked against all bars
  const slot = plotW / nG;
  const barW = (slot * 0.8) / nS;
  const labelSize = Math.max(8, Math.min(11, barW * 0.45));
  const base = sy(0);
  const bars: Bar[] = [];
  const missing: Box[] = [];
  groups.forEach((g, gi) => {
    const gx = L + gi * slot + slot * 0.1;
    series.forEach((s, si) => {
      const x = gx + si * barW;
      const cx = x + barW / 2;
      const v = g.values.find((e) => e.series === s)?.value;
      if (v === undefined || !Number.isFinite(v)) {
        if (v !== undefined) {
          out.push(`<text x="${cx.toFixed(1)}" y="${(base - 4).toFixed(1)}" text-anchor="middle" font-size="${labelSize.toFixed(1)}" fill="#999">n/a</text>`);
          const w = textWidth('n/a', labelSize);
          missing.push({ x0: cx - w / 2, x1: cx + w / 2, y0: base - 4 - 0.8 * labelSize, y1: base - 4 + 0.2 * labelSize });
        }
        return;
      }
      const top = sy(v);
      const yTop = Math.min(top, base);
      const box = { x0: x + barW * 0.06, x1: x + barW * 0.94, y0: yTop, y1: yTop + Math.abs(base - top) };
      bars.push({ box, cx, top, up: v >= 0, label: fmt(v, percent) });
      out.push(`<rect x="${box.x0.toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW * 0.88).toFixed(1)}" height="${(box.y1 - box.y0).toFixed(1)}" fill="${color(s)}"><title>${esc(`${s} — ${g.label}: ${fmt(v, percent)}`)}</title></rect>`);
    });
    const gSize = Math.max(8, Math.min(12, (slot * 0.95) / (0.6 * Math.max(1, g.label.length))));
    out.push(`<text x="${(L + gi * slot + slot / 2).toFixed(1)}" y="${H - B + 18}" text-anchor="middle" font-size="${gSize.toFixed(1)}">${esc(g.label)}</text>`);
  });
  // Value labels, after all bars so that none is painted over. A label wider than its bar
  // ("99%" over a narrow one) runs into its neighbour's bar or label, so each takes the first
  // place that overlaps no other bar and no label placed before it: across the bar's end
  // (outside, else inside in white where the plot's edge leaves no room), then set along the
  // bar (rotated), else none: the bar's tooltip (<title>) still gives the value.
  const placed: Box[] = [...missing];
  for (const b of bars) {
    const w = textWidth(b.label, labelSize);
    const at = labelPlaces(b, w, labelSize).find((c) => c.box.y0 >= T - 0.5 && c.box.y1 <= T + plotH + 0.5 && (!c.inside || within(c.box, b.box)) && !placed.some((p) => overlaps(p, c.box)) && !bars.some((o) => o !== b && overlaps(o.box, c.box)));
    if (at === undefined) continue;
    placed.push(at.box);
    const fill = at.inside ? 'white' : '#222';
    if (at.rotated) out.push(`<text x="${b.cx.toFixed(1)}" y="${at.y.toFixed(1)}" transform="rotate(-90 ${b.cx.toFixed(1)} ${at.y.toFixed(1)})" text-anchor="${at.anchor}" dominant-baseline="middle" font-size="${labelSize.toFixed(1)}" fill="${fill}">${esc(b.label)}</text>`);
    else out.push(`<text x="${b.cx.toFixed(1)}" y="${at.y.toFixed(1)}" text-anchor="middle" font-size="${labelSize.toFixed(1)}" fill="${fill}">${esc(b.label)}</text>`);
  }

  // legend
  series.forEach((s, i) => {
    const ly = T + 14 + i * 18;
    out.push(`<rect x="${W - R + 14}" y="${ly - 10}" width="14" height="10" fill="${color(s)}"/>`);
    out.push(`<text x="${W - R + 34}" y="${ly}">${esc(s)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
