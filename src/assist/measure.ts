import { longAddition } from '../data/synthetic/longarith.js';
import { countdown, numbersOf, reaches24, solve, solvePrompt } from '../data/synthetic/countdown.js';
import { FEEDBACK_SOURCES, type FeedbackSource } from '../data/synthetic/reflect.js';
import { OUT_OF_DISTRIBUTION, SKILL_PROMPTS, skillLevels } from '../data/synthetic/skill.js';
import type { SyntheticTask } from '../data/synthetic/task.js';
import { ChatEngine, type DecodingModel } from '../infer/engine.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { selfConsistency } from './consistency.js';
import { additionTaskFor } from './consistency-curve.js';
import { reflect } from './reflect.js';
import { treeOfThoughts } from './tot.js';
import { calculatorChains } from './calc-chain.js';
import { rewardValue, type ValueModel } from './tot-value.js';

/**
 * The measurements of docs/techniques.md, one function per technique; each asks held-out
 * problems of a family and scores the answers with the family's checker. Greedy unless the
 * technique samples. bench/techniques.ts runs them and writes the tables.
 */

/** Self-consistency at one k. */
export interface ConsistencyRow {
  k: number;
  /** Majority vote correct. */
  majority: number;
  /** Log-probability-weighted vote correct. */
  logprob: number;
  /** Some sample correct: the checker's pick, the ceiling of any vote or verifier. */
  oracle: number;
  total: number;
  /** Wall time for all problems, ms (sampling + voting). */
  ms: number;
  /** Tokens sampled for all problems. */
  tokens: number;
  /** Token positions run through the model for all problems (prompt + decoded rows): the compute, free of the machine's load. */
  positions?: number;
  /** CPU time of this process for all problems, ms (user + system; less disturbed than wall time by other jobs on a shared machine; with one thread, the work done). */
  cpuMs?: number;
  /** Paired against the greedy row (not on the greedy row itself): problems the majority vote gets right and greedy wrong, and the reverse. */
  majorityWins?: number;
  majorityLosses?: number;
}

/**
 * Accuracy and wall time of self-consistency against k on `problems` held-out step-by-step
 * prompts of `task` with `digits`-digit operands; the greedy step-by-step reply as the
 * baseline (k = 0 in the result). Each k is a fresh run (its samples are the first k of any
 * larger k's: seeds seed … seed + k − 1), so its wall time is its own; an untimed greedy
 * pass over the problems first warms the code up, so the baseline does not pay for it. The task
 * defaults to additionTaskFor(model) (the abacus family for an abacus model); `positionGroups`
 * and `historyStreams` are selfConsistency's (groups capped at k; the greedy row is one
 * prefill, one stream). `share: false` decodes
 * every sample as its own row (no shared histories: the cost without that saving).
 */
