import { Rng } from '../engine/rng.js';
import { GptforgeError } from '../util/errors.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { ChatEngine, type ChatOptions, type ChatReply, DECODE_BATCH_ROWS } from '../infer/engine.js';
import type { ToolRegistry } from '../infer/tools/registry.js';
import type { Conversation, Message } from '../data/conversation.js';
import { dedupeCompletions, type Completion, type Ranking } from '../data/preferences.js';
import { rubricScore, simulatedRanking } from '../data/labelers.js';
import { TASKS, taskByName } from '../data/synthetic/tasks.js';
import type { Split, TaskExample } from '../data/synthetic/task.js';
import { writeDemonstrations, type WriterProfile } from '../data/writers.js';
import { contrastReply } from '../data/contrast.js';
import { correctnessSource } from '../data/decidable.js';

/**
 * Comparison data for the reward model, the way the talk describes it: the SFT model writes
 * K replies per prompt, and labelers rank them (judging is easier than writing). Here the
 * labelers are simulated (data/labelers.ts: a rubric on the task checkers, with noise);
 * `gptforge label` is the same with a person ranking.
 */
export interface TaskPrompt {
  prompt: string;
  task?: string;
}

/** n prompts spread evenly over the task families, from one split (train for data, test for evaluation). */
export function taskPrompts(split: Split, n: number, seed: number, families: readonly string[] = TASKS.map((t) => t.name)): TaskPrompt[] {
  return taskExamples(split, n, seed, families).map(({ prompt, task }) => ({ prompt, task }));
}

/** A prompt with its family and the family's (perfect) demonstration for it. */
export interface TaskPromptExample extends TaskPrompt {
  task: string;
  example: TaskExample;
}

/** taskPrompts' prompts (the same ones, in the same order) with their examples. */
export function taskExamples(split: Split, n: number, seed: number, families: readonly string[] = TASKS.map((t) => t.name)): TaskPromptExample[] {
  const per = Math.ceil(n / families.length);
  const out: TaskPromptExample[] = [];
  families.forEach((name, i) => {
    for (const ex of taskByName(name).generate(split, per, seed + 101 * i)) out.push({ prompt: ex.prompt, task: name, example: ex });
  });
  // interleave the families so any prefix of the list is a fair mix
  return new Rng(seed).shuffle(out).slice(0, n);
}

/**
 * The demonstration a simulated writer (src/data/writers.ts, with its error rate e_w) hands in
 * for each prompt, as a completion (the messages after the user's): the candidate the issue's
 * writers add to a comparison beside the model's samples. The same writers as the SFT data's,
 * so a share e_w of them carry a mistake; the labelers rank them like any other reply.
 * Deterministic in `seed`. @throws GptforgeError for a bad profile (writers.ts).
 */
export function writtenDemonstrations(items: readonly TaskPromptExample[], profile: WriterProfile, seed: number): Completion[] {
  const out: Completion[] = new Array(items.length);
  const families = [...new Set(items.map((it) => it.task))];
  families.forEach((name, fi) => {
    const idx = items.map((it, i) => (it.task === name ? i : -1)).filter((i) => i >= 0);
    const w = writeDemonstrations(
      idx.map((i) => items[i].example),
      taskByName(name),
      profile,
      (seed + 7717 * (fi + 1)) >>> 0,
    );
    // the conversation starts with the user's prompt; the reply is everything after it
    idx.forEach((i, k) => (out[i] = { messages: w.conversations[k].messages.slice(1) }));
  });
  return out;
}

/**
 * Correctness-contrast rankings from the demonstrations alone (no model sampled): for each
 * item, its family's perfect demonstration and the same reply made wrong (src/data/contrast.ts),
 * ranked by the simulated labelers with `noise`. Cheap, so there can be many more of them than
 * of sampled comparisons; their replies are the writers' clean text, not the model's.
 * Deterministic in `seed`.
 */
export function demonstrationContrasts(items: readonly TaskPromptExample[], noise: number, seed: number): Ranking[] {
  const rng = new Rng((seed ^ 0xde_c047) >>> 0);
  const out: Ranking[] = [];
  for (const it of items) {
    const demo: Completion = { messages: it.example.conversation.messages.slice(1) };
    const c = contrastReply(it.prompt, taskByName(it.task), demo, rng);
    if (c) out.push(simulatedRanking(it.prompt, [demo, c.reply], it.task, { noise, seed }, rng));
  }
  return out;
}

