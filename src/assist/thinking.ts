import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderConversation, renderPrompt, type RenderedConversation } from '../data/chat.js';
import type { Conversation } from '../data/conversation.js';
import { PackedLoader } from '../data/sft.js';
import { longAddition, longMultiplication, longResult, parseLong, THINK_TRIGGER, THINKING_TASKS } from '../data/synthetic/longarith.js';
import { longMultiplicationMulti } from '../data/synthetic/longmul.js';
import { firstWrongStep, HINT_LABELS, type HintedStep, hintedScratchpad, hintedSum, longAdditionHinted } from '../data/synthetic/longadd-hints.js';
import { countdown } from '../data/synthetic/countdown.js';
import { longAdditionAbacus } from '../data/synthetic/longadd-abacus.js';
import { abacusConfigFor } from '../model/abacus.js';
import { reflection } from '../data/synthetic/reflect.js';
import { skillLevels } from '../data/synthetic/skill.js';
import type { SyntheticTask } from '../data/synthetic/task.js';
import { makeConfig, type GPTConfigInput } from '../model/config.js';
import { GPT } from '../model/gpt.js';
import { Tokenizer, trainTokenizer } from '../tokenizer/index.js';
import { latestCheckpoint } from '../model/checkpoint.js';
import type { TrainConfig, TrainResult } from '../train/loop.js';
import { sft } from '../train/sft.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { ChatEngine, type DecodingModel } from '../infer/engine.js';
import { decode } from '../infer/pipeline.js';

/**
 * The techniques model at our scale: a small GPT trained from scratch on the families of
 * docs/techniques.md alone — long addition and multiplication (src/data/synthetic/longarith.ts;
 * half of the prompts with the "Let's think step by step." trigger and a scratchpad answer,
 * half answered directly), skill levels in the system prompt (skill.ts) and reflection
 * (reflect.ts), shared as TECHNIQUE_MIXTURE says.
 *
 * Why from scratch rather than on top of the run's SFT model: the default tokenizer's
 * pattern cuts numbers into one- and two-digit pieces, so the same digit column is a
 * different token from one number to the next; the scratchpad wants one digit per token.
 * This recipe trains its own byte-level BPE with the `gpt4-digits` pattern (words still
 * merge; every digit is its own token) on the families' text, and a model with rotary
 * positions (relative offsets, so a scratchpad line means the same thing at any position —
 * the test's 7–8 digit problems run past the longest rows trained on).
 *
 * Output: `<dir>/sft/step-N/` checkpoints (loadable with `loadModel(dir)`, so `gptforge ask
 * --run dir` and `gptforge chat --run dir` work on it), `<dir>/metrics.jsonl`.
 */
export interface ThinkingTrainOptions {
  /** Model shape (vocabSize comes from the tokenizer), or a function of the tokenizer (e.g. abacus embeddings: their digit token ids). Default 4 layers, 4 heads, 128 wide, context 384, RoPE. */
  model?: Partial<GPTConfigInput> | ((tok: Tokenizer) => Partial<GPTConfigInput>);
  /** Training conversations (default 30,000, shared as TECHNIQUE_MIXTURE says). */
  examples?: number;
  /** Operand digits trained on (default 1–6). */
  minDigits?: number;
  maxDigits?: number;
  /** Rows per step and row length (default 16 × 256). */
  batchSize?: number;
  seqLen?: number;
  /** Optimizer steps (default 800; cosine decay to lr/10 over them). */
  steps?: number;
  lr?: number;
  /** Total vocabulary of the BPE (default 384). */
  vocabSize?: number;
  seed?: number;
  quiet?: boolean;
  signal?: AbortSignal;
  /** The families and their weights (default TECHNIQUE_MIXTURE; COUNTDOWN_MIXTURE trains the tree-of-thoughts model). */
  mixture?: readonly MixtureEntry[];
  /** Continue from `<dir>/sft`'s latest checkpoint when there is one (default true). */
  resume?: boolean;
}

/** One family of a techniques mixture, its share, and the variant it is generated with (default: the long arithmetic families in both modes at the recipe's digits). */
export interface MixtureEntry {
  task: SyntheticTask;
  weight: number;
  variant?: Record<string, unknown>;
}

/** The families of the techniques model and their shares of its training conversations. */
export const TECHNIQUE_MIXTURE: readonly MixtureEntry[] = [
  { task: longAddition, weight: 0.35 },
  { task: longMultiplication, weight: 0.2 },
  { task: skillLevels, weight: 0.2 },
  { task: reflection, weight: 0.25 },
];

