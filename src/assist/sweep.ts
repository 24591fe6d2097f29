import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { longAddition, longMultiplication, THINKING_TASKS } from '../data/synthetic/longarith.js';
import { longAdditionAbacus } from '../data/synthetic/longadd-abacus.js';
import { longMultiplicationMulti } from '../data/synthetic/longmul.js';
import { longAdditionHinted } from '../data/synthetic/longadd-hints.js';
import { engineSummary } from '../engine/backend.js';
import { loadModel } from '../run/models.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { additionTaskFor } from './consistency-curve.js';
import { SWEEP_PARTS, type SweepPart } from './names.js';
import { measureConsistency, measureReflection, measureSkill, measureTot } from './measure.js';
import { loadValueModel } from './tot-value.js';
import { techniquesReport, type TechniquesResults } from './report.js';
import { evalGivenFirstLine, evalThinking } from './thinking.js';

export { SWEEP_PARTS, type SweepPart };

/** Sizes of the sweep's measurements; the defaults are the full sweep's. */
export interface SweepOptions {
  /** The parts to run (default: all but tot; tot needs the game-of-24 model, `totDir`). */
  parts?: readonly SweepPart[];
  /** Tokens to think: problems per (family, digits, mode) cell (default 40) and the operand lengths (default 1–8). */
  perCell?: number;
  digits?: readonly number[];
  /** Families for the tokens-to-think table: 'addition' (long addition alone) or 'all' (default; for a model with abacus embeddings, its own family, 'abacus'). */
  cotFamilies?: 'addition' | 'multiply' | 'hints' | 'abacus' | 'all';
  /** Ask for success: held-out problems (default 200), asked directly (default) or step by step. */
  skillProblems?: number;
  skillMode?: 'direct' | 'cot';
  /** Reflection: problems (default 40) and operand digits (default 5). */
  reflectProblems?: number;
  reflectDigits?: number;
  /** Self-consistency: problems (default 30), operand digits (default 7), the k values (default 1, 2, 4, 8, 16). */
  scProblems?: number;
  scDigits?: number;
  ks?: readonly number[];
  /** Self-consistency's sampling temperature (default 0.7). */
  scTemperature?: number;
  /** Self-consistency: samples with the same tokens so far share a forward row (default true; false: every sample its own row). */
  scShare?: boolean;
  /** Self-consistency: prefills per k-sample run (selfConsistency's positionGroups, capped at k; default 1). */
  scPositionGroups?: number;
  /** Self-consistency: samples share decoding rows only within their stream (historyStreams, default 1). */
  scStreams?: number;
  /** Tree of thoughts: the game-of-24 model's directory and puzzles (default 30). */
  totDir?: string;
  totProblems?: number;
  /** Tree of thoughts: also search with this learned value (a reward-model run trained on the solver's labels, tot-value.ts). */
  totValue?: string;
  /** One line per finished cell or row. */
  log?(line: string): void;
}

/**
 * Runs the technique measurements on the model in `dir` (a techniques model trained by
 * `trainThinking`, `<dir>/sft/step-N`), merges them into `<dir>/techniques.json` (earlier
 * parts kept), and rewrites `<dir>/techniques.md` (the technique × family table, then one
 * table per technique) and `<dir>/self-consistency.svg` (accuracy against k). The faces are
 * `gptforge eval --techniques` and `npm run eval:techniques`.
 *
 * @throws GptforgeError when `dir` has no checkpoint, or tot is asked for without `totDir`.
 */
