import { existsSync, readFileSync } from 'node:fs';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError, type ErrorLocation } from '../util/errors.js';
import { fromOpenAIShape, validateConversation, visibleAnswer } from './chat.js';
import { readJSONL, type OnBad } from './jsonl.js';
import type { Conversation, Message } from './conversation.js';
import { OPT_IN_TASKS, TASKS } from './synthetic/tasks.js';

/**
 * Comparison data for reward modeling and DPO: for one prompt, several assistant replies
 * ordered best first, possibly with ties. People (`gptforge label`) or the simulated labelers
 * (labelers.ts) write it; the reward model trains on every pair of a ranking that has a
 * preference (not the tied ones), DPO on the same pairs as chosen/rejected.
 *
 * File format (JSONL, one object a line; blank lines ignored):
 *
 *   {"prompt": "…", "completions": [best, …, worst], "task"?: "arithmetic"}
 *   {"prompt": "…", "completions": [a, b, c, d], "tiers": [0, 1, 1, 2]}  b and c tied
 *   {"prompt": "…", "completions": [a, b, c], "ranks": [2, 1, 3]}      ranks: 1 = best, strict
 *   {"prompt": "…", "chosen": a, "rejected": b}                       a pair: a 2-item ranking
 *   {"prompt": "…", "chosen": a, "rejected": b, "margin": 1}          with a preference strength (TRL's column)
 *   {"prompt": "…", "completions": [a, b, c], "margin": [1, 1, 0]}    strengths of pairs (a,b), (a,c), (b,c)
 *   {"prompt": [user message], "chosen": [messages], "rejected": [messages]}   TRL's conversational
 *                                                     format (our `export --format trl`), the same pair
 *
 * A completion is a string (a plain reply) or {"messages": [...]}: the reply's assistant
 * and tool messages, tool calls included, exactly as the chat engine returns them.
 *
 * Ties: `tiers` gives each completion (listed best first) a tier, 0 = best, non-decreasing
 * and consecutive (0, 1, 1, 2 …); completions in the same tier are equally good, so no pair
 * is formed between them. Without `tiers` every completion is its own tier (0, 1, 2, …):
 * files written before ties existed keep their meaning. A ranking whose completions are all
 * in one tier ("these are all equally good") is valid — it is what a labeler said, and the
 * simulated labelers say it often — but carries no preference: rankingToPairs gives nothing,
 * and the reward model's loader drops it (run/rm.ts counts it). `tiers` goes only with a
 * best-first `completions` list: not with `ranks` (which stay strict) nor with a pair.
 */

/** A completion is the assistant's reply: plain text, or the reply's messages (assistant/tool, tool calls included) as the chat engine returns them. */
export type Completion = string | { messages: Message[] };

export interface Ranking {
  prompt: string;
  /** Best first. */
  completions: Completion[];
  /**
   * One tier per completion, 0 = best, non-decreasing and consecutive (0, 1, 1, 2 …): equal
   * tiers are ties. Absent: all distinct (0, 1, 2, …), the format before ties.
   */
  tiers?: number[];
  /** Family name when known (simulated labels). */
  task?: string;
  /**
   * How strongly each pair is preferred (TRL RewardTrainer's `margin` column; Llama 2's
   * "significantly better … negligibly better"): one number ≥ 0 per pair i < j of the listed
   * completions, row-major ((0,1), (0,2) … (1,2) …), K·(K−1)/2 of them; tied pairs' entries are
   * unused. The simulated labelers write 0, ⅓, ⅔ or 1 (labelers.ts `pairStrength`). Absent (people's
   * rankings, comparisons cached before it existed): 0 for every pair, today's loss.
   */
  margin?: number[];
}

export interface PreferencePair {
  prompt: string;
  chosen: Completion;
  rejected: Completion;
  task?: string;
  /** The pair's preference strength (Ranking.margin); absent: 0. */
  margin?: number;
}

export interface ReadPreferencesResult {
  rankings: Ranking[];
  /** Lines skipped with onBad 'skip', each with its reason. */
  skipped: { line: number; reason: string }[];
}

// ---------------------------------------------------------------------------------------
// Completions

