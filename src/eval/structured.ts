/**
 * The effect of constrained decoding, measured (issue #17): the structured-answer family's
 * held-out prompts answered by a chat model greedily, once free and once under
 * STRUCTURED_SCHEMA (src/infer/constrain: the reply's tokens masked to the schema's language),
 * scored for schema validity (validStructured, a hand check independent of the constraint
 * compiler) and per-field accuracy (scoreStructured). With the constraint every complete reply
 * is valid; a reply cut by the token limit counts as invalid in both columns.
 */
import type { Tokenizer } from '../tokenizer/index.js';
import { ChatEngine, type DecodingModel } from '../infer/engine.js';
import { schemaConstraint } from '../infer/constrain/index.js';
import { scoreStructured, structured, STRUCTURED_FIELDS, STRUCTURED_SCHEMA } from '../data/synthetic/structured.js';

export interface StructuredScore {
  /** Prompts answered. */
  n: number;
  /** Share of replies that parse as JSON and satisfy the schema, 0–1. */
  valid: number;
  /** Share of fields right over all replies (4 per reply; an unparsable reply scores 0), 0–1. */
  fieldAccuracy: number;
  /** Per field, share right. */
  perField: Record<(typeof STRUCTURED_FIELDS)[number], number>;
  /** Replies that stopped at the token limit. */
  cut: number;
}

export interface StructuredEffect {
  free: StructuredScore;
  constrained: StructuredScore;
}

/** Answer `n` held-out structured prompts (seed fixes which) with and without the schema constraint. */
export function structuredEffect(model: DecodingModel, tok: Tokenizer, opts: { n: number; seed?: number; maxTokens?: number; onAnswer?: () => void }): StructuredEffect {
  const prompts = structured.generate('test', opts.n, opts.seed ?? 1).map((e) => e.prompt);
  const engine = new ChatEngine(model, tok);
  // compact: the longest answer the schema allows (≈ 170 bytes) fits maxTokens (not necessarily a small model's context)
  const constraint = schemaConstraint(STRUCTURED_SCHEMA, tok, { file: 'structured schema', whitespace: 'compact' });
  const score = (constrained: boolean): StructuredScore => {
    const perField = { word: 0, part_of_speech: 0, definition: 0, syllables: 0 };
    let valid = 0;
    let cut = 0;
    for (const prompt of prompts) {
      const r = engine.reply({ messages: [{ role: 'user', content: prompt }] }, { temperature: 0, maxTokens: opts.maxTokens ?? 200, tools: null, constraint: constrained ? constraint : undefined });
      if (r.finishReason !== 'stop') cut++;
      const s = scoreStructured(prompt, r.text);
      if (s.valid && r.finishReason === 'stop') valid++;
      for (const k of STRUCTURED_FIELDS) if (s.fields[k]) perField[k]++;
      opts.onAnswer?.();
    }
    const n = Math.max(1, prompts.length);
    const sum = STRUCTURED_FIELDS.reduce((a, k) => a + perField[k], 0);
    return { n: prompts.length, valid: valid / n, fieldAccuracy: sum / (4 * n), perField: Object.fromEntries(STRUCTURED_FIELDS.map((k) => [k, perField[k] / n])) as StructuredScore['perField'], cut };
  };
  return { free: score(false), constrained: score(true) };
}

/** The eval report's rows: schema-valid rate and field accuracy, free and constrained. */
export function structuredMarkdown(e: StructuredEffect, model = 'SFT'): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const row = (name: string, s: StructuredScore): string => `| ${name} | ${s.n} | ${pct(s.valid)} | ${pct(s.fieldAccuracy)} | ${STRUCTURED_FIELDS.map((k) => pct(s.perField[k])).join(' | ')} | ${s.cut} |`;
  return ['| structured answer (JSON) | prompts | schema-valid | field accuracy | word | part_of_speech | definition | syllables | cut at limit |', '|---|---|---|---|---|---|---|---|---|', row(`${model}, free`, e.free), row(`${model} + schema constraint`, e.constrained)].join('\n');
}
