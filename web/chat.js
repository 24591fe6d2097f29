// Chat: streamed replies from /v1/chat/completions, stop (aborts the fetch: the server stops
// decoding that row), regenerate, edit a message into a new branch, system prompt, sampling
// settings, tool calls inline (a calculator the page runs, or the server's built-in one, its
// calls shown where they ran as `gptforge chat` prints them),
// JSON-schema mode (response_format), prompting techniques (self-consistency with its votes,
// reflection rounds: POST /v1/gptforge/assist), RAG with citations that open their passage
// (the chat route's `rag` field). Conversations are trees kept in localStorage.
import { html, useEffect, useRef, useState } from './vendor/preact-htm.js';
import { chatTrained, events, getJSON, models, postJSON } from './api.js';

const STORE = 'gptforge.conversations';
const uid = () => Math.random().toString(36).slice(2, 10);

const CALCULATOR_TOOL = {
  type: 'function',
  function: { name: 'calculator', description: 'Evaluates an arithmetic expression', parameters: { type: 'object', properties: { input: { type: 'string' } }, required: ['input'] } },
};

/** The page's calculator: arithmetic only (digits, + - * / % ^ and parentheses), never arbitrary code. */
export function calculate(expr) {
  const src = String(expr).replace(/\^/g, '**').replace(/×/g, '*').replace(/÷/g, '/');
  if (!/^[\d\s+\-*/%.()]+$/.test(src)) return 'error: not an arithmetic expression';
  try {
    const v = Function(`"use strict"; return (${src});`)();
    return Number.isFinite(v) ? String(Math.round(v * 1e10) / 1e10) : 'error: not a finite number';
  } catch {
    return 'error: malformed expression';
  }
}

function load() {
  try {
    const cs = JSON.parse(localStorage.getItem(STORE) ?? '[]');
    return Array.isArray(cs) ? cs : [];
  } catch {
    return [];
  }
}

function newConversation() {
  return { id: uid(), title: 'New chat', created: Date.now(), system: '', nodes: {}, roots: [], leaf: null };
}

/**
 * A built-in tool's call as `gptforge chat` prints it, `[calculator: 12*3 → 36]`, from the
 * server's `builtin_tool_calls` entry ({name, input, output, ok}; docs/server.md).
 */
export function BuiltinCall({ call }) {
  return html`<span class=${'builtin-call' + (call.ok === false ? ' failed' : '')} data-ok=${String(call.ok !== false)}>[${call.name}: ${call.input} → ${call.output}]</span>`;
}

/** The messages from the root to the leaf. */
function path(conv) {
  const out = [];
  for (let id = conv.leaf; id; id = conv.nodes[id].parent) out.unshift(conv.nodes[id]);
  return out;
}

function siblings(conv, node) {
  return node.parent ? conv.nodes[node.parent].children : conv.roots;
}

/** The leaf below a node, following each node's newest child. */
function deepest(conv, id) {
  while (conv.nodes[id].children.length) id = conv.nodes[id].children[conv.nodes[id].children.length - 1];
  return id;
}

function addNode(conv, parent, fields) {
  const node = { id: uid(), parent, children: [], ...fields };
  conv.nodes[node.id] = node;
  (parent ? conv.nodes[parent].children : conv.roots).push(node.id);
  conv.leaf = node.id;
  return node;
}

/**
 * The server calculator's calls of a stored reply, sent back with it as the server gave them
 * (`builtin_tool_calls` with each call's `offset`, code points of the content before it), so the
 * model reads its earlier turn with the calls where they ran (docs/server.md). A reply stored
 * before the server sent offsets has the call's place `at` in the text (UTF-16 units).
 */
function builtinHistory(n) {
  const calls = (n.builtin ?? []).filter(Boolean);
  if (calls.length === 0) return {};
  const length = [...n.content].length;
  return { builtin_tool_calls: calls.map(({ at, index, ...c }) => ({ ...c, offset: Math.min(c.offset ?? [...n.content.slice(0, at ?? 0)].length, length) })) };
}

