import { longAdditionAbacus } from '../data/synthetic/longadd-abacus.js';
import { longAddition } from '../data/synthetic/longarith.js';
import type { SyntheticTask } from '../data/synthetic/task.js';
import { ChatEngine, type DecodingModel } from '../infer/engine.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { selfConsistency } from './consistency.js';
import { bestOf, softmaxWeights, vote } from './vote.js';

/**
 * Self-consistency's accuracy against k for one sampling setting, from ONE draw of k_max
 * samples per problem: the vote at k reads the first k samples (seeds seed … seed + k − 1,
 * the samples a fresh k-sample run draws), so a curve costs one k_max run instead of one run
 * per k. Accuracy only: measure.ts's measureConsistency times each k on its own.
 *
 * Votes per k: majority, log-probability-weighted (Wang et al. 2022), and with a reward
 * model (a verifier, Cobbe et al. 2021) the RM-weighted vote (softmax of the scores) and the
 * RM's best-of-k; the checker's pick (some sample right) is the ceiling of every one of them.
 */

/** A sampling setting of the sweep (src/infer/processors.ts's warpers). */
export interface SamplingSetting {
  temperature: number;
  topP?: number;
  minP?: number;
  topK?: number;
}

/** What one problem's k_max samples gave; enough to recompute every vote at every k. */
export interface CurveProblem {
  prompt: string;
  /** The greedy step-by-step reply is right. */
  greedy: boolean;
  /** Each sample's extracted answer (undefined: none). */
  answers: (string | undefined)[];
  /** Each sample's answer is right (the family's checker). */
  right: boolean[];
  /** Each sample's mean token log-probability (the logprob vote's score). */
  meanLogprob: number[];
  /** Each sample's reward-model score, when a reward model was given. */
  reward?: number[];
}

/** Correct counts at one k over the problems. */
export interface CurveRow {
  k: number;
  majority: number;
  logprob: number;
  /** RM-weighted vote (softmax of the scores of the first k samples). */
  reward?: number;
  /** RM best-of-k: the top-scored sample's answer. */
  rewardBest?: number;
  /** Some sample right: the checker's pick. */
  oracle: number;
  /** Paired against greedy: problems where the majority vote is right and greedy wrong (wins), and the reverse (losses). */
  majorityWins: number;
  majorityLosses: number;
  /** Mean over problems of the share of the first k samples that are right (a single sample's accuracy). */
  sampleAccuracy: number;
  total: number;
}

export interface ConsistencyCurve {
  digits: number;
  sampling: SamplingSetting;
  kMax: number;
  problems: number;
  /** The greedy step-by-step reply right. */
  greedy: number;
  rows: CurveRow[];
  /** CPU time of the sampling (and RM scoring), ms. */
  cpuMs: number;
  perProblem: CurveProblem[];
}

/**
 * The vote rows at each k from per-problem samples (pure: the same data, other ks, no
 * resampling). A vote is right when its winning answer is right — the answer of the first
 * sample that gave it (one answer, one verdict).
 *
 * @throws GptforgeError when a k exceeds a problem's sample count.
 */
export function curveRows(problems: readonly CurveProblem[], ks: readonly number[]): CurveRow[] {
  return ks.map((k) => {
    const row: CurveRow = { k, majority: 0, logprob: 0, oracle: 0, majorityWins: 0, majorityLosses: 0, sampleAccuracy: 0, total: problems.length };
    const hasReward = problems.length > 0 && problems.every((p) => p.reward !== undefined);
    if (hasReward) {
      row.reward = 0;
      row.rewardBest = 0;
    }
    for (const p of problems) {
      if (!Number.isInteger(k) || k < 1 || k > p.answers.length) throw new GptforgeError(`curveRows: k = ${k} but a problem has ${p.answers.length} samples`, { field: 'ks' });
      const answers = p.answers.slice(0, k);
      const right = (answer: string | undefined): boolean => answer !== undefined && p.right[answers.indexOf(answer)];
      const m = right(vote(answers).answer);
      if (m) row.majority++;
      if (m && !p.greedy) row.majorityWins++;
      if (!m && p.greedy) row.majorityLosses++;
      if (right(vote(answers, softmaxWeights(p.meanLogprob.slice(0, k))).answer)) row.logprob++;
      if (hasReward) {
        const scores = p.reward!.slice(0, k);
        if (right(vote(answers, softmaxWeights(scores)).answer)) row.reward!++;
        if (right(bestOf(answers, scores).answer)) row.rewardBest!++;
      }
      if (p.right.slice(0, k).some(Boolean)) row.oracle++;
      row.sampleAccuracy += p.right.slice(0, k).filter(Boolean).length / k / problems.length;
    }
    return row;
  });
}

