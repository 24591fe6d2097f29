import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureConsistency, measureReflection, measureSkill, measureTot } from '../src/assist/measure.js';
import { COUNTDOWN_MIXTURE, evalThinking, trainThinking } from '../src/assist/thinking.js';
import { techniquesReport } from '../src/assist/report.js';
import { engineSummary } from '../src/engine/backend.js';
import { loadModel } from '../src/run/models.js';

/**
 * The prompting-techniques measurements (docs/techniques.md), one subcommand each; results
 * go to <dir>/techniques.json, the tables to <dir>/techniques.md, the curve to
 * <dir>/self-consistency.svg:
 *
 *   node dist/bench/techniques.js train <dir> [steps] [countdown]   the techniques model, or the game-of-24 one (one ≤ CHUNK_MINUTES chunk; rerun resumes)
 *   node dist/bench/techniques.js tot <dir> [n]           tree of thoughts vs one chain of thought vs k samples at the same tokens (the game-of-24 model)
 *   node dist/bench/techniques.js cot <dir> [perCell]     direct vs step by step, 1–8 digits
 *   node dist/bench/techniques.js skill <dir> [n]         ask for success: expert / none / novice / out-of-distribution
 *   node dist/bench/techniques.js reflect <dir> [n] [digits]   reflection per feedback source
 *   node dist/bench/techniques.js sc <dir> [n] [digits]   self-consistency: accuracy and wall time vs k
 *   node dist/bench/techniques.js report <dir>            the tables and the SVG from techniques.json
 *
 * Heavy: run under `flock /tmp/gptforge-heavy.lock` on a shared machine.
 */
async function main(): Promise<void> {
  const [cmd, dir, arg, arg2] = process.argv.slice(2);
  if (!cmd || !dir) throw new Error('usage: techniques.js train|cot|skill|reflect|sc|report <dir> [n] [digits]');
  const file = join(dir, 'techniques.json');
  const results: Record<string, unknown> = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const save = (key: string, value: unknown, seconds: number): void => {
    results[key] = value;
    results[`${key}Seconds`] = Math.round(seconds);
    results.engine = engineSummary();
    writeFileSync(file, JSON.stringify(results, null, 1));
  };
  console.log(engineSummary());
  const t0 = Date.now();
  const secs = (): number => (Date.now() - t0) / 1000;
  if (cmd === 'train') {
    // one chunk of at most CHUNK_MINUTES (default 8): the stage saves and a rerun resumes, so heavy jobs interleave
    const minutes = Number(process.env.CHUNK_MINUTES ?? 8);
    const countdownOnly = arg2 === 'countdown';
    const r = await trainThinking(dir, {
      steps: arg ? Number(arg) : undefined,
      signal: AbortSignal.timeout(minutes * 60_000),
      ...(countdownOnly ? { mixture: COUNTDOWN_MIXTURE, examples: 20000, seqLen: 160 } : {}),
    });
    console.log(`${r.interrupted ? 'chunk ended' : 'done'} at step ${r.step}: ${r.model.config.nLayer}×${r.model.config.nEmbd}, vocab ${r.tok.vocabSize}, loss ${r.lastLoss.toFixed(4)}, ${secs().toFixed(0)} s`);
    return;
  }
  if (cmd !== 'report') {
    const { model, tok } = loadModel(dir);
    if (cmd === 'cot') {
      const cells = evalThinking(model, tok, { digits: [1, 2, 3, 4, 5, 6, 7, 8], perCell: arg ? Number(arg) : 40, onCell: (c) => console.log(`${c.task} ${c.digits} digits ${c.mode}: ${c.correct}/${c.total}`) });
      save('cot', cells, secs());
    } else if (cmd === 'skill') {
      const rows = measureSkill(model, tok, { problems: arg ? Number(arg) : 200 });
      for (const r of rows) console.log(`${r.condition}: ${r.correct}/${r.total} (with a carry ${r.carryCorrect}/${r.carryTotal})`);
      save('skill', rows, secs());
    } else if (cmd === 'reflect') {
      const rows = measureReflection(model, tok, { problems: arg ? Number(arg) : 40, digits: arg2 ? Number(arg2) : 5 });
      for (const r of rows) console.log(`${r.source}: ${r.correct.join(' → ')} of ${r.total} (broke ${r.broke})`);
      save('reflect', { digits: arg2 ? Number(arg2) : 5, rows }, secs());
    } else if (cmd === 'sc') {
      const digits = arg2 ? Number(arg2) : 7;
      const r = measureConsistency(model, tok, { digits, problems: arg ? Number(arg) : 30, ks: [1, 2, 4, 8, 16] });
      for (const row of [r.greedy, ...r.rows]) console.log(`k=${row.k || 'greedy'}: majority ${row.majority} logprob ${row.logprob} oracle ${row.oracle} of ${row.total}, ${(row.ms / 1000).toFixed(1)} s, ${row.tokens} tokens`);
      save('sc', { digits, ...r }, secs());
    } else if (cmd === 'tot') {
      const r = measureTot(model, tok, { problems: arg ? Number(arg) : 30 });
      console.log(JSON.stringify(r));
      save('tot', r, secs());
    } else throw new Error(`unknown subcommand ${cmd}`);
  }
  const { markdown, svg } = techniquesReport(results);
  writeFileSync(join(dir, 'techniques.md'), markdown);
  if (svg) writeFileSync(join(dir, 'self-consistency.svg'), svg);
  console.log(markdown);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