/** The API's messages for the path ending at `id`. */
function apiMessages(conv, id) {
  const msgs = [];
  if (conv.system.trim()) msgs.push({ role: 'system', content: conv.system });
  const chain = [];
  for (let n = id; n; n = conv.nodes[n].parent) chain.unshift(conv.nodes[n]);
  for (const n of chain) {
    if (n.role === 'user') msgs.push({ role: 'user', content: n.content });
    else if (n.role === 'assistant') msgs.push({ role: 'assistant', content: n.content || null, ...(n.tool_calls?.length ? { tool_calls: n.tool_calls } : {}), ...builtinHistory(n) });
    else if (n.role === 'tool') msgs.push({ role: 'tool', tool_call_id: n.tool_call_id, content: n.content });
  }
  return msgs;
}

/**
 * The calculator setting a model gets until the user picks one (`tool_mode` ''): on, run by the
 * server, for a chat-trained stage (`chatTrained`: sft, rl, dpo …, trained to call it, as
 * `gptforge chat` assumes), off for the base model, which never learnt the call format.
 */
export const defaultToolMode = (model) => (chatTrained(model) ? 'server' : 'off');

// max_tokens_set: the user typed a Max tokens (with RAG an untouched field leaves the reply's room to the server)
const DEFAULT_SETTINGS = { model: '', temperature: 0.8, top_p: 1, max_tokens: 128, max_tokens_set: false, seed: '', tool_mode: '', technique: 'direct', k: 8, reward_votes: false, rounds: 2, feedback: 'self', rag: false, json: false, schema: '{\n  "type": "object",\n  "properties": {"answer": {"type": "string"}},\n  "required": ["answer"],\n  "additionalProperties": false\n}' };

