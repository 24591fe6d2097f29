// Training dashboard: the run's stages and their state, live curves from metrics.jsonl (pushed
// by the server as server-sent events while a stage runs), a stage started and stopped from
// the page, and the run's reports when present.
import { html, useEffect, useMemo, useRef, useState } from './vendor/preact-htm.js';
import { events, getJSON, postJSON } from './api.js';

/** Charts by metric name (TRL's names, as metrics.jsonl logs them); a chart shows when its stage logs any of its keys. */
const CHARTS = [
  { title: 'Loss', keys: ['loss', 'val/loss'], smooth: true },
  { title: 'Learning rate', keys: ['learning_rate'] },
  { title: 'Gradient norm', keys: ['grad_norm'] },
  { title: 'Tokens/s', keys: ['tokens_per_sec', 'rollout/tokens_per_sec'] },
  // metrics.jsonl logs MFU as a fraction (0.42); the chart's axis reads it as the terminal prints it, 42%
  { title: 'MFU', keys: ['mfu'], percent: true },
  { title: 'Reward', keys: ['objective/rlhf_reward', 'objective/scores', 'reward', 'rollout/accuracy'] },
  { title: 'KL', keys: ['objective/kl', 'rollout/kl', 'kl', 'policy/approxkl_avg'] },
  { title: 'Clip fraction', keys: ['policy/clipfrac_avg', 'clip_ratio/region_mean'] },
  { title: 'Reply length (tokens)', keys: ['rollout/reply_tokens', 'completions/mean_length'] },
  { title: 'Reward-model accuracy', keys: ['train/accuracy', 'val/accuracy', 'rewards/accuracies'] },
  { title: 'Preference margin', keys: ['train/margin', 'val/margin', 'rewards/margins'] },
];
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c'];

/** TensorBoard's smoothing: an exponential moving average, debiased at the start; gaps stay gaps. */
export function smooth(ys, w) {
  if (w <= 0) return ys;
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || y === undefined || !Number.isFinite(y)) return null;
    last = last * w + (1 - w) * y;
    n++;
    return last / (1 - w ** n);
  });
}

/** An axis label that stays readable for learning rates (3e-4) as for token counts. */
function tick(v) {
  if (v === null || v === undefined) return '';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-2 || a >= 1e6)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

/** A fraction as a percentage axis label: 0.42 → "42%". */
export function percentTick(v) {
  if (v === null || v === undefined) return '';
  return `${+(v * 100).toPrecision(3)}%`;
}

/** How often the page renders what the metrics stream brought, at most (ms): a fast run appends hundreds of records a second. */
const LIVE_RENDER_MS = 250;
/** The most points a curve draws; past it, every k-th step is drawn (the last always), as TensorBoard samples long scalar series. */
export const MAX_DRAWN = 2000;

/**
 * One chart's curve over a stage's records, merged by step (an eval record and a train record
 * of the same step are one x), kept up to date in O(new records): `update` reads only the
 * records appended since the last call, and starts over when given another array (a `reset`
 * of the stream, another stage). Records without a numeric step are left out.
 */
export class Curve {
  constructor(keys) {
    this.keys = keys;
    this.clear(null);
  }

  clear(rows) {
    this.rows = rows;
    this.n = 0; // records of `rows` read
    this.xs = []; // steps, ascending
    this.cols = new Map(); // key -> ys (null where a step has no value)
    this.at = new Map(); // step -> index into xs
    this.sorted = true;
  }

  /** Read the records of `rows` not read yet (all of them when `rows` is not the array read before, or shrank). */
  update(rows) {
    if (rows !== this.rows || rows.length < this.n) this.clear(rows);
    for (; this.n < rows.length; this.n++) {
      const r = rows[this.n];
      if (typeof r.step !== 'number') continue;
      let i;
      for (const k of this.keys) {
        if (typeof r[k] !== 'number') continue;
        if (i === undefined) i = this.index(r.step);
        let col = this.cols.get(k);
        if (!col) this.cols.set(k, (col = new Array(this.xs.length).fill(null)));
        col[i] = r[k]; // a later record of the same step wins, as when records were merged in file order
      }
    }
    if (!this.sorted) this.sort();
    return this;
  }

  /** The index of `step`, added (with nulls in every column) when new. */
  index(step) {
    const have = this.at.get(step);
    if (have !== undefined) return have;
    if (this.xs.length > 0 && step < this.xs[this.xs.length - 1]) this.sorted = false;
    this.at.set(step, this.xs.length);
    this.xs.push(step);
    for (const col of this.cols.values()) col.push(null);
    return this.xs.length - 1;
  }

