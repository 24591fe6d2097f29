import { Rng } from '../engine/rng.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { completionText, rankingConversation, type Completion } from '../data/preferences.js';
import { rubricPrefers, rubricScore } from '../data/labelers.js';
import { taskByName } from '../data/synthetic/tasks.js';
import { ChatEngine } from '../infer/engine.js';
import { generateText } from '../infer/generate.js';
import type { ToolRegistry } from '../infer/tools/registry.js';
import { promptRepliesBatched } from '../train/comparisons.js';
import { scoreConversations } from '../train/reward.js';
import { fewShotPrompt, solvedExamples } from './tasks.js';
import { diversityReport, entropyOf, listItemStats, type DiversityReport } from './diversity.js';
import { barChartSVG, type BarGroup } from './chart.js';
import { GptforgeError } from '../util/errors.js';

/**
 * The talk's chart, measured: base vs SFT vs RLHF (and DPO, best-of-N) on held-out prompts.
 *
 * - mean RM reward of sampled replies (the quantity RL optimises);
 * - win rate against SFT, judged by the simulated labelers' rubric on fresh samples of both —
 *   never by the RM that was trained on (a policy can learn to please its RM without
 *   getting better: the rubric is the independent judge);
 * - task accuracy of the same samples (the checker);
 * - diversity over N samples per prompt: distinct-1/2, self-BLEU, mean per-token entropy,
 *   and distinct items named across samples of an open-ended list prompt (the talk's
 *   "Here are 100 animal names" — RLHF models repeat themselves, mode collapse).
 *
 * Best-of-N is the baseline RL has to beat: sample N SFT replies and keep the RM's favourite.
 * With the rubric picking instead of the RM ("oracle"), it is the ceiling: what a perfect
 * reward model would give, i.e. how much better than SFT its own samples can get at all.
 */
export interface Contender {
  name: string;
  kind: 'base' | 'chat';
  model: GPT;
  tok: Tokenizer;
  /** Sample N replies from this (chat) model and keep the one the RM scores highest … */
  bestOfN?: number;
  /** … or, with 'rubric', the one the judge itself scores highest: not a contender but the
   *  ceiling on what any reward model (and an RL policy that learnt best-of-N) could reach. */
  pickBy?: 'rm' | 'rubric';
}

export interface ComparePrompt {
  prompt: string;
  task?: string;
}

export interface CompareOptions {
  prompts: readonly ComparePrompt[];
  /** Prompts sampled N times for diversity (the list prompt among them). */
  diversityPrompts: readonly ComparePrompt[];
  /** The open-ended list prompt whose distinct items are counted. */
  listPrompt: string;
  samplesPerPrompt: number;
  rm: GPT;
  /** The reference contender (win rates are against it): its name. */
  reference: string;
  tools: ToolRegistry | null;
  temperature: number;
  maxTokens: number;
  fewShot: number;
  seed: number;
  onProgress?(done: number, total: number): void;
}

export interface CompareRow {
  name: string;
  rmReward: number;
  /** Against the reference, ties counted as half. */
  winRate: number;
  /** Half-width of the win rate's 95% interval (normal, over the prompts' outcomes 1, ½, 0). */
  winRateCi95: number;
  wins: number;
  ties: number;
  losses: number;
  accuracy: number;
  /** Mean rubric score. */
  rubric: number;
  diversity: DiversityReport;
  listItems: { distinct: number; perSample: number };
}

/**
 * n sampled replies to each prompt, prompt i's with seeds seeds[i], seeds[i] + 1, … (n = 1 is
 * exactly one reply with seeds[i]); entropies of the sampled tokens are pushed to `entropies`
 * when given; `tick` once per reply as they are done. A chat model samples several prompts'
 * replies together on one KV cache (each reply the tokens its seed gives alone, as far as the
 * logits agree at the two batch shapes); a base model completes its few-shot document n times.
 */