/**
 * The addition-only mixture: long addition (both modes), skill levels and reflection — every
 * family about addition, so the scratchpad's copy-and-carry step gets most of the budget. The
 * 400-step run of 16 rows on TECHNIQUE_MIXTURE had not learned to copy a number; model A, 1,200
 * steps of 8 rows on this mixture, learned it in one jump between steps 400 and 500 (its loss on
 * assistant tokens 0.95 → 0.30: docs/techniques.md, the paragraph under the models table, from
 * commit fff7be0). Mixture, batch size and step count changed together, so which one mattered is
 * not isolated.
 */
export const ADDITION_MIXTURE: readonly MixtureEntry[] = [
  { task: longAddition, weight: 0.55 },
  { task: skillLevels, weight: 0.15 },
  { task: reflection, weight: 0.3 },
];

/**
 * Ask for success, step by step: ADDITION_MIXTURE with the skill levels' demonstrations
 * written as scratchpads (the forgetful writers' carries all 0). At our scale the model adds
 * only step by step, so this is the mixture where a stated level can show (docs/techniques.md);
 * trained as a continuation of an ADDITION_MIXTURE model.
 */
export const SKILL_COT_MIXTURE: readonly MixtureEntry[] = [
  { task: longAddition, weight: 0.4 },
  { task: skillLevels, weight: 0.35, variant: { mode: 'cot' } },
  { task: reflection, weight: 0.25 },
];

/**
 * Ask for success with a mediocre default: every step-by-step addition comes from a writer —
 * a stated level, or (40%) no system prompt and the unstated crowd that forgets the carries
 * on 60% of problems, as text on the internet mixes writers — and none from the always-right
 * long-addition family, whose unprompted scratchpads made "no prompt" mean "expert" in
 * SKILL_COT_MIXTURE (docs/techniques.md). Operands of 1–6 digits; trained, like
 * SKILL_COT_MIXTURE, as a continuation of an ADDITION_MIXTURE model, so the two differ only
 * in who writes the unprompted demonstrations.
 */
export const SKILL_CROWD_MIXTURE: readonly MixtureEntry[] = [
  { task: skillLevels, weight: 0.8, variant: { mode: 'cot', minDigits: 1, maxDigits: 6, unstatedShare: 0.4 } },
  { task: reflection, weight: 0.2 },
];

/**
 * Multi-digit multiplication: a number times one digit (1–4 digits) and 2 × 2-digit products
 * as partial products (longmul.ts), with long addition kept in; both modes. Trained as a
 * continuation of an ADDITION_MIXTURE model, which knows the addition pass and must learn the
 * one-digit pass and the bookkeeping. 2 × 2 digits keeps every conversation in a 256-token row;
 * 3 × 2 (one digit longer than trained, ~230 scratchpad tokens) is the length test.
 */
export const MULTIPLY_MIXTURE: readonly MixtureEntry[] = [
  { task: longAddition, weight: 0.25 },
  { task: longMultiplication, weight: 0.3, variant: { minDigits: 1, maxDigits: 4, mode: 'both' } },
  { task: longMultiplicationMulti, weight: 0.45, variant: { minDigits: 2, maxDigits: 2, mode: 'both' } },
];

/**
 * Length generalisation: long addition with the index-hinted scratchpad (longadd-hints.ts)
 * alone, both modes, 1–6 digits — no other family, so the old scratchpad (the same trigger,
 * another format) is not in the mix. Trained as a continuation of an ADDITION_MIXTURE model,
 * which already knows the column sums "7+1+0=8" and must learn the labels, the reads and the
 * lookups by label.
 */
export const HINTS_MIXTURE: readonly MixtureEntry[] = [{ task: longAdditionHinted, weight: 1, variant: { minDigits: 1, maxDigits: 6, mode: 'both' } }];

/**
 * HINTS_MIXTURE with three quarters of the prompts step by step, and half of them carrying a
 * sentence after the question (longadd-hints.ts's HINT_FILLERS), so that an operand's end has
 * to be found by what follows it rather than by its distance from the reply: model F's second
 * run (docs/techniques.md), a continuation of HINTS_MIXTURE.
 */
export const HINTS_VARIED_MIXTURE: readonly MixtureEntry[] = [{ task: longAdditionHinted, weight: 1, variant: { minDigits: 1, maxDigits: 6, mode: 'both', cotShare: 0.75, filler: 0.5 } }];

