import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { LABEL_HELP } from '../run/label-keys.js';
import type { KeyQueue } from '../run/label.js';
import { GptforgeError } from '../util/errors.js';
import { holdLock } from '../util/lock.js';
import { number, positiveInteger } from '../util/args.js';

/** Feed stdin into a KeyQueue: raw keypresses on a terminal, lines otherwise. Returns the cleanup. */
function attachStdin(keys: KeyQueue): () => void {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  // in raw mode every burst of keys is a "line" of its own (see KeyQueue)
  const onData = (chunk: string): void => keys.push(raw ? `${chunk}\n` : chunk);
  const onEnd = (): void => keys.end();
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  };
}

/** `gptforge label`: the terminal face of src/run/label.ts (parse → call → print). */
export const command = new Command('label')
  .summary('rank model completions at the terminal (rankings for the reward model and DPO)')
  .description(
    `Sample K completions per prompt from the model (calculator included) and rank them best to worst by pressing their numbers; the last one is implied. Each finished ranking is appended to --out at once; rerun to resume (ranked and skipped prompts are not asked again; skips are kept in <out>.skipped.jsonl). On a pipe, each input line answers one prompt (e.g. "312", "3=12", "s", "q").\n${LABEL_HELP}`,
  )
  .option('-r, --run <dir>', 'run directory (its newest chat model), a stage directory or a checkpoint', 'runs/small')
  .option('--prompts <file>', 'JSONL of {"prompt": "…"} lines (optionally "task": family) to rank completions for')
  .option('-k, --completions <n>', 'completions to sample and rank per prompt (2–9)', number, 4)
  .option('-o, --out <file>', 'rankings JSONL to append to and resume from (default: <run>/rankings.jsonl)')
  .option('--stage <stage>', 'stage to load: sft, rl, dpo, sft-lora … (default: rl, else sft, else base; a stage with an early-stopping best/ loads that)')
  .option('--temperature <x>', 'sampling temperature (higher: more varied completions)', number, 1.0)
  .option('--top-k <n>', 'sample from the k most likely tokens (0 = all)', number, 0)
  .option('--max-tokens <n>', 'longest completion, in tokens', positiveInteger, 96)
  .option('--seed <n>', 'first sampling seed (completion j uses seed + j)', number, 1)
  .action(async (o) => {
    if (o.prompts === undefined) throw new GptforgeError('--prompts is required (a JSONL file of {"prompt": "…"} lines)');
    const k = o.completions;
    if (!Number.isInteger(k) || k < 2 || k > 9) throw new GptforgeError(`-k: expects an integer from 2 to 9 (one key per completion), got ${k}`);
    const out = o.out ?? join(o.run, 'rankings.jsonl');
    holdLock(`${out}.lock`, `rankings file ${out}`); // one labeling session per file (src/util/lock.ts)
    const [{ ChatEngine }, { defaultTools }, { KeyQueue, readPromptsJSONL, runLabeling, sampleCompletions }, { loadModel }] = await Promise.all([import('../infer/engine.js'), import('../infer/tools/registry.js'), import('../run/label.js'), import('../run/models.js')]);
    const prompts = readPromptsJSONL(o.prompts);
    const loaded = loadModel(o.run, o.stage);
    const engine = new ChatEngine(loaded.model, loaded.tok);
    const chatOpts = { temperature: o.temperature, topK: o.topK, maxTokens: o.maxTokens, seed: o.seed, tools: defaultTools() };
    console.error(`labeling with ${loaded.dir} (stage ${loaded.stage}); rankings go to ${out}`);
    const keys = new KeyQueue();
    const detach = attachStdin(keys);
    try {
      await runLabeling({
        prompts,
        out,
        keys,
        write: (s) => process.stdout.write(s),
        sample: (p) => {
          // a transient status line on a terminal; nothing on a pipe, where it would be noise
          const tty = process.stdout.isTTY === true;
          if (tty) process.stdout.write(`  sampling ${k} completions…`);
          const cs = sampleCompletions(engine, p.prompt, k, chatOpts);
          if (tty) process.stdout.write('\r\x1b[2K');
          return cs;
        },
      });
    } finally {
      detach();
    }
  });