export function Chat() {
  const [convs, setConvs] = useState(() => load());
  const [current, setCurrent] = useState(() => load()[0]?.id ?? null);
  const [served, setServed] = useState([]);
  const [settings, setSettings] = useState(() => ({ ...DEFAULT_SETTINGS, ...JSON.parse(localStorage.getItem('gptforge.chatSettings') ?? '{}') }));
  const [input, setInput] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [editing, setEditing] = useState(null);
  const [ragInfo, setRagInfo] = useState(null);
  const [rmId, setRmId] = useState(null);
  const hasRm = rmId !== null;
  const [passage, setPassage] = useState(null);
  const abortRef = useRef(null);
  const [, force] = useState(0);
  const rerender = () => force((x) => x + 1);
  // the user's choice, else the model's default (the old `tools` key of saved settings is not read: it held the old default, off)
  const tools = settings.tool_mode || defaultToolMode(settings.model);

  useEffect(() => {
    models().then((ms) => {
      const gen = ms.filter((m) => m.kind !== 'reward');
      setServed(gen);
      // reward-weighted votes use the run's reward model by kind, as Compare does: the stage rm, else the first reward model served
      setRmId((ms.find((m) => m.kind === 'reward' && m.id === 'rm') ?? ms.find((m) => m.kind === 'reward'))?.id ?? null);
      // no (or a gone) model chosen: the one the server marks `default` (`gptforge chat`'s rule: the run's newest chat stage), else sft, else the last
      if (!gen.some((m) => m.id === settings.model) && gen.length) setSettings((s) => ({ ...s, model: (gen.find((m) => m.default === true) ?? gen.find((m) => m.id === 'sft') ?? gen[gen.length - 1]).id }));
    }).catch((e) => setError(String(e.message ?? e)));
    getJSON('/v1/gptforge/rag').then(setRagInfo).catch(() => setRagInfo({ enabled: false }));
  }, []);
  useEffect(() => localStorage.setItem('gptforge.chatSettings', JSON.stringify(settings)), [settings]);

  const save = (list = convs) => {
    localStorage.setItem(STORE, JSON.stringify(list));
    setConvs([...list]);
  };
  let conv = convs.find((c) => c.id === current);

  const ensureConv = () => {
    if (conv) return conv;
    conv = newConversation();
    convs.unshift(conv);
    setCurrent(conv.id);
    return conv;
  };

  /** Stream one assistant reply under `parentId`; with the page's calculator, run its calls and go on. */
  async function generate(c, parentId) {
    setBusy(true);
    setError('');
    const ac = new AbortController();
    abortRef.current = ac;
    try {
      if (settings.technique !== 'direct' && !settings.json) return await assist(c, parentId, ac);
      for (let round = 0; round < 4; round++) {
        // a schema-constrained reply names its mode on its card, as a technique's names the technique
        const node = addNode(c, parentId, { role: 'assistant', content: '', model: settings.model, ...(settings.json ? { constrained: 'json_schema' } : {}), deltas: 0, finish: null });
        save();
        const messages = apiMessages(c, parentId);
        // the reply's budget within the model's context (the server refuses more, as OpenAI does)
        const ctx = served.find((m) => m.id === settings.model)?.context_length ?? Infinity;
        const { count } = await postJSON('/tokenize', { model: settings.model, messages }, ac.signal);
        if (count >= ctx) throw new Error(`the conversation is ${count} tokens, the model's context ${ctx}: start a new chat`);
        const body = {
          model: settings.model,
          messages,
          stream: true,
          temperature: Number(settings.temperature),
          top_p: Number(settings.top_p),
          // with RAG and Max tokens untouched: no max_tokens, so the server's default room (3/16 of the
          // context, as `gptforge chat --rag` and the API) — a tiny model's 128 context has no space for
          // a passage beside the page's 128; set by the user: at most half the context (the passages need
          // the rest; the server fits them around this room)
          ...(useRag && !settings.max_tokens_set ? {} : { max_tokens: Math.min(Number(settings.max_tokens), ctx - count, useRag ? Math.floor(ctx / 2) : Infinity) }),
          ...(settings.seed !== '' ? { seed: Number(settings.seed) } : {}),
        };
        if (settings.json) {
          let schema;
          try {
            schema = JSON.parse(settings.schema);
          } catch (e) {
            throw new Error(`the JSON schema does not parse: ${e.message}`);
          }
          body.response_format = { type: 'json_schema', json_schema: { name: 'reply', schema, strict: true } };
        } else if (tools === 'page') body.tools = [CALCULATOR_TOOL];
        else if (tools === 'server') body.builtin_tools = ['calculator'];
        if (useRag) body.rag = true;
        for await (const { data } of events('/v1/chat/completions', { method: 'POST', body, signal: ac.signal })) {
          if (data === '[DONE]') break;
          if (data?.error) throw new Error(data.error.message);
          const ch = data?.choices?.[0];
          if (!ch) continue;
          if (typeof ch.delta?.content === 'string' && ch.delta.content !== '') {
            node.content += ch.delta.content;
            node.deltas++;
          }
          // a built-in call that ran: its own delta after the text written before it, so it is kept
          // with where it ran (`at`, a position in content) and shown there
          for (const { index, ...call } of ch.delta?.builtin_tool_calls ?? []) {
            node.builtin ??= [];
            node.builtin[index ?? node.builtin.length] = { ...call, at: node.content.length };
          }
          if (data.rag) node.rag = data.rag;
          if (ch.citations) node.citations = ch.citations;
          if (ch.delta?.tool_calls) node.tool_calls = ch.delta.tool_calls.map(({ index, ...t }) => t);
          if (ch.finish_reason) node.finish = ch.finish_reason;
          rerender();
        }
        // the engine's final text has no trailing whitespace (ChatReply.text is trimmed); the stream's last deltas may
        node.content = node.content.trimEnd();
        save();
        // the page's calculator: run each call, append its result, continue the reply
        if (node.finish === 'tool_calls' && tools === 'page' && node.tool_calls?.length) {
          let last = node.id;
          for (const call of node.tool_calls) {
            let input = call.function.arguments;
            try {
              input = JSON.parse(input).input ?? input;
            } catch {}
            last = addNode(c, last, { role: 'tool', tool_call_id: call.id, name: call.function.name, content: calculate(input) }).id;
          }
          parentId = last;
          save();
          continue;
        }
        break;
      }
    } catch (e) {
      const n = c.nodes[c.leaf];
      if (e.name === 'AbortError') {
        if (n?.role === 'assistant') n.finish = 'stopped';
      } else if (n?.role === 'assistant' && !n.finish) {
        // shown in the failed reply's card, where the eye is (the pane's foot is below the fold)
        n.finish = 'error';
        n.error = String(e.message ?? e);
      } else setError(String(e.message ?? e));
      save();
    } finally {
      abortRef.current = null;
      setBusy(false);
    }
  }

  /** A technique's answer (one JSON reply with its trace: samples and votes, or reflection rounds). */
  async function assist(c, parentId, ac) {
    const node = addNode(c, parentId, { role: 'assistant', content: '', model: settings.model, technique: settings.technique, finish: null });
    save();
    const body = {
      model: settings.model,
      messages: apiMessages(c, parentId),
      technique: settings.technique,
      max_tokens: Number(settings.max_tokens),
      ...(settings.seed !== '' ? { seed: Number(settings.seed) } : {}),
      ...(tools === 'server' ? { builtin_tools: ['calculator'] } : {}),
    };
    if (settings.technique === 'self-consistency') Object.assign(body, { k: Number(settings.k), temperature: Number(settings.temperature), ...(settings.reward_votes && hasRm ? { reward_votes: true, reward_model: rmId } : {}) });
    if (settings.technique === 'reflect') Object.assign(body, { rounds: Number(settings.rounds), feedback: settings.feedback });
    const t = await postJSON('/v1/gptforge/assist', body, ac.signal);
    node.content = t.reply;
    // cot's calls (builtin_tool_calls): a whole reply says which ran, not where, so they go before its text (as Compare shows them)
    if (t.builtin_tool_calls?.length) node.builtin = t.builtin_tool_calls.map((call) => ({ ...call, at: 0 }));
    node.trace = { answer: t.answer, consistency: t.consistency, reflection: t.reflection, tokens: t.usage.completion_tokens, ms: t.ms };
    node.finish = 'stop';
    save();
  }

  function send() {
    const text = input.trim();
    if (!text || busy || !settings.model) return;
    const c = ensureConv();
    if (c.title === 'New chat') c.title = text.slice(0, 40);
    const u = addNode(c, c.leaf, { role: 'user', content: text });
    setInput('');
    save();
    generate(c, u.id);
  }

  function regenerate(node) {
    if (busy) return;
    generate(conv, node.parent);
  }

  function saveEdit(node, text) {
    setEditing(null);
    if (busy || !text.trim()) return;
    const u = addNode(conv, node.parent, { role: 'user', content: text.trim() });
    save();
    generate(conv, u.id);
  }

  function switchTo(node, delta) {
    const sib = siblings(conv, node);
    const i = sib.indexOf(node.id) + delta;
    if (i < 0 || i >= sib.length) return;
    conv.leaf = deepest(conv, sib[i]);
    save();
  }

  const ragOff = !ragInfo?.enabled ? 'this server has no RAG store: start it with gptforge serve --rag <db>' : settings.technique !== 'direct' && !settings.json ? 'retrieval goes with direct answers only' : '';
  const useRag = settings.rag && !ragOff;
  const set = (k) => (e) => setSettings((s) => ({ ...s, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value }));
  const msgs = conv ? path(conv) : [];

  return html`
    <div class="chat">
      <aside class="sidebar">
        <button class="primary" onClick=${() => { const c = newConversation(); convs.unshift(c); setCurrent(c.id); save(); }}>+ New chat</button>
        <ul class="convs">
          ${convs.map((c) => html`<li class=${c.id === current ? 'active' : ''} key=${c.id}>
            <a href="#chat" onClick=${() => setCurrent(c.id)}>${c.title}</a>
            <button class="icon" title="delete" onClick=${() => save(convs.filter((x) => x.id !== c.id))}>×</button>
          </li>`)}
        </ul>
      </aside>
      <section class="thread">
        ${conv && html`<details class="system"><summary>System prompt${conv.system ? ': ' + conv.system.slice(0, 60) : ''}</summary>
          <textarea rows="3" value=${conv.system} onInput=${(e) => { conv.system = e.target.value; save(); }} placeholder="You are a helpful assistant."></textarea></details>`}
        <div class="messages" id="messages">
          ${msgs.length === 0 && html`<p class="hint">Send a message to the ${settings.model || '…'} model. Replies stream token by token; Stop ends decoding on the server.</p>`}
          ${msgs.map((n) => html`<${MessageView} key=${n.id} node=${n} conv=${conv} busy=${busy} editing=${editing === n.id}
            onEdit=${() => setEditing(n.id)} onSaveEdit=${(t) => saveEdit(n, t)} onCancel=${() => setEditing(null)}
            onRegenerate=${() => regenerate(n)} onSwitch=${(d) => switchTo(n, d)} onCite=${openPassage} />`)}
        </div>
        ${error && html`<p class="error">${error}</p>`}
        <form class="composer" onSubmit=${(e) => { e.preventDefault(); send(); }}>
          <textarea id="prompt" rows="2" value=${input} placeholder="Message (Enter to send, Shift+Enter for a new line)"
            onInput=${(e) => setInput(e.target.value)} onKeyDown=${(e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(); } }}></textarea>
          ${busy ? html`<button type="button" id="stop" class="danger" onClick=${() => abortRef.current?.abort()}>Stop</button>`
                 : html`<button type="submit" id="send" class="primary" disabled=${!settings.model}>Send</button>`}
        </form>
      </section>
      <aside class="settings">
        <h3>Settings</h3>
        <label>Model <select id="model" value=${settings.model} onChange=${set('model')}>${served.map((m) => html`<option value=${m.id}>${m.id}</option>`)}</select></label>
        <label>Temperature <input type="number" step="0.1" min="0" max="2" value=${settings.temperature} onInput=${set('temperature')} /></label>
        <label>Top p <input type="number" step="0.05" min="0" max="1" value=${settings.top_p} onInput=${set('top_p')} /></label>
        <label>Max tokens <input id="max-tokens" type="number" min="1" value=${settings.max_tokens} title=${useRag && !settings.max_tokens_set ? "with RAG, until you set it: the server's default (3/16 of the model's context), leaving the passages room" : ''} onInput=${(e) => setSettings((st) => ({ ...st, max_tokens: e.target.value, max_tokens_set: true }))} /></label>
        <label>Seed <input id="seed" type="number" placeholder="random" value=${settings.seed} onInput=${set('seed')} /></label>
        <label>Tools <select id="tools" value=${tools} onChange=${set('tool_mode')} disabled=${settings.json}>
          <option value="off">off</option>
          <option value="page">calculator (calls shown, run by the page)</option>
          <option value="server">calculator (server built-in)</option>
        </select></label>
 <label>Technique <select id="technique" value=${settings.technique} onChange=${set('technique')} disabled=${settings.json}>
          <option value="direct">direct (streamed)</option>
          <option value="self-consistency">self-consistency (k samples, vote)</option>
          <option value="reflect">reflection (review rounds)</option>
        </select></label>
        ${settings.technique === 'self-consistency' && html`<label>Samples k <input id="k" type="number" min="1" max="32" value=${settings.k} onInput=${set('k')} /></label>
          <label class="row" title=${hasRm ? `also weigh each vote by the reward model ${rmId}'s score (softmax over the samples)` : 'the run serves no reward model'}><input id="reward-votes" type="checkbox" checked=${settings.reward_votes && hasRm} disabled=${!hasRm} onChange=${set('reward_votes')} /> Reward-weighted votes</label>`}
        ${settings.technique === 'reflect' && html`<label>Rounds <input id="rounds" type="number" min="0" max="8" value=${settings.rounds} onInput=${set('rounds')} /></label>
          <label>Feedback <select id="feedback" value=${settings.feedback} onChange=${set('feedback')}>
            <option value="self">self (the model checks itself)</option>
            <option value="tool">calculator</option>
            <option value="verdict">verdict (checker: right/wrong)</option>
          </select></label>`}
        <label class="row" title=${ragOff || 'answer from passages retrieved from the server\'s RAG store, citing them'}><input id="rag" type="checkbox" checked=${useRag} disabled=${!!ragOff} onChange=${set('rag')} /> RAG${ragInfo?.enabled ? ` (${ragInfo.chunks} passages)` : ''}</label>
        <label class="row"><input id="json-mode" type="checkbox" checked=${settings.json} onChange=${set('json')} /> JSON-schema mode</label>
        ${settings.json && html`<textarea id="schema" rows="8" class="mono" value=${settings.schema} onInput=${set('schema')}></textarea>`}
      </aside>
      ${passage && html`<${PassagePanel} passage=${passage} onClose=${() => setPassage(null)} />`}
    </div>`;

  async function openPassage(p) {
    setPassage({ ...p, loading: true });
    try {
      setPassage(await getJSON(`/v1/gptforge/passages/${p.id}`));
    } catch (e) {
      setPassage({ ...p, error: String(e.message ?? e) });
    }
  }
}

