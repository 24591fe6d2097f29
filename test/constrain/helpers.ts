import { trainTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import type { TokenConstraint } from '../../src/infer/constraint.js';
import { Rng } from '../../src/engine/rng.js';

let shared: Tokenizer | undefined;
/** A small byte-level BPE trained on JSON-ish text, so tokens span punctuation, quotes and words. */
export function testTokenizer(): Tokenizer {
  shared ??= trainTokenizer(
    [
      '{"name": "Alice", "age": 30, "tags": ["a", "b"], "ok": true, "x": null, "pi": 3.14159, "neg": -12e-3}\n'.repeat(20),
      '[{"id":1,"value":"hello world"},{"id":2,"value":"héllo wörld ✓ 中文"}] 2024-01-31T12:30:00Z '.repeat(20),
      'the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuvwxyz '.repeat(10),
    ],
    { vocabSize: 600 },
  );
  return shared;
}

export function allowedList(c: TokenConstraint, vocab: number): number[] {
  const mask = new Uint32Array(Math.ceil(vocab / 32));
  c.fillMask(mask);
  const out: number[] = [];
  for (let id = 0; id < vocab; id++) if (mask[id >>> 5] & (1 << (id & 31))) out.push(id);
  return out;
}

/** Feed text token by token; true if every token is accepted and the constraint is complete at the end. */
export function accepts(c: TokenConstraint, tok: Tokenizer, text: string): boolean {
  const mask = new Uint32Array(Math.ceil(tok.vocabSize / 32));
  for (const id of tok.encodeOrdinary(text)) {
    c.fillMask(mask);
    const inMask = (mask[id >>> 5] & (1 << (id & 31))) !== 0;
    const ok = c.advance(id);
    if (inMask !== ok) throw new Error(`mask and advance disagree on token ${id} (${JSON.stringify(tok.decode([id]))}): mask ${inMask}, advance ${ok}`);
    if (!ok) return false;
  }
  return c.isComplete();
}

/** A random walk: sample uniformly among allowed tokens, stop (with prob. stopP) when complete. */
export function randomWalk(c: TokenConstraint, tok: Tokenizer, rng: Rng, maxTokens = 400, stopP = 0.3): { text: string; complete: boolean } {
  const ids: number[] = [];
  for (let i = 0; i < maxTokens; i++) {
    if (c.mustEnd()) break;
    if (c.isComplete() && rng.random() < stopP) break;
    const allowed = allowedList(c, tok.vocabSize);
    if (allowed.length === 0) throw new Error(`no token allowed and not complete after ${JSON.stringify(tok.decode(ids))}`);
    const id = allowed[rng.int(allowed.length)];
    if (!c.advance(id)) throw new Error(`advance refused allowed token ${id}`);
    ids.push(id);
  }
  return { text: tok.decode(ids), complete: c.isComplete() };
}
