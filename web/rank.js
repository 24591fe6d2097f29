// Rank: the comparison-data stage in the browser. K sampled replies to a prompt, ordered best
// to worst by dragging or with the terminal labeler's keys (1–9 pick the next best, = ties the
// next pick with the previous one, u undo, s skip, Enter save), appended by the server to the
// run's rankings.jsonl through src/run/label.ts — the file `gptforge label` writes and
// `gptforge rm` reads — resuming where the labeler stopped.
import { html, useEffect, useRef, useState } from './vendor/preact-htm.js';
import { getJSON, postJSON } from './api.js';

export function Rank() {
  const [state, setState] = useState(null);
  const [prompt, setPrompt] = useState('');
  const [k, setK] = useState(4);
  const [temperature, setTemperature] = useState(1);
  const [maxTokens, setMaxTokens] = useState(96);
  const [cands, setCands] = useState(null); // {id, prompt, completions, stage}
  // the ordering lives in a ref, updated synchronously: keys typed faster than the page
  // re-renders ("3 = 1") must each see the previous key's effect
  const r = useRef({ order: [], tied: [], picked: 0, tiePending: false });
  const [, force] = useState(0);
  const update = (f) => { f(r.current); force((x) => x + 1); };
  const { order, tied, picked, tiePending } = r.current;
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const [drag, setDrag] = useState(null);

  const loadState = () => getJSON('/web/api/rank').then((s) => {
    setState(s);
    if (s.next) setPrompt((p) => p || s.next.prompt);
  }).catch((e) => setError(e.message));
  useEffect(() => { loadState(); }, []);

  const K = cands?.completions.length ?? 0;
  const isComplete = () => cands && K >= 2 && r.current.picked >= K - 1;
  const complete = isComplete();

  async function sample(text = prompt) {
    setBusy(true);
    setError('');
    setMsg('');
    try {
      const c = await postJSON('/web/api/rank/sample', { prompt: text, k: Number(k), temperature: Number(temperature), max_tokens: Number(maxTokens), seed: Math.floor(Math.random() * 1e9) });
      if (c.completions.length < 2) {
        setError(`only ${c.completions.length} distinct usable completion(s): sample again or skip`);
      }
      update((st) => Object.assign(st, { order: c.completions.map((_, i) => i), tied: c.completions.map(() => false), picked: 0, tiePending: false }));
      setCands(c);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  }

  /** Key 1–9: candidate d becomes the next best (moved to position `picked`). */
  function pick(d) {
    const st = r.current;
    if (!cands || d >= K || isComplete()) return;
    const at = st.order.indexOf(d);
    if (at < st.picked) return setError(`${d + 1} is already ranked`);
    update((st) => {
      st.order.splice(at, 1);
      st.order.splice(st.picked, 0, d);
      st.tied[st.picked] = st.tiePending && st.picked > 0;
      for (let i = st.picked + 1; i < K; i++) st.tied[i] = false;
      st.picked = st.picked + 1 >= K - 1 ? K : st.picked + 1; // the last one is implied
      st.tiePending = false;
    });
    setError('');
  }

  function tie() {
    if (r.current.picked > 0 && !isComplete()) update((st) => { st.tiePending = true; });
  }

  function undo() {
    update((st) => {
      if (st.tiePending) { st.tiePending = false; return; }
      if (st.picked === 0) return;
      st.picked = st.picked === K ? K - 2 : st.picked - 1;
      for (let i = st.picked; i < K; i++) st.tied[i] = false;
    });
  }

  async function save() {
    if (!isComplete()) return;
    setBusy(true);
    try {
      const s = await postJSON('/web/api/rank/submit', { id: cands.id, order: r.current.order, tied: r.current.tied });
      setMsg(`saved: ${s.saved} → ${s.out}`);
      setState(s);
      setCands(null);
      setPrompt(s.next?.prompt ?? '');
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  }

  async function skip() {
    if (!cands) return;
    const s = await postJSON('/web/api/rank/skip', { id: cands.id }).catch((e) => setError(e.message));
    if (!s) return;
    setMsg('skipped');
    setState(s);
    setCands(null);
    setPrompt(s.next?.prompt ?? '');
  }

  useEffect(() => {
    const onKey = (e) => {
      if (e.target.tagName === 'TEXTAREA' || e.target.tagName === 'INPUT' || !cands) return;
      if (/^[1-9]$/.test(e.key)) pick(Number(e.key) - 1);
      else if (e.key === '=') tie();
      else if (e.key === 'u' || e.key === 'Backspace') undo();
      else if (e.key === 's') skip();
      else if (e.key === 'Enter') save();
      else return;
      e.preventDefault();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  });

  function drop(to) {
    if (drag === null) return;
    update((st) => {
      st.order.splice(st.order.indexOf(drag), 1);
      st.order.splice(to, 0, drag);
      st.tied[K - 1] = false;
      st.picked = K;
    });
    setDrag(null);
  }

  const toggleTie = (i) => update((st) => { st.tied[i] = !st.tied[i]; });
  const pct = state && state.total ? (100 * state.done) / state.total : 0;

  return html`<div class="page rank">
    <h2>Rank replies</h2>
    ${state && html`<div class="toolbar"><div class="progress" style="width:300px"><div style=${`width:${pct}%`}></div></div>
      <span id="rank-progress">${state.done} of ${state.total} prompts ranked or skipped · ${state.remaining} left · <span class="mono">${state.out}</span></span></div>
    <p class="hint" id="rank-next">${state.ranked > 0
      ? `Start rm on the dashboard trains on these ${state.ranked} ranking${state.ranked === 1 ? '' : 's'} (as gptforge rm does; --no-run-rankings for the simulated comparisons instead).`
      : 'No rankings saved yet: until there are, rm trains on simulated comparisons.'}</p>`}
    <label>Prompt <textarea id="rank-prompt" rows="2" value=${prompt} onInput=${(e) => setPrompt(e.target.value)}></textarea></label>
    <div class="toolbar">
      <label>K <select id="rank-k" value=${k} onChange=${(e) => setK(e.target.value)}>${[2, 3, 4, 5, 6, 7, 8, 9].map((n) => html`<option value=${n}>${n}</option>`)}</select></label>
      <label>temperature <input type="number" step="0.1" min="0" max="2" value=${temperature} onInput=${(e) => setTemperature(e.target.value)} style="width:70px" /></label>
      <label>max tokens <input id="rank-max-tokens" type="number" min="1" value=${maxTokens} onInput=${(e) => setMaxTokens(e.target.value)} style="width:70px" /></label>
      <button id="rank-sample" class="primary" disabled=${busy || !prompt.trim()} onClick=${() => sample()}>${busy ? 'Sampling…' : `Sample ${k} replies`}</button>
      ${state?.next && prompt !== state.next.prompt && html`<button class="link" onClick=${() => setPrompt(state.next.prompt)}>next unranked prompt</button>`}
    </div>
    ${error && html`<p class="error">${error}</p>`}
    ${msg && html`<p class="hint" id="rank-msg">${msg}</p>`}
    ${cands && html`
      <p class="hint">Best first: press the numbers (the last is implied), <b>=</b> before a number to tie it with your previous pick, <b>u</b> undo, <b>s</b> skip, <b>Enter</b> save — or drag the replies and tick “ties with above”. Sampled from ${cands.stage}.</p>
      <ol class="cands">
        ${order.map((c, i) => html`
          ${i > 0 && i < K - 1 && html`<li class="tie"><label class="row"><input type="checkbox" checked=${tied[i]} onChange=${() => toggleTie(i)} /> ties with above</label></li>`}
          <li class=${`cand ${i < picked ? 'picked' : ''} ${drag === c ? 'dragging' : ''}`} draggable="true" data-cand=${c}
            onDragStart=${() => setDrag(c)} onDragOver=${(e) => e.preventDefault()} onDrop=${() => drop(i)}>
            <span class="num">${c + 1}</span><span class="text">${cands.completions[c]}</span>
            ${i < picked && html`<span class="hint">#${i + 1}${tied[i] ? ' (tie)' : ''}</span>`}
          </li>`)}
      </ol>
      <div class="toolbar">
        ${tiePending && html`<span class="hint">= pressed: the next pick ties with the previous one</span>`}
        <button id="rank-save" class="primary" disabled=${!complete || busy} onClick=${save}>Save ranking</button>
        <button onClick=${undo} disabled=${picked === 0}>Undo</button>
        <button id="rank-skip" onClick=${skip}>Skip prompt</button>
      </div>`}
  </div>`;
}