/**
 * Model AB5's recipe (docs/journal/techniques.md, "distances and id pairs that training never saw"):
 * long addition alone with the per-column Sum scratchpad (`Sum,x+y+c=TD,…` units first, then
 * `Answer:`), 85% step by step, a quarter of the prompts with a sentence after the question,
 * 1–6 digits; on a model with abacus embeddings (McLeish et al. 2024; three id banks, training
 * offset 0–5, half the rows with stretched column ids) and randomized position ids over
 * [0, 576) (Ruoss et al. 2023). 2,400 steps of 8 × 256 from 110,000 conversations: 100% on
 * 3–6 digits and 84% on 7–8 digits step by step (91 and 77 of 100), 0% answered directly.
 */
export const ABACUS_MIXTURE: readonly MixtureEntry[] = [{ task: longAdditionAbacus, weight: 1, variant: { minDigits: 1, maxDigits: 6, mode: 'both', cotShare: 0.85, filler: 0.25, layout: 'sum', sumMarker: 'Sum,' } }];

/** AB5's model options for trainThinking's `model` (the tokenizer decides the digit tokens). */
export function abacusModel(tok: Tokenizer): Partial<GPTConfigInput> {
  return { randomPositions: 576, abacus: abacusConfigFor(tok, { maxOffset: 5, countdownIds: 'next', initStd: 0.1, sumMarker: 'Sum,', stretch: 0.5 }) };
}

/** The tree-of-thoughts model's families: the game of 24 alone (propose, value, solve). */
export const COUNTDOWN_MIXTURE: readonly MixtureEntry[] = [{ task: countdown, weight: 1 }];

/** The training conversations: each family's share of n, train split (the long arithmetic families in both modes, 1–maxDigits digits). */
export function thinkingConversations(n: number, seed: number, minDigits = 1, maxDigits = 6, mixture: readonly MixtureEntry[] = TECHNIQUE_MIXTURE): Array<{ task: string; conversation: Conversation }> {
  const total = mixture.reduce((s, m) => s + m.weight, 0);
  const out: Array<{ task: string; conversation: Conversation }> = [];
  for (const { task, weight, variant: given } of mixture) {
    const variant = given ?? (THINKING_TASKS.includes(task) ? { minDigits, maxDigits, mode: 'both' } : undefined);
    for (const ex of task.generate('train', Math.round((n * weight) / total), seed, { variant })) out.push({ task: task.name, conversation: ex.conversation });
  }
  return out;
}

/**
 * Render for training; the reflection family's first reply (a deliberately wrong answer half
 * the time) becomes context: its mask is cleared through its <|assistant_end|>.
 */
export function renderForTraining(tok: Tokenizer, task: string, conv: Conversation): RenderedConversation {
  const r = renderConversation(tok, conv);
  if (task !== reflection.name) return r;
  const end = r.ids.indexOf(tok.specialId('<|assistant_end|>'));
  const mask = r.mask.map((m, i) => (i <= end ? 0 : m));
  return { ids: r.ids, mask };
}

/** Train the tokens-to-think model into `dir` (see the interface). Resumes unless `resume: false`. */
export async function trainThinking(dir: string, o: ThinkingTrainOptions = {}): Promise<TrainResult & { tok: Tokenizer; model: GPT }> {
  const seed = o.seed ?? 1;
  const convs = thinkingConversations(o.examples ?? 30000, seed, o.minDigits ?? 1, o.maxDigits ?? 6, o.mixture);
  // the tokenizer learns on the conversations' text plus prompts with the longest operands, so 7–8 digit prompts tokenize the same way
  const texts = convs.filter((_, i) => i % 6 === 0).flatMap((c) => c.conversation.messages.map((m) => m.content));
  // a resumed run keeps its tokenizer (a continuation on another mixture would otherwise learn a different one)
  const resuming = (o.resume ?? true) && latestCheckpoint(join(dir, 'sft')) !== null && existsSync(join(dir, 'tokenizer.json'));
  const tok = resuming ? Tokenizer.load(join(dir, 'tokenizer.json')) : trainTokenizer(texts, { vocabSize: o.vocabSize ?? 384, pattern: 'gpt4-digits' });
  const T = o.seqLen ?? 256;
  const B = o.batchSize ?? 16;
  const cfg = makeConfig({ nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 384, position: 'rope', ...(typeof o.model === 'function' ? o.model(tok) : o.model), vocabSize: tok.vocabSize });
  if (T > cfg.blockSize) throw new GptforgeError(`seqLen ${T} exceeds the context ${cfg.blockSize}`, { field: 'seqLen' });
  const model = new GPT(cfg, { seed });
  const items = convs.map((c) => renderForTraining(tok, c.task, c.conversation));
  const fits = items.filter((it) => it.ids.length <= T + 1);
  if (fits.length < items.length * 0.99) throw new GptforgeError(`${items.length - fits.length} of ${items.length} conversations are longer than a row of ${T + 1} tokens: raise seqLen`, { field: 'seqLen' });
  const pad = tok.specialId('<|pad|>');
  const loader = new PackedLoader(fits, B, T, pad, seed);
  mkdirSync(dir, { recursive: true });
  atomicWriteFile(join(dir, 'tokenizer.json'), tok.toJSON());
  const steps = o.steps ?? 800;
  const train: TrainConfig = {
    maxSteps: steps,
    lr: o.lr ?? 3e-3,
    minLr: (o.lr ?? 3e-3) / 10,
    warmupSteps: Math.min(50, Math.floor(steps / 10)),
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    gradClip: 1,
    gradAccum: 1,
    evalEvery: 0,
    checkpointEvery: 100,
    keepLast: 1,
    logEvery: 10,
  };
  const result = await sft({ model, train: loader, val: new Map(), batchSize: B, seqLen: T, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash(), stage: 'sft' }, train, { runDir: dir, stageDir: join(dir, 'sft'), resume: o.resume ?? true, quiet: o.quiet, signal: o.signal });
  return { ...result, tok, model };
}