/**
 * Exact two-sided sign test (McNemar's exact test on the discordant pairs): the probability,
 * under "wins and losses equally likely", of a split at least as uneven as `wins`/`losses`;
 * min(1, 2 · P[X ≤ min(w, l)]) with X ~ Binomial(w + l, 1/2). 1 when there is no discordant pair.
 *
 * @throws GptforgeError for a negative or fractional count.
 */
export function signTestP(wins: number, losses: number): number {
  if (![wins, losses].every((x) => Number.isInteger(x) && x >= 0)) throw new GptforgeError(`signTestP: counts must be whole numbers ≥ 0, got ${wins} and ${losses}`);
  const n = wins + losses;
  const lo = Math.min(wins, losses);
  // P[X ≤ lo] summed in log space: n can be in the hundreds
  let logC = 0; // log C(n, 0)
  let tail = 0;
  for (let i = 0; i <= lo; i++) {
    if (i > 0) logC += Math.log(n - i + 1) - Math.log(i);
    tail += Math.exp(logC - n * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}

/**
 * The long-addition family a model answers step by step: long-addition-abacus (the natural
 * question, the carry or Sum-line scratchpad) for a model with abacus embeddings
 * (config.abacus, models AB1–AB6), else long-addition (model A's scratchpad).
 */
export function additionTaskFor(model: DecodingModel): SyntheticTask {
  return model.config.abacus ? longAdditionAbacus : longAddition;
}

/**
 * Held-out step-by-step prompts of `task` (default additionTaskFor(model)) with `digits`-digit operands (the same problems
 * measureConsistency asks: test split, seed 11 by default), the greedy reply of each, then
 * k_max samples per problem at `sampling` on one shared prefill with shared histories, each
 * scored by `rewardModel` when given; the rows at `ks` (default 1, 2, 4, 8, 16).
 */
export function measureConsistencyCurve(
  model: DecodingModel,
  tok: Tokenizer,
  o: {
    task?: SyntheticTask;
    digits: number;
    problems: number;
    sampling: SamplingSetting;
    ks?: readonly number[];
    seed?: number;
    promptSeed?: number;
    maxTokens?: number;
    rewardModel?: { model: GPT; tok: Tokenizer };
    /** selfConsistency's positionGroups (default 1), shareHistories (default true) and historyStreams (default 1). */
    positionGroups?: number;
    shareHistories?: boolean;
    historyStreams?: number;
    onProblem?(done: number): void;
  },
): ConsistencyCurve {
  const task = o.task ?? additionTaskFor(model);
  const ks = o.ks ?? [1, 2, 4, 8, 16];
  const kMax = Math.max(...ks);
  const engine = new ChatEngine(model, tok);
  const prompts = task.generate('test', o.problems, o.promptSeed ?? 11, { variant: { minDigits: o.digits, maxDigits: o.digits, mode: 'cot' } }).map((e) => e.prompt);
  const maxTokens = o.maxTokens ?? 320;
  const cpu0 = process.cpuUsage();
  const perProblem: CurveProblem[] = prompts.map((prompt, i) => {
    const conv = { messages: [{ role: 'user' as const, content: prompt }] };
    const greedy = task.check(prompt, engine.reply(conv, { temperature: 0, maxTokens }).text);
    const sc = selfConsistency(engine, conv, { k: kMax, ...o.sampling, seed: o.seed ?? 1, maxTokens, rewardModel: o.rewardModel, positionGroups: o.positionGroups, shareHistories: o.shareHistories ?? true, historyStreams: o.historyStreams });
    o.onProblem?.(i + 1);
    return {
      prompt,
      greedy,
      answers: sc.samples.map((s) => s.answer),
      right: sc.samples.map((s) => s.answer !== undefined && task.check(prompt, `Answer: ${s.answer}`)),
      meanLogprob: sc.samples.map((s) => s.meanLogprob),
      ...(o.rewardModel ? { reward: sc.samples.map((s) => s.reward!) } : {}),
    };
  });
  const cpu = process.cpuUsage(cpu0);
  return { digits: o.digits, sampling: o.sampling, kMax, problems: prompts.length, greedy: perProblem.filter((p) => p.greedy).length, rows: curveRows(perProblem, ks), cpuMs: (cpu.user + cpu.system) / 1000, perProblem };
}
