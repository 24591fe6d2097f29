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
  { title: 'MFU', keys: ['mfu'] },
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

function Chart({ title, records, keys, smoothing }) {
  const ref = useRef(null);
  const plot = useRef(null);
  const present = keys.filter((k) => records.some((r) => typeof r[k] === 'number'));
  const data = useMemo(() => {
    const rows = records.filter((r) => present.some((k) => typeof r[k] === 'number'));
    // one x per step: an eval record and a train record of the same step are merged
    const bySteps = new Map();
    for (const r of rows) bySteps.set(r.step, { ...(bySteps.get(r.step) ?? {}), ...r });
    const merged = [...bySteps.values()].sort((a, b) => a.step - b.step);
    const xs = merged.map((r) => r.step);
    const series = [];
    for (const k of present) {
      const ys = merged.map((r) => (typeof r[k] === 'number' ? r[k] : null));
      if (smoothing !== undefined && k === 'loss') {
        series.push({ label: `${k} (raw)`, ys, faint: true });
        series.push({ label: `${k} (smoothed)`, ys: smooth(ys, smoothing) });
      } else series.push({ label: k, ys });
    }
    return { xs, series };
  }, [records, present.join(), smoothing]);
  const shape = data.series.map((s) => s.label).join('|');

  useEffect(() => {
    if (!ref.current || !window.uPlot) return;
    plot.current?.destroy();
    const opts = {
      width: Math.max(320, ref.current.clientWidth - 4),
      height: 200,
      scales: { x: { time: false } },
      legend: { live: false },
      axes: [{ label: 'step' }, { size: 60, values: (_u, vals) => vals.map(tick) }],
      series: [{ label: 'step' }, ...data.series.map((s, i) => ({ label: s.label, stroke: s.faint ? '#93c5fd' : COLORS[i % COLORS.length], width: s.faint ? 1 : 2, spanGaps: true, points: { show: data.xs.length < 30 } }))],
    };
    plot.current = new window.uPlot(opts, [data.xs, ...data.series.map((s) => s.ys)], ref.current);
    return () => plot.current?.destroy();
  }, [shape]);
  useEffect(() => {
    plot.current?.setData([data.xs, ...data.series.map((s) => s.ys)]);
  }, [data]);
  if (present.length === 0) return null;
  return html`<div class="chart" data-title=${title} data-points=${data.xs.length}><h4>${title}</h4><div ref=${ref}></div></div>`;
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

/** metrics.jsonl names pretraining's records `pretrain`; its card (and stage folder) is `base`. */
const metricsStage = (card) => (card === 'base' ? 'pretrain' : card);

export function Dashboard() {
  const [info, setInfo] = useState(null);
  const [records, setRecords] = useState([]);
  const [stage, setStage] = useState('');
  const [smoothing, setSmoothing] = useState(0.6);
  const [steps, setSteps] = useState('');
  const [fresh, setFresh] = useState(false);
  const [error, setError] = useState('');
  const [report, setReport] = useState(null);
  const all = useRef([]);

  const refresh = () => getJSON('/web/api/info').then(setInfo).catch((e) => setError(e.message));
  useEffect(() => {
    refresh();
    getJSON('/web/api/report').then(setReport).catch(() => {});
    const ac = new AbortController();
    (async () => {
      try {
        for await (const { event, data } of events('/web/api/metrics', { signal: ac.signal })) {
          if (event === 'reset') all.current = data;
          else if (event === 'append') all.current = [...all.current, ...data];
          else if (event === 'job') {
            refresh();
            if (data?.state === 'running') setStage(data.stage);
            if (data && data.state !== 'running') getJSON('/web/api/report').then(setReport).catch(() => {});
            continue;
          } else continue;
          setRecords(all.current);
        }
      } catch (e) {
        if (e.name !== 'AbortError') setError(`metrics stream: ${e.message}`);
      }
    })();
    return () => ac.abort();
  }, []);

  // the curves' stages by their cards' names, only stages that exist (a card that is trained or
  // running) and have records: metrics.jsonl can hold a stage whose folder was deleted
  const logged = new Set(records.map((r) => r.stage));
  const stages = (info?.stages ?? []).filter((s) => s.state !== 'absent' && logged.has(metricsStage(s.name))).map((s) => s.name);
  const shown = stage && stages.includes(stage) ? stage : stages[stages.length - 1] ?? '';
  const rows = records.filter((r) => r.stage === metricsStage(shown));
  const job = info?.job;
  const running = job?.state === 'running';
  const last = rows[rows.length - 1];
  // the running stage's card follows the live step (metrics.jsonl), not its checkpoint's step, read when the job started
  const liveStep = running ? records.findLast((r) => r.stage === metricsStage(job.stage) && typeof r.step === 'number')?.step : undefined;
  const cardStep = (s) => (running && job.stage === s.name && liveStep !== undefined ? liveStep : s.step);

  const start = (name) => {
    setError('');
    // a fresh start replaces a trained stage's checkpoints, whoever trained it (the command line too): asked first
    const s = info?.stages.find((x) => x.name === name);
    if (fresh && s?.state === 'trained' && !window.confirm(`Fresh start discards the trained ${name} (step ${s.step}, ${s.checkpoint}): its checkpoints are replaced as the new run saves. Start ${name} over?`)) return;
    postJSON('/web/api/jobs', { stage: name, ...(steps ? { steps: Number(steps) } : {}), fresh }).then(() => { setStage(name); refresh(); }).catch((e) => setError(e.message));
  };
  const stop = () => postJSON('/web/api/jobs/stop', {}).then(refresh).catch((e) => setError(e.message));

  return html`<div class="page dashboard">
    <h2>Training ${info && html`<small class="hint">${info.runDir}</small>`}</h2>
    <div class="stages">
      ${info?.stages.map((s) => html`<div class=${`stage ${s.state}`} data-stage=${s.name}>
        <b>${s.name}</b>
        <div class="state">${s.state}${cardStep(s) !== null ? ` · step ${cardStep(s)}` : ''}</div>
        ${s.runnable && (running && job.stage === s.name
          ? html`<button class="danger stop-job" onClick=${stop}>Stop</button>`
          : html`<button class="start-job" disabled=${running || !!info.lock} onClick=${() => start(s.name)}>Start</button>`)}
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
      : html`<div class="charts">${CHARTS.map((c) => html`<${Chart} key=${shown + c.title} title=${c.title} keys=${c.keys} records=${rows} smoothing=${c.smooth ? smoothing : undefined} />`)}</div>`}
    <${Reports} report=${report} />
  </div>`;
}