export function measureConsistency(
  model: DecodingModel,
  tok: Tokenizer,
  o: { task?: SyntheticTask; digits: number; problems: number; ks: readonly number[]; temperature?: number; maxTokens?: number; seed?: number; share?: boolean; positionGroups?: number; historyStreams?: number },
): { greedy: ConsistencyRow; rows: ConsistencyRow[] } {
  const task = o.task ?? additionTaskFor(model);
  let positions = 0;
  const counting: DecodingModel = {
    config: model.config,
    createCache: (batch) => model.createCache(batch),
    nextLogits: (ids, cache, rows) => ((positions += ids.length), model.nextLogits(ids, cache, rows)),
  };
  const engine = new ChatEngine(counting, tok);
  const prompts = task.generate('test', o.problems, o.seed ?? 11, { variant: { minDigits: o.digits, maxDigits: o.digits, mode: 'cot' } }).map((e) => e.prompt);
  const maxTokens = o.maxTokens ?? 320;
  for (const prompt of prompts) engine.reply({ messages: [{ role: 'user', content: prompt }] }, { temperature: 0, maxTokens });
  const greedyRight: boolean[] = [];
  const run = (k: number, greedy: boolean): ConsistencyRow => {
    const row: ConsistencyRow = { k: greedy ? 0 : k, majority: 0, logprob: 0, oracle: 0, total: prompts.length, ms: 0, tokens: 0, ...(greedy ? {} : { majorityWins: 0, majorityLosses: 0 }) };
    positions = 0;
    const cpu0 = process.cpuUsage();
    for (const [i, prompt] of prompts.entries()) {
      // positionGroups ≤ k: k = 1 and greedy are one prefill whatever the setting
      const sc = selfConsistency(engine, { messages: [{ role: 'user', content: prompt }] }, { k, temperature: greedy ? 0 : (o.temperature ?? 0.7), seed: 1, maxTokens, shareHistories: o.share ?? true, positionGroups: greedy ? 1 : Math.min(k, o.positionGroups ?? 1), historyStreams: greedy ? 1 : o.historyStreams });
      row.ms += sc.ms;
      row.tokens += sc.samples.reduce((s, x) => s + x.tokens, 0);
      const ok = (a: string | undefined): boolean => a !== undefined && task.check(prompt, `Answer: ${a}`);
      const m = ok(sc.majority.answer);
      if (m) row.majority++;
      if (greedy) greedyRight[i] = m;
      else if (m !== greedyRight[i]) m ? row.majorityWins!++ : row.majorityLosses!++;
      if (ok(sc.logprob.answer)) row.logprob++;
      if (sc.samples.some((s) => ok(s.answer))) row.oracle++;
    }
    row.positions = positions;
    const cpu = process.cpuUsage(cpu0);
    row.cpuMs = (cpu.user + cpu.system) / 1000;
    return row;
  };
  const greedy = run(1, true);
  return { greedy, rows: o.ks.map((k) => run(k, false)) };
}

/** Ask for success: accuracy per system prompt condition. */
export interface SkillRow {
  condition: 'expert' | 'none' | 'novice' | 'out-of-distribution';
  system: string | undefined;
  correct: number;
  /** Of the problems with at least one carry (where the levels differ). */
  carryCorrect: number;
  carryTotal: number;
  total: number;
  /** Answered directly (default) or step by step (the prompt ends with the trigger). */
  mode?: 'direct' | 'cot';
}