interface SampleOptions {
  k: number;
  temperature: number;
  maxTokens: number;
  tools: ToolRegistry | null;
  seed: number;
  /**
   * Prompts decoded together: each batch is this many prompts × k replies, one KV cache
   * (ChatEngine.repliesTo, prompts left-padded, identical histories sharing a forward row).
   * Default ⌊DECODE_BATCH_ROWS / k⌋ (64 rows: 8 prompts × 8 replies on the small preset). Any value gives each reply the same seed, so the
   * same tokens as far as the model's logits agree at the two batch shapes.
   */
  promptsPerBatch?: number;
}

/** Prompts per decode for n replies each: ⌊DECODE_BATCH_ROWS / n⌋ (at least 1); 8 × 8 = 64 rows on the small preset. */
export function promptsPerBatch(n: number): number {
  return Math.max(1, Math.floor(DECODE_BATCH_ROWS / n));
}

/**
 * n replies to a one-message user prompt as completions, sampled together on one KV cache:
 * reply i is the one `opts.seed` + i gives alone (ChatEngine.replies).
 */
export function promptReplies(engine: ChatEngine, prompt: string, n: number, opts: ChatOptions): { messages: Message[] }[] {
  return engine.replies({ messages: [{ role: 'user', content: prompt }] }, n, opts).map((r) => ({ messages: r.messages }));
}

/** promptRepliesBatched's optional batching: its defaults are the comparisons'. */
export interface PromptBatching {
  /** Prompts decoded together (group × n rows a decode); default promptsPerBatch(n). */
  group?: number;
  /** Called after each batch with the number of prompts done so far. */
  onBatch?: (done: number) => void;
}

/**
 * n replies to each of several one-message user prompts, `group` prompts decoded together
 * (group × n rows on one KV cache: ChatEngine.repliesTo with shareHistories, the prompts
 * left-padded and masked; a finished row is no longer fed). Prompt i's reply j is sampled with
 * seed `seeds[i] + j`, exactly the seed `ChatEngine.replies(conv_i, n, { seed: seeds[i] })`
 * gives it, so its tokens are those of the one-prompt path as far as the model's logits
 * agree at the two batch shapes (rotary positions shift with the padding: equal up to
 * rounding). Returns the replies per prompt, in order. `opts.seed` is ignored (the seeds are
 * per prompt).
 * @param batching `group`: prompts a decode (default promptsPerBatch(n): ⌊DECODE_BATCH_ROWS / n⌋,
 *   at least 1); `onBatch(done)`: called after each batch with the prompts done so far.
 * @throws GptforgeError for a bad `group`, or seeds not aligned with the prompts.
 */
export function promptRepliesBatched(engine: ChatEngine, prompts: readonly string[], n: number, seeds: readonly number[], opts: ChatOptions, batching: PromptBatching = {}): ChatReply[][] {
  const { group = promptsPerBatch(n), onBatch } = batching;
  if (!(Number.isInteger(group) && group >= 1)) throw new GptforgeError(`promptsPerBatch must be a whole number ≥ 1, got ${String(group)}`, { field: 'promptsPerBatch' });
  if (seeds.length !== prompts.length) throw new GptforgeError(`promptRepliesBatched: ${prompts.length} prompts but ${seeds.length} seeds`);
  if (!(Number.isInteger(n) && n >= 1)) throw new GptforgeError(`promptRepliesBatched: n must be a positive integer, got ${n}`);
  const out: ChatReply[][] = [];
  for (let s = 0; s < prompts.length; s += group) {
    const idx = Array.from({ length: Math.min(group, prompts.length - s) }, (_, g) => s + g);
    // one conversation object per prompt: the engine renders a prompt shared by rows once
    const convs = idx.flatMap((i) => new Array<Conversation>(n).fill({ messages: [{ role: 'user', content: prompts[i] }] }));
    const rowSeeds = idx.flatMap((i) => Array.from({ length: n }, (_, j) => seeds[i] + j));
    const replies = engine.repliesTo(convs, rowSeeds, { ...opts, shareHistories: true });
    for (let g = 0; g < idx.length; g++) out.push(replies.slice(g * n, (g + 1) * n));
    onBatch?.(s + idx.length);
  }
  return out;
}