/** The reply as messages: a string becomes one assistant message. */
export function completionMessages(c: Completion): Message[] {
  return typeof c === 'string' ? [{ role: 'assistant', content: c }] : c.messages;
}

/** The visible text: assistant contents joined, tool calls and outputs left out (as the engine's `text`). */
export function completionText(c: Completion): string {
  return visibleAnswer({ messages: completionMessages(c) });
}

/** The conversation a completion answers: [user prompt, ...the reply's messages]. */
export function rankingConversation(prompt: string, c: Completion): Conversation {
  return { messages: [{ role: 'user', content: prompt }, ...completionMessages(c)] };
}

/**
 * A key equal for two completions exactly when they have the same messages (so also the same
 * visible text): "x" and {"messages": [{"role": "assistant", "content": "x"}]} are the same reply.
 */
export function completionKey(c: Completion): string {
  return JSON.stringify(completionMessages(c).map((m) => [m.role, m.content, m.tool_call ? [m.tool_call.name, m.tool_call.input] : null]));
}

/** The completions with exact duplicates (by completionKey) removed, first occurrence kept. */
export function dedupeCompletions(cs: readonly Completion[]): Completion[] {
  const seen = new Set<string>();
  return cs.filter((c) => {
    const key = completionKey(c);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The ranking's tiers: its `tiers`, or 0, 1, 2, … (strict order) when it has none. */
export function rankingTiers(r: Pick<Ranking, 'completions' | 'tiers'>): number[] {
  return r.tiers ?? r.completions.map((_, i) => i);
}

/** How many distinct tiers a ranking has; fewer than two means it expresses no preference. */
export function tierCount(r: Pick<Ranking, 'completions' | 'tiers'>): number {
  const t = rankingTiers(r);
  return t.length === 0 ? 0 : t[t.length - 1] + 1;
}

/** Pairs of a ranking with a preference (different tiers) and tied pairs (same tier); they sum to K·(K−1)/2. */
export function pairCounts(r: Pick<Ranking, 'completions' | 'tiers'>): { preferred: number; tied: number } {
  const t = rankingTiers(r);
  const k = t.length;
  const sizes = new Map<number, number>();
  for (const x of t) sizes.set(x, (sizes.get(x) ?? 0) + 1);
  let tied = 0;
  for (const n of sizes.values()) tied += (n * (n - 1)) / 2;
  return { preferred: (k * (k - 1)) / 2 - tied, tied };
}

/**
 * Every pair of a ranking with a preference, the better completion as `chosen`: K·(K−1)/2 of
 * them for a strict order, fewer with ties (two completions of the same tier make no pair).
 */
export function rankingToPairs(r: Ranking): PreferencePair[] {
  const pairs: PreferencePair[] = [];
  const cs = r.completions;
  const tiers = rankingTiers(r);
  let p = -1;
  for (let i = 0; i < cs.length; i++) {
    for (let j = i + 1; j < cs.length; j++) {
      p++;
      if (tiers[i] === tiers[j]) continue;
      const pair: PreferencePair = { prompt: r.prompt, chosen: cs[i], rejected: cs[j] };
      if (r.task !== undefined) pair.task = r.task;
      if (r.margin !== undefined) pair.margin = r.margin[p];
      pairs.push(pair);
    }
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------
// Validation

function fail(msg: string, where: ErrorLocation, field?: string): never {
  throw new GptforgeError(msg, { ...where, field });
}

/**
 * validateConversation reports fields of the rendered conversation ("messages[2].content");
 * re-issue its error against the completion's own field ("completions[1].messages[1].content")
 * so the user can find it in the line. The user prompt is message 0, hence the offset of one.
 */
function relocate(e: GptforgeError, where: ErrorLocation, field: string): never {
  const raw = e.detail;
  const m = /^messages\[(\d+)\](.*)$/.exec(e.field ?? '');
  const sub = m ? `.messages[${Number(m[1]) - 1}]${m[2]}` : e.field === 'messages' ? '.messages' : '';
  return fail(raw, where, `${field}${sub}`);
}

/**
 * Throws a GptforgeError naming `field` unless `c` is a usable completion of `prompt`: a
 * non-empty string, or {"messages"} with only assistant/tool messages that form a valid
 * training conversation after the prompt and say or call something.
 */
export function validateCompletion(prompt: string, c: unknown, where: ErrorLocation = {}, field = 'completion'): asserts c is Completion {
  if (typeof c === 'string') {
    if (c.trim() === '') fail('empty completion', where, field);
    return;
  }
  if (typeof c !== 'object' || c === null || !Array.isArray((c as { messages?: unknown }).messages)) {
    fail('a completion must be a string or {"messages": [...]}', where, field);
  }
  const msgs = (c as { messages: unknown[] }).messages;
  const saysNothing = (m: unknown): boolean => {
    const x = m as Partial<Message> | null;
    return typeof x === 'object' && x !== null && x.tool_call === undefined && (typeof x.content !== 'string' || x.content.trim() === '');
  };
  // checked first so a blank reply reads "empty completion", not a field-level complaint
  if (msgs.every(saysNothing)) fail('empty completion', where, field);
  // (roles are checked before validateConversation so a user turn inside a reply gets a clear message)
  msgs.forEach((m, i) => {
    const role = (m as Partial<Message> | null)?.role;
    if (role === 'user' || role === 'system') fail(`a completion holds only the assistant's reply (assistant and tool messages), not a ${role} message`, where, `${field}.messages[${i}].role`);
  });
  try {
    validateConversation(rankingConversation(prompt, c as Completion), { forTraining: true });
  } catch (e) {
    if (e instanceof GptforgeError) relocate(e, where, field);
    throw e;
  }
}

/** A JSON value's kind for an error: "an array", "a number", "null"… */
function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `${typeof v === 'object' ? 'an' : 'a'} ${typeof v}`;
}

/**
 * TRL's conversational preference format — what `export --format trl` writes for DPO
 * (`{"prompt": [messages], "chosen": [messages], "rejected": [messages]}`, DPOTrainer /
 * RewardTrainer) — read as ours: a prompt of exactly one user message becomes its text, a
 * message list as a reply becomes `{"messages": [...]}` (also in `completions`). A multi-turn or
 * system prompt is refused naming the field (a ranking here answers one user prompt).
 */
function trlConversational(o: Record<string, unknown>, where: ErrorLocation): Record<string, unknown> {
  if (!Array.isArray(o.prompt)) return o;
  const msgs = o.prompt as unknown[];
  const m = msgs[0] as Partial<Message> | null | undefined;
  if (msgs.length !== 1 || typeof m !== 'object' || m === null || m.role !== 'user' || typeof m.content !== 'string')
    fail(`a conversational (TRL) prompt is read here as exactly one {"role": "user", "content": "…"} message, got ${msgs.length === 1 ? JSON.stringify(msgs[0]).slice(0, 80) : `${msgs.length} messages`}; or give the prompt as a string`, where, msgs.length === 1 ? 'prompt[0]' : 'prompt');
  // a reply's tool calls may be the standard tool_calls list (what export --format trl writes)
  const reply = (c: unknown): unknown => (Array.isArray(c) ? fromOpenAIShape({ messages: c }, where) : c);
  const out: Record<string, unknown> = { ...o, prompt: m.content };
  if ('chosen' in o) out.chosen = reply(o.chosen);
  if ('rejected' in o) out.rejected = reply(o.rejected);
  if (Array.isArray(o.completions)) out.completions = o.completions.map(reply);
  return out;
}

/** A JSON value as a ranking, or a GptforgeError naming `where` and the field. */
function validateRanking(obj: unknown, where: ErrorLocation = {}): Ranking {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) fail('expected {"prompt", "completions"} or {"prompt", "chosen", "rejected"}', where);
  const o = trlConversational(obj as Record<string, unknown>, where);
  if (o.prompt === undefined) fail('missing prompt (a string)', where, 'prompt');
  if (typeof o.prompt !== 'string') fail(`prompt must be a string (or TRL's one-user-message list), got ${describe(o.prompt)}`, where, 'prompt');
  const prompt = o.prompt as string;
  if (prompt.trim() === '') fail('empty prompt', where, 'prompt');
  const task = validateTask(o.task, where);

  const isPair = 'chosen' in o || 'rejected' in o;
  if (isPair && 'completions' in o) fail('give either "completions" or "chosen"/"rejected", not both', where, 'completions');
  let completions: Completion[];
  let fields: string[];
  if (isPair) {
    if (!('chosen' in o)) fail('a pair needs "chosen"', where, 'chosen');
    if (!('rejected' in o)) fail('a pair needs "rejected"', where, 'rejected');
    if ('ranks' in o) fail('"ranks" goes with "completions", not with a pair', where, 'ranks');
    if ('tiers' in o) fail('"tiers" goes with "completions" (listed best first), not with a pair', where, 'tiers');
    completions = [o.chosen as Completion, o.rejected as Completion];
    fields = ['chosen', 'rejected'];
  } else {
    if (o.completions === undefined) fail('missing completions (a list, best first)', where, 'completions');
    if (!Array.isArray(o.completions)) fail(`completions must be a list (best first), got ${describe(o.completions)}`, where, 'completions');
    completions = o.completions as Completion[];
    fields = completions.map((_, i) => `completions[${i}]`);
    if (completions.length < 2) fail(`a ranking needs at least two completions, got ${completions.length}`, where, 'completions');
  }
  completions.forEach((c, i) => validateCompletion(prompt, c, where, fields[i]));
  const keys = completions.map(completionKey);
  for (let j = 1; j < keys.length; j++) {
    const i = keys.indexOf(keys[j]);
    if (i < j) fail(`${fields[i]} and ${fields[j]} are the same reply; a ranking compares different ones`, where, fields[j]);
  }
  if (o.ranks !== undefined && o.tiers !== undefined) fail('"tiers" goes with completions listed best first, not with "ranks" (ranks are strict)', where, 'tiers');
  const tiers = o.tiers === undefined ? undefined : validateTiers(o.tiers, completions.length, where);
  if (o.ranks !== undefined && o.margin !== undefined) fail('"margin" goes with completions listed best first or a pair, not with "ranks"', where, 'margin');
  const margin = o.margin === undefined ? undefined : validateMargin(isPair && !Array.isArray(o.margin) ? [o.margin] : o.margin, completions.length, where);
  if (o.ranks !== undefined) completions = orderByRanks(completions, o.ranks, where);
  const r: Ranking = { prompt, completions };
  if (tiers !== undefined) r.tiers = tiers;
  if (task !== undefined) r.task = task;
  // after task, as simulatedRanking builds it: a stage hashes its rankings by JSON.stringify
  // (rm.ts dataHash), so a cache read back must serialize exactly as it was sampled
  if (margin !== undefined) r.margin = margin;
  return r;
}

/**
 * `tiers` as a list of k tiers: integers, starting at 0, each equal to the one before or one
 * more. Gaps are refused rather than renumbered: a file saying 0, 2 most likely lost a tier,
 * and quietly closing the gap would hide that.
 */
function validateTiers(tiers: unknown, k: number, where: ErrorLocation): number[] {
  if (!Array.isArray(tiers)) fail(`tiers must be a list of ${k} integers, one per completion (0 = best; equal = tied)`, where, 'tiers');
  const ts = tiers as unknown[];
  if (ts.length !== k) fail(`tiers has ${ts.length} entries for ${k} completions; give one per completion`, where, 'tiers');
  ts.forEach((t, i) => {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) fail(`a tier is a non-negative integer, got ${JSON.stringify(t)}`, where, `tiers[${i}]`);
  });
  const ns = ts as number[];
  if (ns[0] !== 0) fail(`tiers start at 0 (the best tier), got ${ns[0]}`, where, 'tiers[0]');
  for (let i = 1; i < ns.length; i++) {
    if (ns[i] < ns[i - 1]) fail(`tiers must not decrease (completions are listed best first): ${ns[i]} after ${ns[i - 1]}`, where, `tiers[${i}]`);
    if (ns[i] > ns[i - 1] + 1) fail(`tiers are consecutive: ${ns[i]} after ${ns[i - 1]} skips ${ns[i - 1] + 1}`, where, `tiers[${i}]`);
  }
  return [...ns];
}

/** `margin` as K·(K−1)/2 finite numbers ≥ 0, one per pair i < j (a pair's: one number). */
function validateMargin(margin: unknown, k: number, where: ErrorLocation): number[] {
  const n = (k * (k - 1)) / 2;
  if (!Array.isArray(margin) || margin.length !== n) fail(`margin must be ${k === 2 ? "a number (the pair's preference strength) or " : ''}a list of ${n} numbers ≥ 0, one per pair i < j of the ${k} completions, row-major`, where, 'margin');
  (margin as unknown[]).forEach((m, i) => {
    if (typeof m !== 'number' || !Number.isFinite(m) || m < 0) fail(`a margin is a finite number ≥ 0, got ${JSON.stringify(m)}`, where, k === 2 ? 'margin' : `margin[${i}]`);
  });
  return [...(margin as number[])];
}

function validateTask(task: unknown, where: ErrorLocation): string | undefined {
  if (task === undefined) return undefined;
  // every family a mixture can name (the opt-in ones too): the rubric checks replies by it
  const families = [...TASKS, ...OPT_IN_TASKS].map((t) => t.name);
  if (typeof task !== 'string' || !families.includes(task)) {
    fail(`unknown task ${JSON.stringify(task)} (one of: ${families.join(', ')}; or leave "task" out)`, where, 'task');
  }
  return task as string;
}

/** Completions reordered by rank ascending (1 = best); ranks must be distinct numbers, one per completion. */
function orderByRanks(completions: Completion[], ranks: unknown, where: ErrorLocation): Completion[] {
  if (!Array.isArray(ranks) || ranks.length !== completions.length || !ranks.every((r) => typeof r === 'number' && Number.isFinite(r))) {
    fail(`ranks must be a list of ${completions.length} numbers, one per completion (1 = best)`, where, 'ranks');
  }
  const rs = ranks as number[];
  for (let j = 1; j < rs.length; j++) {
    const i = rs.indexOf(rs[j]);
    // ranks stay strict; ties are written with "tiers" on a best-first list
    if (i < j) fail(`tie between completions ${i} and ${j}; ranks must be distinct (to mark ties, list the completions best first with "tiers")`, where, 'ranks');
  }
  return completions
    .map((c, i) => ({ c, rank: rs[i] }))
    .sort((a, b) => a.rank - b.rank)
    .map((x) => x.c);
}

// ---------------------------------------------------------------------------------------
// Files

/**
 * Read a preferences JSONL file (formats above). A malformed line is an error naming file,
 * line and field, or, with onBad 'skip', a counted skip. Pairs become 2-item rankings.
 */
export function readPreferencesJSONL(file: string, opts: { onBad?: OnBad } = {}): ReadPreferencesResult {
  const r = readJSONL(file, 'preferences', validateRanking, opts.onBad);
  return { rankings: r.items, skipped: r.skipped };
}

/**
 * Append one JSON value as a line, durably: the existing contents plus the new line go to a
 * temp file that is renamed over the target, so a kill mid-write never leaves a half line
 * (a plain appendFileSync could). Rewriting the file is O(size) per line, which is nothing
 * next to the seconds a person or the model spends on each ranking.
 */
export function appendJSONLine(file: string, value: unknown): void {
  let existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  // a file written by hand may lack its final newline; never glue two records together
  if (existing !== '' && !existing.endsWith('\n')) existing += '\n';
  atomicWriteFile(file, `${existing}${JSON.stringify(value)}\n`);
}

/** Append a ranking as a line of `file` (validated first, so the file never holds a line the reader rejects). */
export function appendRankingLine(file: string, r: Ranking): void {
  let checked: Ranking;
  try {
    checked = validateRanking(r);
  } catch (e) {
    if (e instanceof GptforgeError) throw new GptforgeError(`ranking not appended: ${e.message}`, { file });
    throw e;
  }
  const line: Ranking = { prompt: checked.prompt, completions: checked.completions };
  if (checked.tiers !== undefined) line.tiers = checked.tiers;
  if (checked.task !== undefined) line.task = checked.task;
  if (checked.margin !== undefined) line.margin = checked.margin;
  appendJSONLine(file, line);
}