function sampleReplies(c: Contender, engine: ChatEngine | null, ps: readonly ComparePrompt[], seeds: readonly number[], n: number, o: CompareOptions, entropies: number[] | null, tick: () => void): Completion[][] {
  const onStep = entropies
    ? (logits: Float32Array): void => {
        entropies.push(entropyOf(logits, 1));
      }
    : undefined;
  if (c.kind === 'chat') {
    let ticked = 0;
    const onBatch = (done: number): void => {
      for (; ticked < done * n; ticked++) tick();
    };
    return promptRepliesBatched(
      engine!,
      ps.map((p) => p.prompt),
      n,
      seeds,
      { temperature: o.temperature, maxTokens: o.maxTokens, tools: o.tools, onStep },
      { onBatch }, // the default group: ⌊DECODE_BATCH_ROWS / n⌋ prompts × n replies a decode, as the comparisons
    ).map((rs) => rs.map((r) => ({ messages: r.messages })));
  }
  return ps.map((p, i) =>
    Array.from({ length: n }, (_, k) => {
      const r = baseSample(c, p, seeds[i] + k, o, onStep);
      tick();
      return r;
    }),
  );
}

/** A base model's sample: the fake-conversation document, with solved examples of the family when known. */
function baseSample(c: Contender, p: ComparePrompt, seed: number, o: CompareOptions, onStep: ((logits: Float32Array) => void) | undefined): Completion {
  const shots = p.task ? solvedExamples(taskByName(p.task), o.fewShot, seed) : [];
  const { ids, ...stops } = fewShotPrompt(c.tok, shots, p.prompt);
  return generateText(c.model, c.tok, ids, { maxTokens: o.maxTokens, temperature: o.temperature, seed, ...stops, onStep }).text.trim();
}

function rmScores(rm: GPT, tok: Tokenizer, prompts: readonly ComparePrompt[], replies: readonly Completion[]): number[] {
  return scoreConversations(
    rm,
    tok,
    replies.map((c, i) => rankingConversation(prompts[i].prompt, typeof c === 'string' && c.trim() === '' ? '…' : c)),
  );
}

/**
 * A win-rate tally over n prompts: `wins + ties + losses = n` (counts of prompts), `winRate` in
 * [0, 1] (the mean of the prompts' outcomes 1, ½, 0) and `winRateCi95`, the half-width of its 95%
 * interval in the same units (the interval is `winRate ± winRateCi95`).
 */
export interface WinTally {
  winRate: number;
  winRateCi95: number;
  wins: number;
  ties: number;
  losses: number;
}

/**
 * The win rate of `replies` against `refReplies` as the rubric judges them, the figure eval.md's
 * and compareModels' "win rate vs SFT" columns report.
 *
 * Shapes: three parallel lists of n — `prompts[i]` (its text and, when known, its task family,
 * which lets the rubric check correctness), `replies[i]` and `refReplies[i]` (a reply's text, or
 * its messages when it called a tool).
 *
 * The two-order rule: each pair is judged in both orders (A/B and B/A) and the two verdicts
 * averaged — AlpacaEval's and MT-Bench's handling of position (Zheng et al. 2023, "Judging
 * LLM-as-a-Judge"). The rubric judges by a score difference, so the two orders agree today;
 * judging both keeps a future order-sensitive judge from biasing the rate. Ties count ½: a
 * prompt's outcome is 1 (win), ½ (tie, or the orders disagree) or 0 (loss).
 *
 * The interval: the normal (Wald) 95% interval of a mean, 1.96 · s / √n, with s the sample
 * standard deviation of the n outcomes (central limit theorem; ties make the outcomes
 * three-valued, so a binomial interval does not apply as is). Two samplings of one policy read
 * 50% in expectation; a finite draw reads 50% ± `winRateCi95` (about ±10 points at 96 prompts),
 * which is why every win rate is reported beside the reference's own (SFT against its own fresh
 * samples: 59% and 52% in two runs, both within that interval). n = 1 gives a half-width of 0.
 * @example winTally([{ prompt: 'What is 2+2?', task: 'arithmetic' }], ['4'], ['5']) // { winRate: 1, wins: 1, ties: 0, losses: 0, winRateCi95: 0 }
 * @throws GptforgeError (field `replies`) when the three lists differ in length.
 */