/** K sampled replies to a prompt (empty ones and duplicates dropped: a ranking compares different replies), and how many of the K hit maxTokens. */
function keptReplies(all: readonly ChatReply[]): { replies: Completion[]; cut: number } {
  const cut = all.filter((r) => r.finishReason === 'length').length;
  // a reply that says and calls nothing is not a completion the formats accept (nor one worth ranking)
  const kept = all.filter((r) => r.messages.some((m) => m.tool_call !== undefined || m.content.trim() !== '')).map((r) => ({ messages: r.messages }));
  return { replies: dedupeCompletions(kept), cut };
}

/**
 * The K replies of prompt i (`prompts[i]` undefined: not sampled) on demand, in prompt order:
 * asked for prompt i, it decodes i and the next promptsPerBatch − 1 prompts to sample together
 * (promptRepliesBatched). Prompt i's reply j has seed (opts.seed + i)·1000 + j, the seed the
 * one-prompt-at-a-time sampling gave it.
 */
function replySource(engine: ChatEngine, prompts: readonly (string | undefined)[], opts: SampleOptions): (i: number) => { replies: Completion[]; cut: number } {
  const ready = new Map<number, { replies: Completion[]; cut: number }>();
  const group = opts.promptsPerBatch ?? promptsPerBatch(opts.k);
  return (i) => {
    let got = ready.get(i);
    if (!got) {
      const idx: number[] = [];
      for (let j = i; j < prompts.length && idx.length < group; j++) if (prompts[j] !== undefined) idx.push(j);
      const all = promptRepliesBatched(
        engine,
        idx.map((j) => prompts[j]!),
        opts.k,
        idx.map((j) => (opts.seed + j) * 1000),
        { temperature: opts.temperature, maxTokens: opts.maxTokens, tools: opts.tools },
        { group },
      );
      idx.forEach((j, g) => ready.set(j, keptReplies(all[g])));
      got = ready.get(i)!;
    }
    ready.delete(i);
    return got;
  };
}

export interface SimulatedComparisonOptions extends SampleOptions {
  noise: number;
  /** One more candidate per prompt (aligned with the prompts), ranked with the K samples: the writers' demonstration (writtenDemonstrations). */
  demonstrations?: readonly (Completion | undefined)[];
  /**
   * Correctness-contrast pairs per prompt of a family decidable from the context (≥ 0; the
   * fractional part is the chance of one more): each a ranking of two replies that differ only
   * in the checkable fact (src/data/contrast.ts), made from one of the prompt's samples not yet
   * used, else from `contrastDemonstrations`' reply for it; ranked by the same noisy labelers.
   * Default 0. Drawn from their own random stream, so the sampled rankings are the same with or without.
   */
  contrastPairs?: number;
  /** The perfect demonstration per prompt (aligned with the prompts): the contrast's fallback when no sample can be changed. */
  contrastDemonstrations?: readonly (Completion | undefined)[];
  onRanking?(done: number, total: number): void;
}

/** How the contrast pairs were made: from the model's samples (made right, made wrong) or the demonstration. */
export interface ContrastTally {
  pairs: number;
  madeRight: number;
  madeWrong: number;
  fromDemonstration: number;
}

/**
 * Rank K sampled replies per prompt with the simulated labelers. Returns the noisy rankings
 * (what labelers hand in) and the noise-free ones (the rubric's own order) for the same
 * replies — prompts whose K replies are all identical are skipped — and how many of the
 * `sampled` replies were `cut` at maxTokens (the labelers judge those unfinished). With
 * `contrastPairs`, the contrast rankings follow each prompt's own, and `contrast` counts them.
 * @throws GptforgeError for a negative or non-finite `contrastPairs`.
 */
