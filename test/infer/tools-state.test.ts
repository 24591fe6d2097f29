import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { decode, type RowRequest } from '../../src/infer/pipeline.js';
import type { TokenConstraint } from '../../src/infer/constraint.js';
import type { RowView } from '../../src/infer/processors.js';
import { defaultTools } from '../../src/infer/tools/registry.js';
import { splitToolCall, ToolCallRow } from '../../src/infer/tools-state.js';
import { PolicyModel } from './scripted.js';

// the per-row tool state machine on its own (src/infer/tools-state.ts), under a minimal layer: ChatEngine's
// and the server's layers are tested through their users (test/infer/engine, test/server/openai|chat)
const tok = trainTokenizer(['Let me see. The answer is 20. calculator: 12*3 2+3 4*5 '.repeat(30)], { vocabSize: 330 });
const V = tok.vocabSize;
const sp = (name: string): number => tok.specialId(name);
const txt = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });
const tools = defaultTools();
const view: RowView = { prompt: [], ids: [], sampledCounts: new Map(), contextIds: new Set() };
const END = sp('<|assistant_end|>');

/** The smallest layer: the calculator runs every closed call (an unfinished constrained one gets an error); at most `maxCalls` calls. */
class CalcRow extends ToolCallRow {
  readonly closes: { text: string; complete: boolean }[] = [];
  constructor(
    maxCallTokens = 16,
    private readonly maxCalls = 4,
    callConstraint: TokenConstraint | null = null,
  ) {
    super({ tok, maxCallTokens, callConstraint });
  }
  protected mayOpen(): boolean {
    return this.closed < this.maxCalls;
  }
  protected closeCall(text: string, complete: boolean): number[] {
    this.closes.push({ text, complete });
    return this.outputTokens(complete ? tools.call(text).output : 'error: cut');
  }
}

/** Logits after the row's masks, from all-zero ones. */
function masked(row: ToolCallRow): Float32Array {
  const l = new Float32Array(V);
  row.process(l, view);
  return l;
}

/** Feed `ids` as sampled tokens; returns each step's answer. */
const feed = (row: ToolCallRow, ids: readonly number[]) => ids.map((id) => row.onSampled(id));
const output = (s: string): number[] => [sp('<|output_start|>'), ...txt(s), sp('<|output_end|>')];

test('tool row: text mode masks <|tool_end|> (and <|tool_start|> once no call may open); an open call masks <|tool_start|> and every end of turn', () => {
  const row = new CalcRow();
  let l = masked(row);
  assert.equal(l[sp('<|tool_end|>')], -Infinity);
  assert.equal(l[sp('<|tool_start|>')], 0);
  assert.equal(l[END], 0);
  assert.deepEqual(row.onSampled(txt('Let')[0]), { visible: true });
  assert.deepEqual(row.onSampled(sp('<|tool_start|>')), { visible: false });
  assert.ok(row.inCall);
  l = masked(row);
  assert.equal(l[sp('<|tool_start|>')], -Infinity);
  assert.equal(l[END], -Infinity);
  if (tok.hasSpecial('<|eos|>')) assert.equal(l[sp('<|eos|>')], -Infinity);
  assert.equal(l[sp('<|tool_end|>')], 0); // the call may close
  assert.equal(l[txt('3')[0]], 0); // and go on
  assert.equal(l.filter((x) => x === -Infinity).length, 2 + (tok.hasSpecial('<|eos|>') ? 1 : 0));
  // a layer that allows no call: <|tool_start|> masked in text mode
  assert.equal(masked(new CalcRow(16, 0))[sp('<|tool_start|>')], -Infinity);
});

test('tool row: a call closed by <|tool_end|> gets the calculator result forced; a call reaching maxCallTokens is closed by the row itself', () => {
  const row = new CalcRow();
  const body = txt('calculator: 12*3');
  const steps = feed(row, [sp('<|tool_start|>'), ...body, sp('<|tool_end|>')]);
  assert.ok(steps.every((s) => !s.visible));
  assert.ok(steps.slice(0, -1).every((s) => s.forced === undefined));
  assert.deepEqual(steps.at(-1)?.forced, output('36'));
  assert.deepEqual(row.closes, [{ text: 'calculator: 12*3', complete: true }]);
  assert.equal(row.inCall, false);
  assert.equal(row.closed, 1);
  assert.deepEqual(row.callIds, []);
  // no <|tool_end|> from the model: at maxCallTokens the row forces it before the output
  const cut = new CalcRow(body.length);
  const cs = feed(cut, [sp('<|tool_start|>'), ...body]);
  assert.ok(cs.slice(0, -1).every((s) => s.forced === undefined));
  assert.deepEqual(cs.at(-1)?.forced, [sp('<|tool_end|>'), ...output('36')]);
  assert.equal(cut.inCall, false);
});