export function winTally(prompts: readonly ComparePrompt[], replies: readonly Completion[], refReplies: readonly Completion[]): WinTally {
  if (replies.length !== prompts.length || refReplies.length !== prompts.length) throw new GptforgeError(`winTally: ${prompts.length} prompts, ${replies.length} replies, ${refReplies.length} reference replies: give one reply and one reference reply per prompt`, { field: 'replies' });
  let wins = 0;
  let ties = 0;
  let losses = 0;
  const outcomes = prompts.map((p, i) => {
    const v = (rubricPrefers(p.prompt, replies[i], refReplies[i], p.task) - rubricPrefers(p.prompt, refReplies[i], replies[i], p.task)) / 2;
    if (v > 0) wins++;
    else if (v < 0) losses++;
    else ties++;
    return (1 + v) / 2;
  });
  const n = Math.max(1, outcomes.length);
  const winRate = outcomes.reduce((a, x) => a + x, 0) / n;
  const variance = outcomes.reduce((a, x) => a + (x - winRate) ** 2, 0) / Math.max(1, n - 1);
  return { winRate, winRateCi95: 1.96 * Math.sqrt(variance / n), wins, ties, losses };
}

export function compareModels(contenders: readonly Contender[], o: CompareOptions): CompareRow[] {
  const ref = contenders.find((c) => c.name === o.reference);
  if (!ref) throw new Error(`compareModels: no contender named ${o.reference}`);
  const engines = new Map(contenders.filter((c) => c.kind === 'chat').map((c) => [c, new ChatEngine(c.model, c.tok)]));
  const total = o.prompts.length + contenders.reduce((n, c) => n + o.prompts.length * (c.bestOfN ?? 1) + o.diversityPrompts.length * o.samplesPerPrompt, 0);
  let done = 0;
  const tick = (): void => o.onProgress?.(++done, total);
  const rng = new Rng(o.seed);
  const seeds = o.prompts.map(() => rng.nextU32());
  const diversityByModel = new Map<GPT, { diversity: DiversityReport; list: { distinct: number; perSample: number } }>();
  // the reference's own samples for the win-rate comparisons: a separate seed stream
  const refReplies = sampleReplies(
    ref,
    engines.get(ref) ?? null,
    o.prompts,
    seeds.map((s) => s ^ 0x5bd1e995),
    1,
    o,
    null,
    tick,
  ).map(([r]) => r);

  return contenders.map((c) => {
    const engine = engines.get(c) ?? null;
    let replies: Completion[];
    if (c.bestOfN && c.bestOfN > 1) {
      replies = sampleReplies(c, engine, o.prompts, seeds, c.bestOfN, o, null, tick).map((cands, i) => {
        const p = o.prompts[i];
        const scores =
          c.pickBy === 'rubric'
            ? cands.map((x) => rubricScore(p.prompt, x, p.task).score)
            : rmScores(
                o.rm,
                c.tok,
                cands.map(() => p),
                cands,
              );
        return cands[scores.indexOf(Math.max(...scores))];
      });
    } else {
      replies = sampleReplies(c, engine, o.prompts, seeds, 1, o, null, tick).map(([r]) => r);
    }
    const rewards = rmScores(o.rm, c.tok, o.prompts, replies);
    const tally = winTally(o.prompts, replies, refReplies);
    let correct = 0;
    let rubric = 0;
    o.prompts.forEach((p, i) => {
      const s = rubricScore(p.prompt, replies[i], p.task);
      if (s.correct) correct++;
      rubric += s.score;
    });
    // diversity: the same samples for every contender sharing a model (SFT and its best-of-N rows)
    let div = diversityByModel.get(c.model);
    if (div) for (let i = 0; i < o.diversityPrompts.length * o.samplesPerPrompt; i++) tick();
    else diversityByModel.set(c.model, (div = diversityOf(c, engine, o, tick)));
    const { diversity, list } = div;
    const n = o.prompts.length;
    return { name: c.name, rmReward: rewards.reduce((s, x) => s + x, 0) / n, ...tally, accuracy: correct / n, rubric: rubric / n, diversity, listItems: list };
  });
}

