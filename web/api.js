// Talking to gptforge serve: the same HTTP API as any client (docs/server.md), plus /web/api.
// The API key (when the server wants one) is kept in localStorage and sent as a Bearer token.

export const KEY_STORAGE = 'gptforge.apiKey';

export function headers(extra = {}) {
  const key = localStorage.getItem(KEY_STORAGE);
  return { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra };
}

/** An error from the server in OpenAI's shape, as one readable message. */
async function failure(res) {
  let msg = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body?.error?.message) msg = `${res.status}: ${body.error.message}`;
  } catch {}
  // a server started with --api-key: say where to enter the key first, the server's words after
  if (res.status === 401) msg = `This server needs an API key: click "API key" at the top of the page and enter the one it was started with (--api-key). (${msg})`;
  const e = new Error(msg);
  e.status = res.status;
  return e;
}

export async function getJSON(path) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw await failure(res);
  return res.json();
}

export async function getText(path) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw await failure(res);
  return res.text();
}

export async function postJSON(path, body, signal) {
  const res = await fetch(path, { method: 'POST', headers: headers(), body: JSON.stringify(body ?? {}), signal });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * Server-sent events over fetch (EventSource cannot send an Authorization header): yields
 * {event, data} with data parsed as JSON ('[DONE]' stays a string). Aborting `signal` closes
 * the connection, which the server sees as a disconnect.
 */
export async function* events(path, { method = 'GET', body, signal } = {}) {
  const res = await fetch(path, { method, headers: headers({ accept: 'text/event-stream' }), body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message';
      const data = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue;
      const text = data.join('\n');
      let parsed = text;
      if (text !== '[DONE]') {
        try { parsed = JSON.parse(text); } catch {}
      }
      yield { event, data: parsed };
    }
  }
}

/**
 * What each stage of a run is, as `gptforge serve --run` names its models (src/run/layout.ts
 * `StageName`, in listing order): `base` is what pretraining writes; sft, the RL stages and dpo
 * were trained on conversations; rm is a reward model (served with `kind: 'reward'`, which the
 * pages leave out of their generation models).
 */
export const RUN_STAGES = { base: 'pretrained', sft: 'chat', rl: 'chat', 'rl-grpo': 'chat', 'rl-reinforce': 'chat', dpo: 'chat', rm: 'reward' };

/**
 * Whether a served generation model was trained on conversations — the chat format and the
 * calculator's call (the pages talk to it through /v1/chat/completions, with the server's
 * calculator on by default) — rather than pretrained only (`base`: prompted through the
 * fake-conversation document, calculator off). A run's stage by RUN_STAGES; any other name is a
 * stage that `sft`, `rl` or `dpo --into <name>` or `merge` wrote (sft-lora, dpo-lora,
 * sft-lora-merged …), so chat-trained too; no model (''): false. A checkpoint imported under
 * another name (`gptforge import -o runs/x/gpt2`) is a base model this rule cannot tell by
 * its name: pick its Tools setting by hand.
 */
export function chatTrained(id) {
  if (id === '') return false;
  return Object.hasOwn(RUN_STAGES, id) ? RUN_STAGES[id] === 'chat' : true;
}

/** The served models: [{id, context_length}]. */
export async function models() {
  return (await getJSON('/v1/models')).data;
}
