import { copyFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { labelledChildren, loadValueModel, puzzlesOf, rewardValue, valueAccuracy, valueRankings } from '../src/assist/tot-value.js';
import { treeOfThoughts } from '../src/assist/tot.js';
import { calculatorChains } from '../src/assist/calc-chain.js';
import { countdown, numbersOf, reaches24, solve, solvePrompt } from '../src/data/synthetic/countdown.js';
import { ChatEngine } from '../src/infer/engine.js';
import { loadModel } from '../src/run/models.js';
import { atomicWriteFile } from '../src/util/atomic.js';
import { GptforgeError } from '../src/util/errors.js';
import type { BenchSubcommand } from './args.js';

/**
 * Tree of thoughts' learned value (docs/journal/techniques.md, "Tree of thoughts: the game of 24");
 * bench/techniques.ts dispatches here:
 *
 *   node dist/bench/techniques.js tot-value-data <countdownDir> <runDir>
 *     the value model's rankings from the train-split puzzles (solvable children above
 *     unsolvable siblings, labelled by the solver) → <runDir>/value-rankings.jsonl, with the
 *     game-of-24 model as <runDir>'s "sft" stage and an rm preset (VALUE_STEPS steps, default
 *     1500); then: gptforge rm --run <runDir> --rankings <runDir>/value-rankings.jsonl
 *   node dist/bench/techniques.js tot-value-eval <runDir>
 *     its accuracy on solvable/unsolvable child states: the threshold chosen on train-split
 *     states, then held out on the test split's (all, and those whose parent is not a
 *     training parent) → <runDir>/tot-value.json (the threshold `gptforge ask --value` reads)
 *   node dist/bench/techniques.js tot-value-paired <countdownDir> <runDir> [n]
 *     per puzzle, on the first n (default 133: all) held-out solvable puzzles: one greedy chain,
 *     the search with the learned value (ranking only, and pruning below P(sure) 0.3 as the
 *     model's own values do), with exact values; which puzzles each solves, the overlaps, and
 *     an exact sign test (McNemar) of the learned-value search against the chain; then the
 *     greedy chain with calculator-checked steps and k of them sampled at the learned search's
 *     tokens (TOT_PROPOSAL_SAMPLES=n: n sampled proposal replies per state besides the greedy one)
 */
/** Its subcommands' arguments for bench/techniques.ts's check (bench/args.ts): usage from this comment. */
export const TOT_SUBCOMMANDS: Record<string, BenchSubcommand> = {
  'tot-value-data': { args: [2, 2], usage: import.meta.url },
  'tot-value-eval': { args: [1, 1], usage: import.meta.url },
  'tot-value-paired': { args: [2, 3], usage: import.meta.url },
};

const VALUE_PRESET = {
  name: 'techniques-tot-value',
  rm: {
    comparisons: { prompts: 0, valPrompts: 0, k: 16, noise: 0, temperature: 0.7, maxTokens: 96 },
    rankingsPerBatch: 8,
    train: { maxSteps: Number(process.env.VALUE_STEPS ?? 1500), lr: 1e-3, minLr: 1e-4, warmupSteps: 50, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 250, checkpointEvery: 100, keepLast: 2, logEvery: 10 },
  },
};

const fmt = (a: ReturnType<typeof valueAccuracy>): string =>
  `${a.states} states (${a.solvable} solvable): accuracy ${(100 * a.accuracy).toFixed(1)}%, balanced ${(50 * (a.accuracySolvable + a.accuracyUnsolvable)).toFixed(1)}% (solvable ${(100 * a.accuracySolvable).toFixed(1)}%, unsolvable ${(100 * a.accuracyUnsolvable).toFixed(1)}%) at threshold ${a.threshold.toFixed(3)}; sibling pairs ${(100 * a.pairAccuracy).toFixed(1)}% of ${a.pairs}; AUC ${a.auc.toFixed(3)}; mean score ${a.meanSolvable.toFixed(2)} vs ${a.meanUnsolvable.toFixed(2)}`;

export function totCommand(cmd: string, dir: string, arg: string | undefined, arg2?: string): void {
  if (cmd === 'tot-value-data') {
    if (!arg) throw new GptforgeError('usage: tot-value-data <countdownDir> <runDir>');
    const d = valueRankings();
    const src = loadModel(dir).dir;
    const sft = join(arg, 'sft', basename(src));
    mkdirSync(sft, { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) copyFileSync(join(src, f), join(sft, f));
    atomicWriteFile(join(arg, 'sft', 'latest.json'), JSON.stringify({ checkpoint: basename(src), step: Number(/\d+$/.exec(basename(src))?.[0] ?? 0) }) + '\n');
    atomicWriteFile(join(arg, 'preset.json'), JSON.stringify(VALUE_PRESET, null, 1) + '\n');
    atomicWriteFile(join(arg, 'value-rankings.jsonl'), d.rankings.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const pairs = d.rankings.reduce((s, r) => {
      const g = r.tiers!.filter((t) => t === 0).length;
      return s + g * (r.tiers!.length - g);
    }, 0);
    atomicWriteFile(join(arg, 'value-data.json'), JSON.stringify({ puzzles: d.puzzles, rankings: d.rankings.length, byLevel: d.byLevel, pairs, from: src }, null, 1) + '\n');
    console.log(`${d.rankings.length} rankings (${pairs} pairs; parents of 4/3/2 numbers: ${d.byLevel[4]}/${d.byLevel[3]}/${d.byLevel[2]}) from ${d.puzzles} train-split puzzles → ${join(arg, 'value-rankings.jsonl')}`);
    return;
  }
  if (cmd === 'tot-value-eval') {
    const vm = loadModel(dir, 'rm');
    const parents = (split: 'train' | 'test'): number[][] => valueRankings({ split }).rankings.map((r) => /Numbers: ([\d ]+)\./.exec(r.prompt)![1].split(' ').map(Number));
    const train = parents('train');
    // the threshold from a fifth of the training parents (scoring all 2,000 takes minutes on a loaded machine)
    const fit = valueAccuracy(
      vm,
      train.filter((_, i) => i % 5 === 0),
    );
    console.log(`train-split parents: ${fmt(fit)}`);
    const test = parents('test');
    const all = valueAccuracy(vm, test, fit.threshold);
    console.log(`test-split parents: ${fmt(all)}`);
    const trainKeys = new Set(train.map((p) => p.join(' ')));
    const fresh = test.filter((p) => !trainKeys.has(p.join(' ')));
    const unseen = valueAccuracy(vm, fresh, fit.threshold);
    console.log(`test-split parents not among the training parents (${fresh.length} of ${test.length}): ${fmt(unseen)}`);
    // the test puzzles themselves as parents, solvable or not (the search's first level)
    const starts = puzzlesOf('test');
    const level1 = valueAccuracy(vm, starts, fit.threshold);
    console.log(`every test-split puzzle's children (${starts.length} puzzles, ${starts.reduce((s, p) => s + labelledChildren(p).length, 0)} children): ${fmt(level1)}`);
    atomicWriteFile(join(dir, 'tot-value.json'), JSON.stringify({ threshold: fit.threshold, train: fit, test: all, testUnseenParents: unseen, testPuzzles: level1, checkpoint: vm.dir }, null, 1) + '\n');
    return;
  }
  if (cmd === 'tot-value-paired') {
    if (!arg) throw new GptforgeError('usage: tot-value-paired <countdownDir> <valueRun> [n]');
    // n is the third argument (process.argv[5]); it was read from argv[6], one place too far, so it was always 133
    const n = Number(arg2 ?? 133);
    if (!(Number.isInteger(n) && n > 0)) throw new GptforgeError(`n must be a positive whole number, got ${JSON.stringify(arg2)}`, { field: 'tot-value-paired <countdownDir> <valueRun> [n]' });
    const g = loadModel(dir);
    const engine = new ChatEngine(g.model, g.tok);
    const vm = loadValueModel(arg);
    // the same puzzles as measureTot: the first n distinct ones the test-split generator draws
    const puzzles: number[][] = [];
    for (const e of countdown.generate('test', n * 40, 19, { variant: { kind: 'solve' } })) {
      const nums = numbersOf(e.prompt)!;
      if (!puzzles.some((p) => p.join() === nums.join())) puzzles.push(nums);
      if (puzzles.length === n) break;
    }
    const rows: Record<string, boolean[]> = { chain: [], learned: [], learnedPruned: [], exact: [] };
    const tokens: Record<string, number> = { chain: 0, learned: 0, learnedPruned: 0, exact: 0 };
    const value = rewardValue(vm, vm.threshold);
    const proposalSamples = Number(process.env.TOT_PROPOSAL_SAMPLES ?? 0);
    for (const nums of puzzles) {
      const reply = engine.reply({ messages: [{ role: 'user', content: solvePrompt(nums) }] }, { temperature: 0, maxTokens: 96, onStep: () => tokens.chain++ });
      rows.chain.push(reaches24(nums, reply.text));
      for (const [name, opts] of [
        ['learned', { value, likely: 0 }],
        ['learnedPruned', { value }],
        ['exact', { value: (states: readonly (readonly number[])[]) => states.map((x) => (solve(x) ? 1 : 0)) }],
      ] as const) {
        const t = treeOfThoughts(engine, nums, { toolResults: true, proposalSamples, ...opts });
        rows[name].push(t.solved);
        tokens[name] += t.tokens;
      }
    }
    const count = (xs: boolean[]): number => xs.filter(Boolean).length;
    for (const [name, xs] of Object.entries(rows)) console.log(`${name}: ${count(xs)}/${puzzles.length} solved, ${tokens[name]} tokens`);
    const both = (a: boolean[], b: boolean[]): string => `${a.filter((x, i) => x && b[i]).length} both, ${a.filter((x, i) => x && !b[i]).length} only the first, ${a.filter((x, i) => !x && b[i]).length} only the second`;
    console.log(`learned vs exact: ${both(rows.learned, rows.exact)}`);
    console.log(`learned vs chain: ${both(rows.learned, rows.chain)}`);
    // exact two-sided sign test on the discordant puzzles
    const w = rows.learned.filter((x, i) => x && !rows.chain[i]).length;
    const l = rows.learned.filter((x, i) => !x && rows.chain[i]).length;
    const m = w + l;
    let tail = 0;
    for (let k = 0; k <= Math.min(w, l); k++) {
      let c = 1;
      for (let j = 0; j < k; j++) c = (c * (m - j)) / (j + 1);
      tail += c / 2 ** m;
    }
    console.log(`sign test, learned-value search vs the chain: ${w} wins, ${l} losses, p = ${Math.min(1, 2 * tail).toExponential(2)}`);
    // chains given the same calculator, at the learned search's tokens
    let greedyCalc = 0;
    let greedyCalcTokens = 0;
    for (const nums of puzzles) {
      const c = calculatorChains(g.model, g.tok, nums);
      greedyCalcTokens += c.tokens;
      if (c.chains[0].solved) greedyCalc++;
    }
    const k = Math.max(1, Math.round(tokens.learned / Math.max(1, greedyCalcTokens)));
    let anyCalc = 0;
    let kTokens = 0;
    for (const nums of puzzles) {
      const c = calculatorChains(g.model, g.tok, nums, { k, temperature: 0.7 });
      kTokens += c.tokens;
      if (c.chains.some((x) => x.solved)) anyCalc++;
    }
    console.log(`calculator-checked chains: greedy ${greedyCalc}/${puzzles.length} (${greedyCalcTokens} tokens); ${k} sampled, some right ${anyCalc}/${puzzles.length} (${kTokens} tokens)`);
    return;
  }
  throw new GptforgeError(`unknown subcommand ${cmd}`);
}