export function simulatedComparisons(model: GPT, tok: Tokenizer, prompts: readonly TaskPrompt[], opts: SimulatedComparisonOptions): { noisy: Ranking[]; clean: Ranking[]; sampled: number; cut: number; contrast: ContrastTally } {
  const engine = new ChatEngine(model, tok);
  const rng = new Rng(opts.seed);
  const crng = new Rng((opts.seed ^ 0xc0_4e7a) >>> 0);
  const rate = opts.contrastPairs ?? 0;
  if (!(rate >= 0 && Number.isFinite(rate))) throw new GptforgeError(`contrastPairs must be a number ≥ 0, got ${String(rate)}`, { field: 'rm.comparisons.contrastPairs' });
  const contrast: ContrastTally = { pairs: 0, madeRight: 0, madeWrong: 0, fromDemonstration: 0 };
  const noisy: Ranking[] = [];
  const clean: Ranking[] = [];
  let cut = 0;
  const source = replySource(
    engine,
    prompts.map((p) => p.prompt),
    opts,
  );
  prompts.forEach((p, i) => {
    const s = source(i);
    const sampled = s.replies;
    cut += s.cut;
    const demo = opts.demonstrations?.[i];
    const replies = demo === undefined ? sampled : dedupeCompletions([...sampled, demo]);
    if (replies.length >= 2) {
      noisy.push(simulatedRanking(p.prompt, replies, p.task, { noise: opts.noise, seed: opts.seed }, rng));
      clean.push(simulatedRanking(p.prompt, replies, p.task, { noise: 0, seed: opts.seed }));
    }
    if (rate > 0 && p.task !== undefined && correctnessSource(p.task) === 'decidable') {
      const n = Math.floor(rate) + (crng.random() < rate - Math.floor(rate) ? 1 : 0);
      const demoC = opts.contrastDemonstrations?.[i];
      const sources = [...crng.shuffle([...sampled]), ...(demoC === undefined ? [] : [demoC])];
      const task = taskByName(p.task);
      let made = 0;
      for (const [si, src] of sources.entries()) {
        if (made >= n) break;
        const c = contrastReply(p.prompt, task, src, crng);
        if (!c) continue;
        made++;
        contrast.pairs++;
        if (si === sampled.length) contrast.fromDemonstration++;
        else if (c.correct) contrast.madeRight++;
        else contrast.madeWrong++;
        noisy.push(simulatedRanking(p.prompt, [src, c.reply], p.task, { noise: opts.noise, seed: opts.seed }, crng));
        clean.push(simulatedRanking(p.prompt, [src, c.reply], p.task, { noise: 0, seed: opts.seed }));
      }
    }
    opts.onRanking?.(i + 1, prompts.length);
  });
  return { noisy, clean, sampled: prompts.length * opts.k, cut, contrast };
}

/** Settings of `sampledContrasts`: the sampling (K, temperature, maxTokens, tools, seed), the labelers' noise and the pairs per prompt. */
export interface SampledContrastOptions extends SampleOptions {
  noise: number;
  /** At most this many right-against-wrong pairs per prompt (≥ 1), drawn without repeats. */
  maxPairsPerPrompt: number;
  /** Also pair each sample with itself made right or wrong (src/data/contrast.ts): one more pair per sample the change applies to. Default false. */
  edits?: boolean;
  onPrompt?(done: number, total: number): void;
}

/** What `sampledContrasts` sampled and made. */
export interface SampledContrastTally {
  prompts: number;
  samples: number;
  /** Samples the family's checker accepts / rejects (empty and duplicate samples dropped). */
  right: number;
  wrong: number;
  /** Prompts with at least one right and one wrong sample. */
  mixedPrompts: number;
  /** Right-against-wrong pairs of two samples; pairs of a sample and its edited copy. */
  natural: number;
  edited: number;
}

/**
 * Correctness pairs from the model's own samples (issue #24): K samples per prompt of a family
 * decidable from the context, each judged by the family's checker (the labelers' correctness
 * term), and up to `maxPairsPerPrompt` pairs of a right sample against a wrong one of the same
 * prompt, ranked by the simulated labelers with `noise`. The held-out pairs decided by
 * correctness are exactly such pairs of the SFT model's samples (garbled text in which the
 * checker accepts one reply and not the other); contrast pairs made from the clean
 * demonstrations taught the fact in clean text only and did not carry to them
 * (docs/journal/rlhf.md, "Sixth pass"). With `edits`, each sample is also paired with itself
 * made right or wrong (contrastReply): the same text with only the fact changed.
 * Prompts without a family, or of a family whose correctness is not decidable, are skipped.
 * Deterministic in `opts.seed`.
 * @throws GptforgeError for a `maxPairsPerPrompt` that is not a whole number ≥ 1.
 */