/** The passage a citation names: its file, lines and text (GET /v1/gptforge/passages/:id). */
function PassagePanel({ passage: p, onClose }) {
  const lines = p.line != null ? (p.line_end != null && p.line_end !== p.line ? `lines ${p.line}–${p.line_end}` : `line ${p.line}`) : `chars ${p.char_start}–${p.char_end}`;
  return html`<aside class="passage-panel" role="dialog" aria-label="passage">
    <div class="head"><b>Passage</b><button class="icon close" title="close" onClick=${onClose}>×</button></div>
    ${p.error ? html`<p class="error">${p.error}</p>` : p.loading ? html`<p class="hint">loading…</p>` : html`
      <div class="path mono">${p.path}</div>
      <div class="lines">${lines}${p.store_source && p.store_source !== 'default' ? ` · source ${p.store_source}` : ''}</div>
      <pre class="passage-text">${p.text}</pre>`}
  </aside>`;
}

/** The reply's text with its "[n]" citations as links to the passages they name. */
function Cited({ text, node, onCite }) {
  const passages = node.rag?.passages ?? [];
  if (passages.length === 0) return text;
  const out = [];
  let at = 0;
  for (const m of text.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    out.push(text.slice(at, m.index));
    out.push('[');
    m[1].split(',').map((x) => Number(x.trim())).forEach((n, j) => {
      const p = passages.find((x) => x.n === n);
      if (j > 0) out.push(', ');
      out.push(p ? html`<a href="#chat" class="cite" data-n=${n} title=${p.source} onClick=${(e) => { e.preventDefault(); onCite(p); }}>${n}</a>` : html`<span class="cite-missing" title="no such passage">${n}</span>`);
    });
    out.push(']');
    at = m.index + m[0].length;
  }
  out.push(text.slice(at));
  return out;
}

