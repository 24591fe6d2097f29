// Compare: one prompt to the base model (through the fake-conversation document, the talk's
// trick for making a base model answer), the SFT model and the RLHF models side by side, each
// reply scored by the reward model (POST /v1/rewards). Everything through the public API.
import { html, useEffect, useState } from './vendor/preact-htm.js';
import { chatTrained, getText, models, postJSON, RUN_STAGES } from './api.js';
import { BuiltinCall } from './chat.js';

/** A run's generation stages first, in the order they are trained; then the other names. */
const ORDER = Object.keys(RUN_STAGES).filter((s) => RUN_STAGES[s] !== 'reward');

/** The fake conversation with the person's last question replaced by `prompt`. */
export function fakeConversation(template, prompt) {
  const at = template.lastIndexOf('Person:');
  return `${at >= 0 ? template.slice(0, at) : template + '\n\n'}Person: ${prompt.trim()}\nAssistant:`;
}

/**
 * The base model's document and reply budget that fit its context: the whole fake
 * conversation, else with its earliest exchanges dropped, else the question alone.
 */
async function fitBase(model, template, prompt, ctx, maxTokens) {
  const blocks = template.split(/\n\n+/);
  const intro = blocks[0];
  const exchanges = blocks.slice(1, -1);
  const tries = [];
  for (let drop = 0; drop <= exchanges.length; drop++) tries.push([intro, ...exchanges.slice(drop), 'Person: x'].join('\n\n'));
  tries.push('Person: x');
  for (const t of tries) {
    const doc = fakeConversation(t, prompt);
    const { count } = await postJSON('/tokenize', { model, prompt: doc });
    if (count + Math.min(16, maxTokens) <= ctx) return { doc, max: Math.min(maxTokens, ctx - count) };
  }
  throw new Error(`the prompt does not fit the base model's context of ${ctx} tokens`);
}

/** A chat reply's budget within the model's context. */
async function fitChat(model, messages, ctx, maxTokens) {
  const { count } = await postJSON('/tokenize', { model, messages });
  if (count >= ctx) throw new Error(`the prompt is ${count} tokens, the model's context ${ctx}`);
  return Math.min(maxTokens, ctx - count);
}

/**
 * Decimals that tell the scores apart: 3, or more (up to 6) when two different scores would
 * print the same (0.39575 and 0.39564 are both 0.396 at 3).
 */
export function scoreDigits(scores) {
  const distinct = [...new Set(scores)];
  for (let d = 3; d < 6; d++) if (new Set(distinct.map((x) => x.toFixed(d))).size === distinct.length) return d;
  return 6;
}