  /** Steps that arrived out of order: the columns reordered by step (rare: the stream resets when the file is rewritten). */
  sort() {
    const order = this.xs.map((_, i) => i).sort((a, b) => this.xs[a] - this.xs[b]);
    this.xs = order.map((i) => this.xs[i]);
    for (const [k, col] of this.cols) this.cols.set(k, order.map((i) => col[i]));
    this.at = new Map(this.xs.map((x, i) => [x, i]));
    this.sorted = true;
  }

  /** The chart's keys that some record gave a number, in the chart's order. */
  present() {
    return this.keys.filter((k) => this.cols.has(k));
  }
}

/** Every `stride`-th index of n, and the last: the points drawn of a long curve. */
export function drawnIndices(n, max = MAX_DRAWN) {
  const stride = Math.max(1, Math.ceil(n / max));
  if (stride === 1) return { stride, idx: null };
  const idx = [];
  for (let i = 0; i < n; i += stride) idx.push(i);
  if (idx[idx.length - 1] !== n - 1) idx.push(n - 1);
  return { stride, idx };
}

function Chart({ title, rows, version, keys, smoothing, percent }) {
  const ref = useRef(null);
  const plot = useRef(null);
  const curve = useRef(null);
  if (curve.current === null) curve.current = new Curve(keys);
  const c = curve.current.update(rows);
  const present = c.present();
  const n = c.xs.length;
  const data = useMemo(() => {
    const series = [];
    for (const k of present) {
      const ys = c.cols.get(k);
      if (smoothing !== undefined && k === 'loss') {
        series.push({ label: `${k} (raw)`, ys, faint: true });
        // smoothed over every step, then sampled for drawing
        series.push({ label: `${k} (smoothed)`, ys: smooth(ys, smoothing) });
      } else series.push({ label: k, ys });
    }
    const { stride, idx } = drawnIndices(n);
    if (idx === null) return { xs: c.xs.slice(), series: series.map((s) => ({ ...s, ys: s.ys.slice() })), stride };
    return { xs: idx.map((i) => c.xs[i]), series: series.map((s) => ({ ...s, ys: idx.map((i) => s.ys[i]) })), stride };
  }, [version, rows, n, smoothing, present.join()]);
  const shape = data.series.map((s) => s.label).join('|');

  useEffect(() => {
    if (!ref.current || !window.uPlot) return;
    plot.current?.destroy();
    const opts = {
      width: Math.max(200, ref.current.clientWidth - 4),
      height: 200,
      scales: { x: { time: false } },
      legend: { live: false },
      axes: [{ label: 'step' }, { size: 60, values: (_u, vals) => vals.map(percent ? percentTick : tick) }],
      series: [{ label: 'step' }, ...data.series.map((s, i) => ({ label: s.label, stroke: s.faint ? '#93c5fd' : COLORS[i % COLORS.length], width: s.faint ? 1 : 2, spanGaps: true, points: { show: data.xs.length < 30 } }))],
    };
    plot.current = new window.uPlot(opts, [data.xs, ...data.series.map((s) => s.ys)], ref.current);
    return () => plot.current?.destroy();
  }, [shape]);
  useEffect(() => {
    plot.current?.setData([data.xs, ...data.series.map((s) => s.ys)]);
  }, [data]);
  if (present.length === 0) return null;
  // data-points: the steps in the curve (all of them, also when a long one is drawn sampled)
  return html`<div class="chart" data-title=${title} data-points=${n}><h4>${title}${percent ? html` <small class="hint">% of peak FLOP/s</small>` : ''}${data.stride > 1 ? html` <small class="hint">${n} steps, every ${data.stride}th drawn</small>` : ''}</h4><div ref=${ref}></div></div>`;
}

/**
 * A report's markdown rendered (tables, emphasis) by markdown-it, vendored from node_modules;
 * its raw-HTML option stays off, so the file's text cannot inject markup. Plain text if the
 * library did not load.
 */
function Markdown({ text }) {
  const rendered = useMemo(() => window.markdownit?.({ html: false }).render(text), [text]);
  if (rendered === undefined) return html`<pre>${text}</pre>`;
  return html`<div class="markdown" dangerouslySetInnerHTML=${{ __html: rendered }}></div>`;
}