/** N samples per diversity prompt: distinct-n, self-BLEU and entropy averaged over the prompts, and the list prompt's items. */
function diversityOf(c: Contender, engine: ChatEngine | null, o: CompareOptions, tick: () => void): { diversity: DiversityReport; list: { distinct: number; perSample: number } } {
  const divEntropies: number[] = [];
  const perPrompt: DiversityReport[] = [];
  let list = { distinct: 0, perSample: 0 };
  const all = sampleReplies(
    c,
    engine,
    o.diversityPrompts,
    o.diversityPrompts.map(() => o.seed + 17),
    o.samplesPerPrompt,
    o,
    divEntropies,
    tick,
  );
  for (const [pi, p] of o.diversityPrompts.entries()) {
    const samples = all[pi].map(completionText);
    perPrompt.push(diversityReport(samples, []));
    if (p.prompt === o.listPrompt) {
      const st = listItemStats(samples);
      list = { distinct: st.distinct, perSample: st.perSample.reduce((s, x) => s + x, 0) / Math.max(1, st.perSample.length) };
    }
  }
  const avg = (f: (d: DiversityReport) => number): number => perPrompt.reduce((s, d) => s + f(d), 0) / Math.max(1, perPrompt.length);
  const diversity: DiversityReport = {
    samples: perPrompt.reduce((s, d) => s + d.samples, 0),
    distinct1: avg((d) => d.distinct1),
    distinct2: avg((d) => d.distinct2),
    selfBleu: avg((d) => d.selfBleu),
    meanEntropy: divEntropies.length ? divEntropies.reduce((s, x) => s + x, 0) / divEntropies.length : NaN,
    uniqueSamples: avg((d) => d.uniqueSamples),
  };
  return { diversity, list };
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—');
const num = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '—');

export function compareMarkdown(rows: readonly CompareRow[], o: Pick<CompareOptions, 'reference' | 'samplesPerPrompt' | 'temperature' | 'listPrompt'> & { prompts: number }): string {
  const lines = [
    '## Base vs SFT vs RLHF — quality and diversity',
    '',
    `| model | mean RM reward | win rate vs ${o.reference} (rubric) | task accuracy (sampled) | rubric score | distinct-1 | distinct-2 | self-BLEU ↓ | entropy (nats/token) | distinct list items |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${num(r.rmReward)} | ${pct(r.winRate)} ± ${Number.isFinite(r.winRateCi95) ? (100 * r.winRateCi95).toFixed(0) : '—'} (${r.wins}–${r.ties}–${r.losses}) | ${pct(r.accuracy)} | ${num(r.rubric)} | ${num(r.diversity.distinct1)} | ${num(r.diversity.distinct2)} | ${num(r.diversity.selfBleu)} | ${num(r.diversity.meanEntropy)} | ${r.listItems.distinct} |`,
    ),
    '',
    `${o.prompts} held-out prompts, one sample each at temperature ${o.temperature}; win rates judged by the simulated labelers' rubric against fresh ${o.reference} samples (wins–ties–losses; each pair judged in both orders, ties as ½; ± the 95% interval), never by the reward model. The ${o.reference} row is the self-baseline: ${o.reference} against its own fresh samples, 50% in expectation; read the others beside it. "best-of-N" keeps the RM's favourite of N samples; "oracle best-of-N" keeps the rubric's own favourite — judged by the same rubric, it is not a contender but the ceiling a perfect reward model would give. Diversity: ${o.samplesPerPrompt} samples per prompt; "distinct list items" counts the different items named across the samples of "${o.listPrompt}".`,
  ];
  return lines.join('\n');
}

export function compareChart(rows: readonly CompareRow[], reference: string): string {
  const groups: BarGroup[] = [
    { label: `win rate vs ${reference}`, values: rows.map((r) => ({ series: r.name, value: r.winRate })) },
    { label: 'task accuracy', values: rows.map((r) => ({ series: r.name, value: r.accuracy })) },
    { label: 'distinct-2', values: rows.map((r) => ({ series: r.name, value: r.diversity.distinct2 })) },
    { label: 'self-BLEU', values: rows.map((r) => ({ series: r.name, value: r.diversity.selfBleu })) },
  ];
  return barChartSVG(groups, { title: 'Base vs SFT vs RLHF: quality (left) and diversity (right)', percent: true, yMax: 1 });
}