export function Compare() {
  const [served, setServed] = useState([]);
  // the served reward model (kind "reward"): the run's rm, else another one (e.g. a stage named verifier)
  const [rmId, setRmId] = useState(null);
  const hasRm = rmId !== null;
  const [ctx, setCtx] = useState({});
  const [template, setTemplate] = useState('');
  const [prompt, setPrompt] = useState('Why is the sea salty?');
  const [temperature, setTemperature] = useState(0.7);
  const [maxTokens, setMaxTokens] = useState(96);
  const [results, setResults] = useState({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  // the stages left out of the comparison (all compared until the user unticks some)
  const [skipped, setSkipped] = useState(() => new Set());

  useEffect(() => {
    models().then((ms) => { setServed(ms.filter((m) => m.kind !== 'reward').map((m) => m.id)); setRmId((ms.find((m) => m.id === 'rm') ?? ms.find((m) => m.kind === 'reward'))?.id ?? null); setCtx(Object.fromEntries(ms.map((m) => [m.id, m.context_length]))); }).catch((e) => setError(e.message));
    getText('/web/api/prompts/fake-conversation').then(setTemplate).catch((e) => setError(e.message));
  }, []);
  const all = ORDER.filter((id) => served.includes(id)).concat(served.filter((id) => !ORDER.includes(id)));
  const gen = all.filter((id) => !skipped.has(id));
  const toggle = (id) => (e) => setSkipped((s) => { const next = new Set(s); e.target.checked ? next.delete(id) : next.add(id); return next; });

  async function run() {
    setBusy(true);
    setError('');
    setResults({});
    const seed = Math.floor(Math.random() * 1e9);
    const out = {};
    await Promise.all(gen.map(async (id) => {
      try {
        if (!chatTrained(id)) {
          const { doc, max } = await fitBase(id, template, prompt, ctx[id], Number(maxTokens));
          const r = await postJSON('/v1/completions', { model: id, prompt: doc, max_tokens: max, temperature: Number(temperature), stop: ['\nPerson:'], seed });
          out[id] = { reply: r.choices[0].text.trim(), finish: r.choices[0].finish_reason };
        } else {
          const messages = [{ role: 'user', content: prompt }];
          const max = await fitChat(id, messages, ctx[id], Number(maxTokens));
          const r = await postJSON('/v1/chat/completions', { model: id, messages, max_tokens: max, temperature: Number(temperature), seed, builtin_tools: ['calculator'] });
          // the server calculator's calls (builtin_tool_calls): a whole reply says which ran, not where, so they go before its text
          out[id] = { reply: r.choices[0].message.content ?? '', calls: r.choices[0].message.builtin_tool_calls ?? [], finish: r.choices[0].finish_reason };
        }
      } catch (e) {
        out[id] = { error: e.message };
      }
      setResults({ ...out });
    }));
    if (hasRm) {
      // one request per reply: a reply longer than the reward model's context loses its own score only
      await Promise.all(gen.filter((id) => out[id] && !out[id].error).map(async (id) => {
        try {
          const r = await postJSON('/v1/rewards', { model: rmId, input: [{ prompt, reply: out[id].reply }] });
          out[id].score = r.data[0].score;
        } catch (e) {
          out[id].scoreError = e.message;
        }
      }));
      setResults({ ...out });
    }
    setBusy(false);
  }

  const scores = gen.map((id) => results[id]?.score).filter((s) => typeof s === 'number');
  const best = scores.length ? Math.max(...scores) : null;
  const digits = scoreDigits(scores);
  // more than one reply at the best score: each is starred and the tie said
  const tied = scores.filter((x) => x === best).length > 1;
  return html`<div class="page compare">
    <h2>Compare base, SFT and RLHF</h2>
    <label>Prompt <textarea id="compare-prompt" rows="2" value=${prompt} onInput=${(e) => setPrompt(e.target.value)}></textarea></label>
    <div class="toolbar">
      <label>temperature <input type="number" step="0.1" min="0" max="2" value=${temperature} onInput=${(e) => setTemperature(e.target.value)} style="width:70px" /></label>
      <label>max tokens <input id="compare-max-tokens" type="number" min="1" value=${maxTokens} onInput=${(e) => setMaxTokens(e.target.value)} style="width:80px" /></label>
      <button id="compare-run" class="primary" disabled=${busy || !prompt.trim() || gen.length === 0} onClick=${run}>${busy ? 'Generating…' : 'Compare'}</button>
      <span class="hint">${hasRm ? 'scores: the reward model (higher is better)' : 'no reward model in this run: no scores'}</span>
    </div>
    <div class="toolbar stages-picker">stages ${all.map((id) => html`<label><input type="checkbox" data-stage=${id} checked=${!skipped.has(id)} disabled=${busy} onChange=${toggle(id)} /> ${id}</label>`)}</div>
    ${error && html`<p class="error">${error}</p>`}
    <div class="cols">
      ${gen.map((id) => {
        const r = results[id];
        return html`<div class="col" data-model=${id}>
          <h3>${id}${r && typeof r.score === 'number' && html`<span class="score" title=${`reward-model score ${r.score}`}>${r.score === best ? '★ ' : ''}${r.score.toFixed(digits)}${r.score === best && tied ? ' (tie)' : ''}</span>`}</h3>
          <div class="hint">${chatTrained(id) ? 'chat model' : 'base model, prompted with a fake conversation'}</div>
          ${r?.error ? html`<p class="error">${r.error}</p>` : html`<div class="reply">${r?.calls?.map((c) => html`<${BuiltinCall} call=${c} />`)}${r ? r.reply || (r.calls?.length ? '' : '(empty)') : busy ? '…' : ''}</div>`}
          ${r?.finish && html`<div class="hint">finish: ${r.finish}</div>`}
          ${r?.scoreError && html`<div class="error">reward model: ${r.scoreError}</div>`}
        </div>`;
      })}
    </div>
  </div>`;
}