/** An ISO time as "YYYY-MM-DD HH:MM UTC". */
const utc = (iso) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/** eval.md's date, and the stages trained since it was written (its numbers are about their older checkpoints). */
function evalAgeNote(age) {
  if (!age) return null;
  if (age.newer.length === 0) return html`<p class="hint" id="eval-age">eval.md written ${utc(age.written)}, after every stage's newest checkpoint.</p>`;
  const stages = age.newer.map((s) => `${s.stage} (step ${s.step ?? '?'}, ${utc(s.saved)})`).join(', ');
  return html`<p class="error" id="eval-age">eval.md (written ${utc(age.written)}) is older than ${stages}: run gptforge eval to refresh.</p>`;
}

function Reports({ report }) {
  if (!report) return null;
  const rm = report.rmEval;
  return html`
    ${rm && html`<h3>Reward model (rm-eval.json)</h3><table>${Object.entries(rm).filter(([, v]) => typeof v !== 'object').map(([k, v]) => html`<tr><th>${k}</th><td>${typeof v === 'number' ? +v.toFixed(4) : String(v)}</td></tr>`)}</table>`}
    ${report.evalMarkdown && html`<h3>Evaluation (eval.md)</h3>${evalAgeNote(report.evalAge)}<${Markdown} text=${report.evalMarkdown} />`}
    ${report.evalChart && html`<figure class="eval-chart"><img alt="eval-chart.svg" src=${`data:image/svg+xml;charset=utf-8,${encodeURIComponent(report.evalChart)}`} /><figcaption class="hint">eval-chart.svg</figcaption></figure>`}
    ${report.transcript && html`<h3>Samples (chat-transcript.txt)</h3><pre>${report.transcript}</pre>`}`;
}

const NO_RECORDS = [];

/** metrics.jsonl names pretraining's records `pretrain`; its card (and stage folder) is `base`. */
const metricsStage = (card) => (card === 'base' ? 'pretrain' : card);

