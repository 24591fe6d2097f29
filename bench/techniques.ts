import { writeFileSync } from 'node:fs';
import { evalThinking, trainThinking, type ThinkingCell } from '../src/assist/thinking.js';
import { engineSummary } from '../src/engine/backend.js';
import { loadModel } from '../src/run/models.js';

/**
 * The prompting-techniques measurements (docs/techniques.md), one subcommand each:
 *
 *   node dist/bench/techniques.js train <dir> [steps]      the tokens-to-think model (resumes)
 *   node dist/bench/techniques.js cot <dir> [perCell]       direct vs step by step, 1–8 digits
 *
 * Heavy: run under `flock /tmp/gptforge-heavy.lock` on a shared machine.
 */
async function main(): Promise<void> {
  const [cmd, dir, arg] = process.argv.slice(2);
  if (!cmd || !dir) throw new Error('usage: techniques.js train|cot <dir> [n]');
  console.log(engineSummary());
  if (cmd === 'train') {
    const t0 = Date.now();
    // one chunk of at most `minutes` (default 8): the stage saves and a rerun resumes, so heavy jobs interleave
    const minutes = Number(process.env.CHUNK_MINUTES ?? 8);
    const r = await trainThinking(dir, { steps: arg ? Number(arg) : undefined, seqLen: 192, signal: AbortSignal.timeout(minutes * 60_000) });
    console.log(`${r.interrupted ? 'chunk ended' : 'done'} at step ${r.step}`);
    console.log(`trained ${r.model.config.nLayer}×${r.model.config.nEmbd}, vocab ${r.tok.vocabSize}, in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return;
  }
  if (cmd === 'cot') {
    const { model, tok } = loadModel(dir);
    const t0 = Date.now();
    const cells: ThinkingCell[] = evalThinking(model, tok, {
      digits: [1, 2, 3, 4, 5, 6, 7, 8],
      perCell: arg ? Number(arg) : 40,
      onCell: (c) => console.log(`${c.task} ${c.digits} digits ${c.mode}: ${c.correct}/${c.total}`),
    });
    writeFileSync(`${dir}/cot.json`, JSON.stringify(cells, null, 1));
    console.log(`eval ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return;
  }
  throw new Error(`unknown subcommand ${cmd}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