test('tool row: a call constraint is cloned per call, allows <|tool_end|> only once complete, and a call cut before that closes with complete = false', () => {
  const x = txt('3')[0];
  /** Only `x`, complete after two of them. */
  class Two implements TokenConstraint {
    n = 0;
    fillMask(m: Uint32Array): void {
      m.fill(0);
      m[x >>> 5] |= 1 << (x & 31);
    }
    advance(t: number): boolean {
      if (t !== x) return false;
      this.n++;
      return true;
    }
    isComplete(): boolean {
      return this.n >= 2;
    }
    mustEnd(): boolean {
      return false;
    }
    clone(): Two {
      const c = new Two();
      c.n = this.n;
      return c;
    }
  }
  const proto = new Two();
  const row = new CalcRow(8, 4, proto);
  row.onSampled(sp('<|tool_start|>'));
  let l = masked(row);
  assert.equal(l[sp('<|tool_end|>')], -Infinity);
  assert.equal(l[x], 0);
  assert.equal(l.filter((v) => v === 0).length, 1);
  feed(row, [x, x]);
  l = masked(row);
  assert.equal(l[sp('<|tool_end|>')], 0);
  feed(row, [sp('<|tool_end|>')]);
  assert.equal(proto.n, 0); // the setup's constraint is never stepped
  // the second call is cut at maxCallTokens = 1, one token short
  const short = new CalcRow(1, 4, proto);
  const s = feed(short, [sp('<|tool_start|>'), x]);
  assert.deepEqual(short.closes, [{ text: '3', complete: false }]);
  assert.deepEqual(s[1].forced, [sp('<|tool_end|>'), ...output('error: cut')]);
});

/** Follows `transcript` from the reply's first token on (forced tokens included); inside a call the end of turn is its first choice. */
function follower(promptLen: number, transcript: readonly number[]): PolicyModel {
  return new PolicyModel(V, (h) => {
    const reply = h.slice(promptLen);
    const l = new Float32Array(V);
    l[transcript[reply.length] ?? END] = 10;
    const open = reply.lastIndexOf(sp('<|tool_start|>')) > reply.lastIndexOf(sp('<|tool_end|>'));
    if (open) l[END] = 20; // masked by the row: the call goes on
    return l;
  });
}

function run(row: CalcRow, transcript: readonly number[], maxTokens: number) {
  const prompt = txt('Let me see.');
  const req: RowRequest = { prompt, maxTokens, seed: 1, temperature: 0, endIds: [END], processors: [row], controller: row };
  return decode(follower(prompt.length, transcript), tok, [req], { padId: END })[0];
}

test('tool row on the pipeline: two calls in one reply, each result forced, the end of turn wanted inside each call masked', () => {
  const call1 = [sp('<|tool_start|>'), ...txt('calculator: 2+3'), sp('<|tool_end|>')];
  const call2 = [sp('<|tool_start|>'), ...txt('calculator: 4*5'), sp('<|tool_end|>')];
  const transcript = [...txt('Let'), ...call1, ...output('5'), ...call2, ...output('20'), ...txt('The answer is 20.'), END];
  const row = new CalcRow();
  const r = run(row, transcript, 64);
  assert.equal(r.finishReason, 'stop');
  assert.deepEqual(r.ids, transcript);
  assert.deepEqual(
    row.closes.map((c) => c.text),
    ['calculator: 2+3', 'calculator: 4*5'],
  );
  assert.equal(row.closed, 2);
  // the outputs were forced, not sampled
  const forced = r.ids.map((_, i) => i).filter((i) => r.sampled[i] === 0);
  assert.deepEqual(
    forced.map((i) => r.ids[i]),
    [...output('5'), ...output('20')],
  );
  assert.equal(r.text, 'LetThe answer is 20.');
  // a layer allowing one call: the second <|tool_start|> is masked, its body comes out as text
  const one = new CalcRow(16, 1);
  const r1 = run(one, transcript, 64);
  assert.equal(one.closed, 1);
  assert.ok(!r1.ids.slice(r1.ids.indexOf(sp('<|output_end|>'))).includes(sp('<|tool_start|>')));
});

test('tool row on the pipeline: max_tokens cutting an open call leaves it open as far as it got (length), and a call never closed is closed at maxCallTokens', () => {
  const body = txt('calculator: 12*3');
  const transcript = [...txt('Let'), sp('<|tool_start|>'), ...body, sp('<|tool_end|>'), ...output('36'), END];
  const row = new CalcRow();
  const r = run(row, transcript, 4);
  assert.equal(r.finishReason, 'length');
  assert.ok(row.inCall);
  assert.deepEqual(row.callIds, body.slice(0, 2));
  assert.equal(row.closed, 0);
  assert.ok(!r.ids.includes(sp('<|output_start|>')));
  // the model never writes <|tool_end|> (it wants the end of turn, masked, then more body): closed at 3 tokens
  const neverClosed = [...txt('Let'), sp('<|tool_start|>'), ...txt('3333333333')];
  const row2 = new CalcRow(3);
  const r2 = run(row2, neverClosed, 12);
  const end = r2.ids.indexOf(sp('<|tool_end|>'));
  assert.equal(end, txt('Let').length + 1 + 3);
  assert.equal(r2.sampled[end], 0);
  assert.ok(row2.closes.length >= 1);
  assert.equal(row2.closes[0].text, tok.decode(neverClosed.slice(txt('Let').length + 1, end)));
  assert.ok(!r2.ids.slice(0, end).includes(END));
});

test('splitToolCall: "name: input" at the first colon, both trimmed; no colon (or nothing before it): no name, the whole text the input', () => {
  assert.deepEqual(splitToolCall(' calculator : 12*3 '), { name: 'calculator', input: '12*3' });
  assert.deepEqual(splitToolCall('get_weather: {"t": "12:30"}'), { name: 'get_weather', input: '{"t": "12:30"}' });
  assert.deepEqual(splitToolCall('calculator: '), { name: 'calculator', input: '' });
  assert.deepEqual(splitToolCall('calculator 12*3'), { name: null, input: 'calculator 12*3' });
  assert.deepEqual(splitToolCall(': 12*3'), { name: null, input: ': 12*3' });
  assert.deepEqual(splitToolCall('  : x'), { name: null, input: ': x' });
});