/** The skill-levels family's held-out problems asked under each condition (first phrasing of each level), greedy; `mode: 'cot'` asks them step by step. */
export function measureSkill(model: DecodingModel, tok: Tokenizer, o: { problems: number; minDigits?: number; maxDigits?: number; seed?: number; mode?: 'direct' | 'cot' }): SkillRow[] {
  const engine = new ChatEngine(model, tok);
  const mode = o.mode ?? 'direct';
  const exs = skillLevels.generate('test', o.problems, o.seed ?? 13, { variant: { minDigits: o.minDigits ?? 2, maxDigits: o.maxDigits ?? 4, mode } });
  const hasCarry = (prompt: string): boolean => {
    const [a, b] = prompt.match(/\d+/g)!;
    const n = Math.max(a.length, b.length);
    const x = a.padStart(n, '0');
    const y = b.padStart(n, '0');
    // the first carry can only come from a column summing to 10 or more without one
    for (let i = 0; i < n; i++) if (Number(x[i]) + Number(y[i]) >= 10) return true;
    return false;
  };
  const conditions: Array<[SkillRow['condition'], string | undefined]> = [
    ['expert', SKILL_PROMPTS.expert[0]],
    ['none', undefined],
    ['novice', SKILL_PROMPTS.novice[0]],
    ['out-of-distribution', OUT_OF_DISTRIBUTION],
  ];
  return conditions.map(([condition, system]) => {
    const row: SkillRow = { condition, system, correct: 0, carryCorrect: 0, carryTotal: 0, total: exs.length, mode };
    const replies = engine.repliesTo(
      exs.map((e) => ({ messages: [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user' as const, content: e.prompt }] })),
      exs.map(() => 1),
      { temperature: 0, maxTokens: mode === 'cot' ? 160 : 32 },
    );
    replies.forEach((r, i) => {
      const ok = skillLevels.check(exs[i].prompt, r.text);
      const carry = hasCarry(exs[i].prompt);
      if (ok) row.correct++;
      if (carry) {
        row.carryTotal++;
        if (ok) row.carryCorrect++;
      }
    });
    return row;
  });
}

/** Reflection: accuracy of the first answer and after each round, per feedback source. */
export interface ReflectRow {
  source: FeedbackSource;
  /** Correct after round r (index 0: the first, direct answer). */
  correct: number[];
  total: number;
  /** Reviews that turned a right answer wrong. */
  broke: number;
  tokens: number;
  ms: number;
}

/**
 * Direct answers to held-out additions, then up to `rounds` reviews per feedback source; the
 * verdict source's verifier is the family's checker (an oracle verdict).
 */
export function measureReflection(model: DecodingModel, tok: Tokenizer, o: { problems: number; digits: number; rounds?: number; seed?: number }): ReflectRow[] {
  const engine = new ChatEngine(model, tok);
  const rounds = o.rounds ?? 2;
  const prompts = longAddition.generate('test', o.problems, o.seed ?? 17, { variant: { minDigits: o.digits, maxDigits: o.digits, mode: 'direct' } }).map((e) => e.prompt);
  const ok = (prompt: string, a: string | undefined): boolean => a !== undefined && longAddition.check(prompt, `Answer: ${a}`);
  return FEEDBACK_SOURCES.map((source) => {
    const row: ReflectRow = { source, correct: new Array<number>(rounds + 1).fill(0), total: prompts.length, broke: 0, tokens: 0, ms: 0 };
    for (const prompt of prompts) {
      const t = reflect(engine, prompt, { source, rounds, verify: (q, a) => longAddition.check(q, a) });
      row.tokens += t.tokens;
      row.ms += t.ms;
      let prev = ok(prompt, t.initial);
      for (let r = 0; r <= rounds; r++) {
        const a = r === 0 ? t.initial : (t.rounds[Math.min(r, t.rounds.length) - 1]?.answer ?? t.initial);
        const now = ok(prompt, a);
        if (now) row.correct[r]++;
        if (r > 0 && prev && !now) row.broke++;
        prev = now;
      }
    }
    return row;
  });
}

/** Tree of thoughts vs one chain of thought vs k sampled chains at about the same tokens, on held-out solvable games of 24. */
export interface TotResult {
  problems: number;
  /** Greedy single-path chain of thought that reaches 24. */
  cot: number;
  cotTokens: number;
  /** Tree of thoughts solved (the model's own values choose the path; no checker). */
  tot: number;
  totTokens: number;
  /** Tree of thoughts with calculator-checked thoughts (TotOptions.toolResults). */
  totTool?: number;
  totToolTokens?: number;
  /** The same with exact values (the solver: 1 if the state can still reach 24, else 0) — the ceiling of any value function on these proposals. */
  totExact?: number;
  totExactTokens?: number;
  /** Calculator-checked thoughts valued by a learned value model (tot-value.ts; nothing pruned, the `breadth` best kept). */
  totLearned?: number;
  totLearnedTokens?: number;
  /** Sequences the value model scored (forward passes of ~30 tokens, not sampled tokens). */
  totLearnedScored?: number;
  /** k samples (T = 0.7) with about ToT's tokens (the learned-value search's when measured, else the model's own values'): some sample reaches 24 (the checker's pick, a ceiling). */
  k: number;
  sampled: number;
  sampledTokens: number;
  /** The first of those samples alone: one sampled chain of thought. */
  sampledOne?: number;
  /** Chains with calculator-checked steps (calc-chain.ts), the single chain's counterpart of the tree's calculator: greedy, k sampled (some right), the first of them. */
  cotCalc?: number;
  cotCalcTokens?: number;
  sampledCalc?: number;
  sampledCalcTokens?: number;
  sampledOneCalc?: number;
  ms: { cot: number; tot: number; sampled: number; totTool?: number; totLearned?: number };
}

/**
 * `problems` held-out solvable puzzles (the first ones the family's test-split generator draws;
 * 133 exist): one greedy chain, the tree with the model's own values, with calculator-checked
 * thoughts, with exact values, with `valueModel`'s values when given, and k sampled chains.
 */
export function measureTot(model: DecodingModel, tok: Tokenizer, o: { problems: number; breadth?: number; proposals?: number; seed?: number; valueModel?: ValueModel & { threshold?: number } }): TotResult {
  const engine = new ChatEngine(model, tok);
  const puzzles: number[][] = [];
  for (const e of countdown.generate('test', o.problems * 40, o.seed ?? 19, { variant: { kind: 'solve' } })) {
    const nums = numbersOf(e.prompt)!;
    if (!puzzles.some((p) => p.join() === nums.join())) puzzles.push(nums);
    if (puzzles.length === o.problems) break;
  }
  const r: TotResult = { problems: puzzles.length, cot: 0, cotTokens: 0, tot: 0, totTokens: 0, k: 1, sampled: 0, sampledTokens: 0, ms: { cot: 0, tot: 0, sampled: 0 } };
  let t = performance.now();
  for (const nums of puzzles) {
    const reply = engine.reply({ messages: [{ role: 'user', content: solvePrompt(nums) }] }, { temperature: 0, maxTokens: 96, onStep: () => r.cotTokens++ });
    if (reaches24(nums, reply.text)) r.cot++;
  }
  r.ms.cot = performance.now() - t;
  t = performance.now();
  for (const nums of puzzles) {
    const trace = treeOfThoughts(engine, nums, { breadth: o.breadth, proposals: o.proposals });
    r.totTokens += trace.tokens;
    if (trace.solved) r.tot++;
  }
  r.ms.tot = performance.now() - t;
  t = performance.now();
  r.totTool = 0;
  r.totToolTokens = 0;
  for (const nums of puzzles) {
    const trace = treeOfThoughts(engine, nums, { breadth: o.breadth, proposals: o.proposals, toolResults: true });
    r.totToolTokens += trace.tokens;
    if (trace.solved) r.totTool++;
  }
  r.ms.totTool = performance.now() - t;
  r.totExact = 0;
  r.totExactTokens = 0;
  for (const nums of puzzles) {
    const trace = treeOfThoughts(engine, nums, { breadth: o.breadth, proposals: o.proposals, toolResults: true, value: (states) => states.map((s) => (solve(s) ? 1 : 0)) });
    r.totExactTokens += trace.tokens;
    if (trace.solved) r.totExact++;
  }
  let budget = r.totTokens;
  if (o.valueModel) {
    t = performance.now();
    r.totLearned = 0;
    r.totLearnedTokens = 0;
    r.totLearnedScored = 0;
    const learned = rewardValue(o.valueModel, o.valueModel.threshold);
    for (const nums of puzzles) {
      const trace = treeOfThoughts(engine, nums, {
        breadth: o.breadth,
        proposals: o.proposals,
        toolResults: true,
        likely: 0,
        value: (states, context) => {
          r.totLearnedScored! += states.length;
          return learned(states, context);
        },
      });
      r.totLearnedTokens += trace.tokens;
      if (trace.solved) r.totLearned++;
    }
    r.ms.totLearned = performance.now() - t;
    budget = r.totLearnedTokens;
  }
  r.k = Math.max(1, Math.min(64, Math.round(budget / Math.max(1, r.cotTokens))));
  r.sampledOne = 0;
  t = performance.now();
  for (const nums of puzzles) {
    const sc = selfConsistency(engine, { messages: [{ role: 'user', content: solvePrompt(nums) }] }, { k: r.k, temperature: 0.7, maxTokens: 96 });
    r.sampledTokens += sc.samples.reduce((s, x) => s + x.tokens, 0);
    if (sc.samples.some((x) => reaches24(nums, x.text))) r.sampled++;
    if (reaches24(nums, sc.samples[0].text)) r.sampledOne++;
  }
  r.ms.sampled = performance.now() - t;
  r.cotCalc = 0;
  r.cotCalcTokens = 0;
  r.sampledCalc = 0;
  r.sampledCalcTokens = 0;
  r.sampledOneCalc = 0;
  for (const nums of puzzles) {
    const greedy = calculatorChains(model, tok, nums);
    r.cotCalcTokens += greedy.tokens;
    if (greedy.chains[0].solved) r.cotCalc++;
    const sampled = calculatorChains(model, tok, nums, { k: r.k, temperature: 0.7 });
    r.sampledCalcTokens += sampled.tokens;
    if (sampled.chains.some((c) => c.solved)) r.sampledCalc++;
    if (sampled.chains[0].solved) r.sampledOneCalc++;
  }
  return r;
}