export function runTechniqueSweep(dir: string, o: SweepOptions = {}): { results: TechniquesResults; markdown: string; svg: string | undefined } {
  const parts = o.parts ?? ['cot', 'skill', 'reflect', 'sc'];
  if (parts.includes('tot') && !o.totDir) throw new GptforgeError('tree of thoughts needs the game-of-24 model: give its directory (totDir, --tot-run)', { field: 'totDir' });
  const log = o.log ?? ((): void => {});
  const file = join(dir, 'techniques.json');
  const results = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as TechniquesResults;
  const save = (key: string, value: unknown, ms: number): void => {
    results[key] = value;
    results[`${key}Seconds`] = Math.round(ms / 1000);
    results.engine = engineSummary();
    results[`${key}Engine`] = results.engine; // each part's own: a later --parts run keeps the others'
    atomicWriteFile(file, JSON.stringify(results, null, 1));
  };
  const needsMain = parts.some((p) => p !== 'tot');
  const main = needsMain ? loadModel(dir) : undefined;
  for (const part of parts) {
    const t0 = performance.now();
    const ms = (): number => performance.now() - t0;
    if (part === 'tot') {
      const g = loadModel(o.totDir!);
      const r = measureTot(g.model, g.tok, { problems: o.totProblems ?? 30, valueModel: o.totValue ? loadValueModel(o.totValue) : undefined });
      log(
        `tot: greedy chain ${r.cot}/${r.problems}, tree ${r.tot}/${r.problems}, tree with calculator-checked thoughts ${r.totTool}/${r.problems} (exact values ${r.totExact}/${r.problems}${r.totLearned !== undefined ? `, learned values ${r.totLearned}/${r.problems}` : ''}), ${r.k} samples (checker's pick) ${r.sampled}/${r.problems}, one sample ${r.sampledOne}/${r.problems}`,
      );
      save('tot', r, ms());
      continue;
    }
    const { model, tok } = main!;
    if (part === 'cot') {
      // an abacus model (AB5) trained on its own family alone: 'all' (the CLI's default) means that family
      const families = model.config.abacus && (o.cotFamilies ?? 'all') === 'all' ? 'abacus' : o.cotFamilies;
      const tasks = families === 'addition' ? [longAddition] : families === 'multiply' ? [longMultiplication, longMultiplicationMulti] : families === 'hints' ? [longAdditionHinted] : families === 'abacus' ? [longAdditionAbacus] : THINKING_TASKS;
      const cells = evalThinking(model, tok, { digits: o.digits ?? [1, 2, 3, 4, 5, 6, 7, 8], perCell: o.perCell ?? 40, tasks, onCell: (c) => log(`${c.task} ${c.digits} digits ${c.mode}: ${c.correct}/${c.total}`) });
      save('cot', cells, ms());
    } else if (part === 'firstline') {
      const rows = evalGivenFirstLine(model, tok, { digits: o.digits ?? [1, 2, 3, 4, 5, 6, 7, 8], perCell: o.perCell ?? 40 });
      for (const r of rows) log(`long-addition ${r.digits} digits, step by step with the first line given: ${r.correct}/${r.total}`);
      save('firstLine', rows, ms());
    } else if (part === 'skill') {
      const rows = measureSkill(model, tok, { problems: o.skillProblems ?? 200, mode: o.skillMode });
      for (const r of rows) log(`${r.condition}: ${r.correct}/${r.total} (with a carry ${r.carryCorrect}/${r.carryTotal})`);
      save('skill', rows, ms());
    } else if (part === 'reflect') {
      const digits = o.reflectDigits ?? 5;
      const rows = measureReflection(model, tok, { problems: o.reflectProblems ?? 40, digits });
      for (const r of rows) log(`${r.source}: ${r.correct.join(' → ')} of ${r.total} (broke ${r.broke})`);
      save('reflect', { digits, rows }, ms());
    } else if (part === 'sc') {
      const digits = o.scDigits ?? 7;
      const temperature = o.scTemperature ?? 0.7;
      const share = o.scShare ?? true;
      const positionGroups = o.scPositionGroups ?? 1;
      const historyStreams = o.scStreams ?? 1;
      const r = measureConsistency(model, tok, { digits, problems: o.scProblems ?? 30, ks: o.ks ?? [1, 2, 4, 8, 16], temperature, share, positionGroups, historyStreams });
      for (const row of [r.greedy, ...r.rows])
        log(
          `k=${row.k || 'greedy'}: majority ${row.majority}${row.majorityWins !== undefined ? ` (vs greedy ${row.majorityWins} won / ${row.majorityLosses} lost)` : ''} logprob ${row.logprob} oracle ${row.oracle} of ${row.total}, ${(row.ms / 1000).toFixed(1)} s (CPU ${((row.cpuMs ?? 0) / 1000).toFixed(1)} s), ${row.tokens} tokens, ${row.positions} positions`,
        );
      save('sc', { digits, temperature, share, positionGroups, historyStreams, task: additionTaskFor(model).name, ...r }, ms());
    }
  }
  const { markdown, svg } = techniquesReport(results);
  atomicWriteFile(join(dir, 'techniques.md'), markdown);
  if (svg) atomicWriteFile(join(dir, 'self-consistency.svg'), svg);
  return { results, markdown, svg };
}