export function sampledContrasts(model: GPT, tok: Tokenizer, items: readonly TaskPrompt[], opts: SampledContrastOptions): { rankings: Ranking[]; tally: SampledContrastTally } {
  if (!(Number.isInteger(opts.maxPairsPerPrompt) && opts.maxPairsPerPrompt >= 1)) {
    throw new GptforgeError(`maxPairsPerPrompt must be a whole number ≥ 1, got ${String(opts.maxPairsPerPrompt)}`, { field: 'rm.comparisons.sampledContrasts.maxPairsPerPrompt' });
  }
  const engine = new ChatEngine(model, tok);
  const rng = new Rng((opts.seed ^ 0x5a_4d1e) >>> 0);
  const tally: SampledContrastTally = { prompts: 0, samples: 0, right: 0, wrong: 0, mixedPrompts: 0, natural: 0, edited: 0 };
  const rankings: Ranking[] = [];
  const decidable = (p: TaskPrompt): boolean => p.task !== undefined && correctnessSource(p.task) === 'decidable';
  const source = replySource(
    engine,
    items.map((p) => (decidable(p) ? p.prompt : undefined)),
    opts,
  );
  items.forEach((p, i) => {
    if (p.task !== undefined && decidable(p)) {
      const { replies } = source(i);
      tally.prompts++;
      tally.samples += replies.length;
      const made = rightWrongPairs(p.prompt, p.task, replies, opts, rng);
      rankings.push(...made.rankings);
      tally.right += made.right;
      tally.wrong += made.wrong;
      if (made.right > 0 && made.wrong > 0) tally.mixedPrompts++;
      tally.natural += made.natural;
      tally.edited += made.edited;
    }
    opts.onPrompt?.(i + 1, items.length);
  });
  return { rankings, tally };
}

/**
 * A two-reply ranking re-judged by the family's checker without the labelers' noise: its
 * replies right first, or undefined when the checker calls both right or both wrong (or the
 * ranking has not two replies). The benches that ask whether an RM reads correctness
 * (bench/rm-own-pairs.ts, bench/rm-overfit.ts) score it on these, not on the noisy order the
 * labelers wrote in `contrast-sampled.jsonl`.
 */
export function rightFirst(r: Ranking): [Completion, Completion] | undefined {
  if (r.completions.length !== 2) return undefined;
  const [a, b] = r.completions;
  const va = rubricScore(r.prompt, a, r.task).correct === true;
  const vb = rubricScore(r.prompt, b, r.task).correct === true;
  if (va === vb) return undefined;
  return va ? [a, b] : [b, a];
}

/**
 * One prompt's replies judged by the family's checker (the labelers' correctness verdict) and
 * paired: up to `maxPairsPerPrompt` pairs of a right reply against a wrong one (every such
 * combination shuffled, the first kept), and with `edits` each reply against itself made right
 * or wrong (contrastReply), each pair ranked by the simulated labelers with `noise`. No pairs
 * when every reply is right or every one wrong (and no edited pair where the change does not
 * apply). Deterministic in `rng`. `sampledContrasts`' pairing, apart so it can be checked on
 * replies written by hand.
 */
export function rightWrongPairs(prompt: string, task: string, replies: readonly Completion[], opts: { noise: number; seed: number; maxPairsPerPrompt: number; edits?: boolean }, rng: Rng): { rankings: Ranking[]; right: number; wrong: number; natural: number; edited: number } {
  const right: Completion[] = [];
  const wrong: Completion[] = [];
  for (const r of replies) (rubricScore(prompt, r, task).correct ? right : wrong).push(r);
  const rankings: Ranking[] = [];
  const pairs = rng.shuffle(right.flatMap((a) => wrong.map((b) => [a, b] as const))).slice(0, opts.maxPairsPerPrompt);
  for (const [a, b] of pairs) rankings.push(simulatedRanking(prompt, [a, b], task, { noise: opts.noise, seed: opts.seed }, rng));
  const natural = rankings.length;
  if (opts.edits) {
    const family = taskByName(task);
    for (const r of replies) {
      const c = contrastReply(prompt, family, r, rng);
      if (c) rankings.push(simulatedRanking(prompt, [r, c.reply], task, { noise: opts.noise, seed: opts.seed }, rng));
    }
  }
  return { rankings, right: right.length, wrong: wrong.length, natural, edited: rankings.length - natural };
}