export function Dashboard() {
  const [info, setInfo] = useState(null);
  // metrics.jsonl's records by stage, appended in place; `version` renders what arrived, at most every LIVE_RENDER_MS
  const store = useRef(new Map());
  const [version, setVersion] = useState(0);
  const pending = useRef(0);
  const [stage, setStage] = useState('');
  const [smoothing, setSmoothing] = useState(0.6);
  const [steps, setSteps] = useState('');
  const [fresh, setFresh] = useState(false);
  const [error, setError] = useState('');
  const [report, setReport] = useState(null);
  // the job whose Stop was clicked (its start time): its button says "Stopping…" until the job's state changes
  const [stopping, setStopping] = useState('');

  const refresh = () => getJSON('/web/api/info').then(setInfo).catch((e) => setError(e.message));
  useEffect(() => {
    refresh();
    getJSON('/web/api/report').then(setReport).catch(() => {});
    const ac = new AbortController();
    const add = (records) => {
      for (const r of records) {
        let a = store.current.get(r.stage);
        if (!a) store.current.set(r.stage, (a = []));
        a.push(r);
      }
    };
    // coalesced: a render for every append event saturated the page on a fast machine (hundreds of steps a second)
    const render = () => {
      if (pending.current) return;
      pending.current = setTimeout(() => {
        pending.current = 0;
        setVersion((v) => v + 1);
      }, LIVE_RENDER_MS);
    };
    (async () => {
      try {
        for await (const { event, data } of events('/web/api/metrics', { signal: ac.signal })) {
          if (event === 'reset') {
            // new arrays: the charts start their curves over
            store.current = new Map();
            add(data);
          } else if (event === 'append') add(data);
          else if (event === 'job') {
            refresh();
            if (data?.state === 'running') setStage(data.stage);
            if (data && data.state !== 'running') getJSON('/web/api/report').then(setReport).catch(() => {});
            continue;
          } else continue;
          render();
        }
      } catch (e) {
        if (e.name !== 'AbortError') setError(`metrics stream: ${e.message}`);
      }
    })();
    return () => {
      ac.abort();
      clearTimeout(pending.current);
    };
  }, []);

  // the curves' stages by their cards' names, only stages that exist (a card that is trained or
  // running) and have records: metrics.jsonl can hold a stage whose folder was deleted
  const byStage = store.current;
  const stages = (info?.stages ?? []).filter((s) => s.state !== 'absent' && byStage.get(metricsStage(s.name))?.length > 0).map((s) => s.name);
  const shown = stage && stages.includes(stage) ? stage : stages[stages.length - 1] ?? '';
  const rows = byStage.get(metricsStage(shown)) ?? NO_RECORDS;
  const job = info?.job;
  const running = job?.state === 'running';
  const last = rows[rows.length - 1];
  // the running stage's card follows the live step (metrics.jsonl), not its checkpoint's step, read when the job started
  const liveStep = running ? (byStage.get(metricsStage(job.stage)) ?? NO_RECORDS).findLast((r) => typeof r.step === 'number')?.step : undefined;
  const cardStep = (s) => (running && job.stage === s.name && liveStep !== undefined ? liveStep : s.step);

  const start = (name) => {
    setError('');
    // a fresh start replaces a trained stage's checkpoints, whoever trained it (the command line too): asked first
    const s = info?.stages.find((x) => x.name === name);
    if (fresh && s?.state === 'trained' && !window.confirm(`Fresh start discards the trained ${name} (step ${s.step}, ${s.checkpoint}): its checkpoints are replaced as the new run saves. Start ${name} over?`)) return;
    postJSON('/web/api/jobs', { stage: name, ...(steps ? { steps: Number(steps) } : {}), fresh }).then(() => { setStage(name); refresh(); }).catch((e) => setError(e.message));
  };
  const isStopping = running && stopping === job.started;
  const stop = () => {
    setError('');
    setStopping(job.started);
    postJSON('/web/api/jobs/stop', {})
      .then(refresh)
      .catch((e) => {
        setStopping('');
        setError(e.message);
      });
  };

  return html`<div class="page dashboard">
    <h2>Training ${info && html`<small class="hint">${info.runDir}</small>`}</h2>
    <div class="stages">
      ${info?.stages.map((s) => html`<div class=${`stage ${s.state}`} data-stage=${s.name}>
        <b>${s.name}</b>
        <div class="state">${s.state}${cardStep(s) !== null ? ` · step ${cardStep(s)}` : ''}</div>
        ${s.runnable && running && job.stage === s.name
          ? html`<button class="danger stop-job" disabled=${isStopping} onClick=${stop}>${isStopping ? 'Stopping…' : 'Stop'}</button>`
          : s.noStart
            ? html`<div class="hint no-start">${s.noStart}</div>`
            : s.runnable && html`<button class="start-job" disabled=${running || !!info.lock} onClick=${() => start(s.name)}>Start</button>`}
      </div>`)}
    </div>
    <div class="toolbar">
      <label>steps <input type="number" min="1" placeholder="preset" value=${steps} onInput=${(e) => setSteps(e.target.value)} style="width:90px" /></label>
      <label><input id="fresh" type="checkbox" checked=${fresh} onChange=${(e) => setFresh(e.target.checked)} /> fresh (ignore checkpoints)</label>
      ${job && html`<span class="job" data-state=${job.state} title=${job.error ?? ''}>job: ${job.stage} ${job.state}${job.error ? ` — ${job.detail ?? job.error}` : ''}</span>`}
      ${info?.lock && html`<span class="error">run locked by PID ${info.lock.pid} (${info.lock.command})</span>`}
    </div>
    ${error && html`<p class="error">${error}</p>`}
    <div class="toolbar">
      <label>stage <select value=${shown} onChange=${(e) => setStage(e.target.value)}>${stages.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>smoothing <input type="range" min="0" max="0.99" step="0.01" value=${smoothing} onInput=${(e) => setSmoothing(Number(e.target.value))} /> ${smoothing.toFixed(2)}</label>
      ${last && html`<span class="hint">step ${last.step}${typeof last.loss === 'number' ? ` · loss ${last.loss.toFixed(4)}` : ''}${typeof last.tokens_per_sec === 'number' ? ` · ${last.tokens_per_sec} tok/s` : ''}</span>`}
    </div>
    ${rows.length === 0 ? html`<p class="hint">No metrics yet${shown ? ` for ${shown}` : ''}: start a stage, or train the run from the command line — the curves follow metrics.jsonl either way.</p>`
      : html`<div class="charts">${CHARTS.map((c) => html`<${Chart} key=${shown + c.title} title=${c.title} keys=${c.keys} percent=${c.percent} rows=${rows} version=${version} smoothing=${c.smooth ? smoothing : undefined} />`)}</div>`}
    <${Reports} report=${report} />
  </div>`;
}
