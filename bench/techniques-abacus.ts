import { join } from 'node:path';
import { abacusFirstWrong, abacusSumFirstWrong, longAdditionAbacus } from '../src/data/synthetic/longadd-abacus.js';
import { parseLong, THINK_TRIGGER } from '../src/data/synthetic/longarith.js';
import { ChatEngine } from '../src/infer/engine.js';
import { loadModel } from '../src/run/models.js';
import { atomicWriteFile } from '../src/util/atomic.js';
import type { BenchSubcommand } from './args.js';

/**
 * Abacus embeddings' measurement (docs/journal/techniques.md, "Length generalisation: abacus
 * embeddings"); bench/techniques.ts dispatches here:
 *
 *   node dist/bench/techniques.js abacus <dir> [perCell]
 *     direct vs step by step (the carry scratchpad, longadd-abacus.ts) on the held-out split,
 *     greedy, perCell problems (default 30) per operand length COT_DIGITS (default 1–8; both
 *     operands that long), and for each step-by-step reply the first step it gets wrong
 *     (abacusFirstWrong: the carry line or the answer, and the column; for a model with
 *     abacus.items, abacusSumFirstWrong: the Sum line's item and field); a few wrong replies
 *     per length are printed. The table goes to <dir>/abacus.json and stdout.
 *     ABACUS_DECODE_POSITIONS=consecutive: a model with config.randomPositions decodes with
 *     consecutive position ids instead of drawn ones (the table: <dir>/abacus-consecutive.json).
 */
/** Its subcommand's arguments for bench/techniques.ts's check (bench/args.ts): usage from the comment above. */
export const ABACUS_SUBCOMMANDS: Record<string, BenchSubcommand> = { abacus: { args: [1, 2], usage: import.meta.url } };

export function abacusCommand(dir: string, perCell: number): void {
  const { model, tok } = loadModel(dir);
  // ABACUS_DECODE_POSITIONS=consecutive: a model trained on randomized position ids (config.randomPositions,
  // model AB5) decodes with ids 0..T−1 (gaps of 1: randomPositions = blockSize), the shortest distances its training saw
  const consecutive = process.env.ABACUS_DECODE_POSITIONS === 'consecutive' && model.config.randomPositions !== undefined;
  if (consecutive) (model.config as { randomPositions?: number }).randomPositions = model.config.blockSize;
  if (model.config.randomPositions !== undefined) console.log(`decoding with ${consecutive ? 'consecutive' : 'randomized'} position ids`);
  const engine = new ChatEngine(model, tok);
  // a model with abacus.items writes the per-column Sum line (model AB3), longer than the carry line
  const sum = model.config.abacus?.items !== undefined;
  const digits = process.env.COT_DIGITS ? process.env.COT_DIGITS.split(',').map(Number) : [1, 2, 3, 4, 5, 6, 7, 8];
  const rows: Array<{ digits: number; direct: number; cot: number; total: number; firstWrong: Record<string, number> }> = [];
  for (const d of digits) {
    const exs = longAdditionAbacus.generate('test', perCell, 7, { variant: { minDigits: d, maxDigits: d, mode: 'direct' } });
    const score: Record<'direct' | 'cot', number> = { direct: 0, cot: 0 };
    const firstWrong: Record<string, number> = {};
    const shown: string[] = [];
    for (const mode of ['direct', 'cot'] as const) {
      const prompts = exs.map((e) => (mode === 'cot' ? `${e.prompt} ${THINK_TRIGGER}` : e.prompt));
      for (let i = 0; i < prompts.length; i += 16) {
        const chunk = prompts.slice(i, i + 16);
        const replies = engine.repliesTo(
          chunk.map((p) => ({ messages: [{ role: 'user', content: p }] })),
          chunk.map(() => 1),
          { temperature: 0, maxTokens: mode === 'cot' ? (sum ? 160 : 64) : 24 },
        );
        replies.forEach((r, j) => {
          if (longAdditionAbacus.check(chunk[j], r.text)) score[mode]++;
          if (mode !== 'cot') return;
          const { a, b } = parseLong(exs[i + j].prompt)!;
          const w = sum ? abacusSumFirstWrong(r.text, a, b) : abacusFirstWrong(r.text, a, b);
          const key = w.column === undefined ? w.step : `${w.step} col ${w.column}`;
          firstWrong[key] = (firstWrong[key] ?? 0) + 1;
          if (w.step !== 'none' && shown.length < 3) shown.push(`${a}+${b}: ${JSON.stringify(r.text)} (first wrong: ${key})`);
        });
      }
    }
    rows.push({ digits: d, direct: score.direct, cot: score.cot, total: exs.length, firstWrong });
    console.log(`${d} digits: direct ${score.direct}/${exs.length}, step by step ${score.cot}/${exs.length}; first wrong step: ${JSON.stringify(firstWrong)}`);
    for (const s of shown) console.log(`  ${s}`);
  }
  const pct = (k: number, n: number): string => `${Math.round((100 * k) / n)}% (${k}/${n})`;
  const head = `| mode | ${digits.map((d) => `${d} digits`).join(' | ')} |\n| --- | ${digits.map(() => '---').join(' | ')} |`;
  const line = (m: 'direct' | 'cot', label: string): string => `| ${label} | ${rows.map((r) => pct(r[m], r.total)).join(' | ')} |`;
  console.log(`${head}\n${line('direct', 'direct')}\n${line('cot', 'step by step')}`);
  atomicWriteFile(join(dir, consecutive ? 'abacus-consecutive.json' : 'abacus.json'), `${JSON.stringify(rows, null, 2)}\n`);
}