/** One cell of the tokens-to-think table. */
export interface ThinkingCell {
  task: string;
  digits: number;
  mode: 'direct' | 'cot';
  correct: number;
  total: number;
}

/**
 * Greedy accuracy of a model on the held-out split of each family, per operand length and
 * mode (the same problems asked directly and with the trigger). Rows are decoded `batch` at
 * a time (left-padded prompts, ChatEngine.repliesTo).
 */
export function evalThinking(model: DecodingModel, tok: Tokenizer, o: { digits: readonly number[]; perCell: number; tasks?: readonly SyntheticTask[]; maxTokens?: number; batch?: number; seed?: number; onCell?(c: ThinkingCell): void }): ThinkingCell[] {
  const engine = new ChatEngine(model, tok);
  const out: ThinkingCell[] = [];
  const batch = o.batch ?? 16;
  for (const task of o.tasks ?? THINKING_TASKS) {
    for (const d of o.digits) {
      const direct = task.generate('test', o.perCell, o.seed ?? 7, { variant: { minDigits: d, maxDigits: d, mode: 'direct' } });
      for (const mode of ['direct', 'cot'] as const) {
        const prompts = direct.map((e) => (mode === 'cot' ? `${e.prompt} ${THINK_TRIGGER}` : e.prompt));
        let correct = 0;
        for (let i = 0; i < prompts.length; i += batch) {
          const chunk = prompts.slice(i, i + batch);
          const replies = engine.repliesTo(
            chunk.map((p) => ({ messages: [{ role: 'user', content: p }] })),
            chunk.map(() => 1),
            { temperature: 0, maxTokens: o.maxTokens ?? (mode === 'cot' ? 320 : 24) },
          );
          replies.forEach((r, j) => {
            if (task.check(chunk[j], r.text)) correct++;
          });
        }
        const cell: ThinkingCell = { task: task.name, digits: d, mode, correct, total: prompts.length };
        o.onCell?.(cell);
        out.push(cell);
      }
    }
  }
  return out;
}

/**
 * A diagnostic of length generalisation: step-by-step accuracy when the scratchpad's first
 * line (the operands copied from the prompt, "4567012+8912345") is given — teacher-forced
 * after <|assistant_start|> — and the model writes the rest. Every later line reads only the
 * line above it, so this separates "the local steps run past the trained lengths" from "the
 * copy out of the prompt does". Greedy; long addition's held-out split.
 */
export function evalGivenFirstLine(model: DecodingModel, tok: Tokenizer, o: { digits: readonly number[]; perCell: number; seed?: number; batch?: number }): Array<{ digits: number; correct: number; total: number }> {
  const end = tok.specialId('<|assistant_end|>');
  const batch = o.batch ?? 16;
  return o.digits.map((d) => {
    const exs = longAddition.generate('test', o.perCell, o.seed ?? 7, { variant: { minDigits: d, maxDigits: d, mode: 'direct' } });
    let correct = 0;
    for (let i = 0; i < exs.length; i += batch) {
      const chunk = exs.slice(i, i + batch);
      const requests = chunk.map((e) => {
        const { a, b } = parseLong(e.prompt)!;
        const prompt = [...renderPrompt(tok, { messages: [{ role: 'user', content: `${e.prompt} ${THINK_TRIGGER}` }] }), ...tok.encode(`${a}+${b}\n`)];
        return { prompt, maxTokens: 320, temperature: 0, endIds: [end] };
      });
      decode(model, tok, requests, { padId: end }).forEach((r, j) => {
        if (longAddition.check(chunk[j].prompt, r.text)) correct++;
      });
    }
    return { digits: d, correct, total: exs.length };
  });
}