/**
 * The reply's text with the server's built-in calls shown where they ran (`node.builtin`, each
 * with its position `at` in the text; the final text is trimmed, so a position past its end is
 * its end), the text between them with its citations.
 */
function Inline({ node, onCite }) {
  const calls = (node.builtin ?? []).filter(Boolean);
  if (calls.length === 0) return html`<${Cited} text=${node.content} node=${node} onCite=${onCite} />`;
  const out = [];
  let from = 0;
  for (const c of calls) {
    const at = Math.min(Math.max(c.at ?? 0, from), node.content.length);
    if (at > from) out.push(html`<${Cited} text=${node.content.slice(from, at)} node=${node} onCite=${onCite} />`);
    out.push(html`<${BuiltinCall} call=${c} />`);
    from = at;
  }
  out.push(html`<${Cited} text=${node.content.slice(from)} node=${node} onCite=${onCite} />`);
  return out;
}

/** A technique reply's server-calculator calls (the assist trace's `builtin_tool_calls`), before its text: the trace says which ran, not where. */
function Calls({ calls }) {
  return (calls ?? []).map((c) => html`<${BuiltinCall} call=${c} />`);
}

/** Self-consistency's votes (answer → count bars, the winner marked, each sample expandable) or reflection's rounds. */
function Trace({ node }) {
  const t = node.trace;
  if (t.consistency) {
    const sc = t.consistency;
    const tally = sc.votes.majority.tally;
    // a tie is broken by the earliest sample (vote.ts), as `gptforge ask` says: not a win
    const tie = tally.length > 1 && tally[0].count === tally[1].count;
    return html`<div class="votes">
      <div class="trace-head">Self-consistency: ${sc.k} samples → <b>${t.answer ?? 'no answer'}</b>${tie && html`<span class="tie"> — a tie, broken by the earliest sample (${tally[0].first + 1})</span>`}</div>
      <div class="tally">${tally.map((v) => html`<div class=${'vote' + (v.answer === t.answer ? ' winner' : '')} data-answer=${v.answer} data-count=${v.count}>
        <span class="ans" title=${v.answer}>${v.answer === t.answer ? '✓ ' : ''}${v.answer}</span>
        <span class="bar"><span style=${`width:${(100 * v.count) / sc.k}%`}></span></span><span class="count">×${v.count}</span></div>`)}
        ${sc.samples.some((x) => x.answer === null) && html`<div class="hint">${sc.samples.filter((x) => x.answer === null).length} sample(s) gave no answer</div>`}
      </div>
      <div class="hint weighted">weighted by log-probability: <b>${sc.votes.logprob.answer ?? '—'}</b>${sc.votes.reward && html` · by the reward model: <b class="reward-winner">${sc.votes.reward.answer ?? '—'}</b>`}</div>
      ${sc.samples.map((x) => html`<details class="sample" data-answer=${x.answer ?? ''}><summary>Sample ${x.index + 1}: ${x.answer ?? '—'} <span class="hint">(mean logprob ${x.mean_logprob.toFixed(2)}${x.reward !== undefined ? `, reward ${x.reward.toFixed(2)}` : ''})</span></summary><div class="content"><${Calls} calls=${x.builtin_tool_calls} />${x.text}</div></details>`)}
    </div>`;
  }
  if (t.reflection) {
    const r = t.reflection;
    return html`<div class="reflection">
      <div class="trace-head">Reflection: ${r.initial ?? '—'} → <b>${r.answer ?? '—'}</b> in ${r.rounds.length} round${r.rounds.length === 1 ? '' : 's'}</div>
      <div class="rounds">
        <div class="first"><span class="hint">first answer: </span><span class="content"><${Calls} calls=${r.first_builtin_tool_calls} />${r.first}</span></div>
        <ol>${r.rounds.map((x) => html`<li class="round" data-answer=${x.answer ?? ''}><div class="feedback">${x.feedback}</div><div class="content"><${Calls} calls=${x.builtin_tool_calls} />${x.review}</div><div class="hint">answer now ${x.answer ?? '—'}</div></li>`)}</ol>
      </div>
    </div>`;
  }
  return null;
}

function MessageView({ node, conv, busy, editing, onEdit, onSaveEdit, onCancel, onRegenerate, onSwitch, onCite }) {
  const [draft, setDraft] = useState(node.content);
  const sib = siblings(conv, node);
  const i = sib.indexOf(node.id);
  const nav = sib.length > 1 && html`<span class="branches"><button class="icon" onClick=${() => onSwitch(-1)} disabled=${busy || i === 0}>‹</button>${i + 1}/${sib.length}<button class="icon" onClick=${() => onSwitch(1)} disabled=${busy || i === sib.length - 1}>›</button></span>`;
  if (node.role === 'tool') {
    return html`<div class="msg tool"><span class="tool-call">${node.name ?? 'tool'} → <b>${node.content}</b></span></div>`;
  }
  if (node.role === 'user') {
    return html`<div class="msg user">
      ${editing ? html`<div><textarea rows="3" value=${draft} onInput=${(e) => setDraft(e.target.value)}></textarea>
          <button class="primary" onClick=${() => onSaveEdit(draft)}>Save & branch</button> <button onClick=${onCancel}>Cancel</button></div>`
        : html`<div class="content">${node.content}</div>`}
      <div class="meta">${nav}${!editing && html`<button class="link edit" disabled=${busy} onClick=${() => { setDraft(node.content); onEdit(); }}>edit</button>`}</div>
    </div>`;
  }
  return html`<div class="msg assistant" data-deltas=${node.deltas ?? 0} data-finish=${node.finish ?? ''}>
    <div class="content"><${Inline} node=${node} onCite=${onCite} />${!node.finish && busy && html`<span class="cursor">▍</span>`}</div>
    ${node.tool_calls?.map((t) => html`<div class="tool-call">🔧 ${t.function.name}(${t.function.arguments})</div>`)}
    ${node.trace && html`<${Trace} node=${node} />`}
    ${node.rag && html`<div class="sources">${node.rag.passages.length === 0 ? html`<span class="hint">${node.rag.note ?? (node.rag.retrieved > 0 ? 'no passage fit the context' : 'no passage matched the question')}</span>` : node.rag.passages.map((p) => html`<a href="#chat" class=${'source' + (node.citations?.some((c) => c.id === p.id) ? ' cited' : '')} onClick=${(e) => { e.preventDefault(); onCite(p); }}>[${p.n}] ${p.source}</a>`)}</div>`}
    ${node.error && html`<p class="error reply-error">${node.error}</p>`}
    <div class="meta">${nav}<span>${node.model}${node.technique ? ` · ${node.technique}` : ''}${node.constrained ? ` · ${node.constrained}` : ''}${node.rag ? ' · RAG' : ''}</span>${node.finish && html`<span class="finish" title="why the reply ended">finish: ${node.finish}</span>`}
      <button class="link regenerate" disabled=${busy} onClick=${onRegenerate}>regenerate</button></div>
  </div>`;
}