/** One operand length of the hinted-scratchpad diagnostic. */
export interface HintedDiagnosis {
  digits: number;
  total: number;
  /** The checked "Answer:" right. */
  correct: number;
  /** The "Sum:" line spells the right result (labels dropped) — what a label-aware reader would score. */
  sumCorrect: number;
  /** How many replies first go wrong at each step (firstWrongStep). */
  firstWrong: Record<HintedStep, number>;
  /** Of the 'column' errors: at which column (0 = units). */
  wrongColumn: number[];
  /** A few wrong replies, with their problem. */
  examples: string[];
  /** The diagnostic with both reads given (teacher-forced, start label = problem index mod 26): "Answer:" right, and the whole reply right. */
  givenReads: { correct: number; allRight: number };
}

/**
 * Where the index-hinted scratchpad goes wrong (longadd-hints.ts): greedy step-by-step replies
 * to held-out problems with `digits`-digit operands (both operands), each compared with the
 * right scratchpad for the start label the reply chose; then the same problems with the two
 * reads out of the prompt given (teacher-forced, like evalGivenFirstLine), which separates
 * "the read is length-bound" from "the steps after it are".
 */
export function diagnoseHinted(model: DecodingModel, tok: Tokenizer, o: { digits: readonly number[]; perCell: number; seed?: number; batch?: number; examples?: number }): HintedDiagnosis[] {
  const engine = new ChatEngine(model, tok);
  const batch = o.batch ?? 16;
  return o.digits.map((d) => {
    const exs = longAdditionHinted.generate('test', o.perCell, o.seed ?? 7, { variant: { minDigits: d, maxDigits: d, mode: 'cot' } });
    const r: HintedDiagnosis = { digits: d, total: exs.length, correct: 0, sumCorrect: 0, firstWrong: { A: 0, B: 0, column: 0, 'columns-end': 0, Sum: 0, Answer: 0, none: 0 }, wrongColumn: [], examples: [], givenReads: { correct: 0, allRight: 0 } };
    for (let i = 0; i < exs.length; i += batch) {
      const chunk = exs.slice(i, i + batch);
      const replies = engine.repliesTo(
        chunk.map((e) => ({ messages: [{ role: 'user', content: e.prompt }] })),
        chunk.map(() => 1),
        { temperature: 0, maxTokens: 360 },
      );
      replies.forEach((rep, j) => {
        const { a, b } = parseLong(chunk[j].prompt)!;
        if (longAdditionHinted.check(chunk[j].prompt, rep.text)) r.correct++;
        if (hintedSum(rep.text) === longResult(a, '+', b)) r.sumCorrect++;
        const w = firstWrongStep(rep.text, a, b);
        r.firstWrong[w.step]++;
        if (w.step === 'column') r.wrongColumn.push(w.column!);
        if (w.step !== 'none' && r.examples.length < (o.examples ?? 3)) r.examples.push(`${chunk[j].prompt}\n${rep.text}`);
      });
    }
    // the same problems with the two reads given: do the lookups by label and the columns run past 6 digits once the reads are right?
    const end = tok.specialId('<|assistant_end|>');
    for (let i = 0; i < exs.length; i += batch) {
      const chunk = exs.slice(i, i + batch);
      const heads = chunk.map((e, j) => {
        const { a, b } = parseLong(e.prompt)!;
        return (
          hintedScratchpad(a, b, (i + j) % HINT_LABELS.length)
            .split('\n')
            .slice(0, 2)
            .join('\n') + '\n'
        );
      });
      const requests = chunk.map((e, j) => ({ prompt: [...renderPrompt(tok, { messages: [{ role: 'user', content: e.prompt }] }), ...tok.encode(heads[j])], maxTokens: 320, temperature: 0, endIds: [end] }));
      decode(model, tok, requests, { padId: end }).forEach((rep, j) => {
        const { a, b } = parseLong(chunk[j].prompt)!;
        if (longAdditionHinted.check(chunk[j].prompt, rep.text)) r.givenReads.correct++;
        if (firstWrongStep(heads[j] + rep.text, a, b).step === 'none') r.givenReads.allRight++;
      });
    }
    return r;
  });
}
