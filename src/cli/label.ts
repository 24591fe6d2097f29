import { join } from 'node:path';
import type { Command } from './command.js';
import { loadModel } from './models.js';
import { parseArgs, formatHelp, str, num, type FlagSpecs } from '../util/args.js';
import { GptforgeError } from '../util/errors.js';
import { holdLock } from '../util/lock.js';
import { ChatEngine } from '../infer/engine.js';
import { defaultTools } from '../infer/tools/registry.js';
import { KeyQueue, LABEL_HELP, readPromptsJSONL, runLabeling, sampleCompletions } from '../run/label.js';

/** `gptforge label`: the terminal face of src/run/label.ts (parse → call → print). */
const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory (its newest chat model), a stage directory or a checkpoint', alias: 'r', default: 'runs/small' },
  prompts: { kind: 'string', help: 'JSONL of {"prompt": "…"} lines (optionally "task": family) to rank completions for' },
  completions: { kind: 'number', help: 'completions to sample and rank per prompt (2–9)', alias: 'k', default: 4 },
  out: { kind: 'string', help: 'rankings JSONL to append to and resume from (default: <run>/rankings.jsonl)', alias: 'o' },
  stage: { kind: 'string', help: 'stage to load: sft, rl, dpo … (default: the newest)' },
  temperature: { kind: 'number', help: 'sampling temperature (higher: more varied completions)', default: 1.0 },
  'top-k': { kind: 'number', help: 'sample from the k most likely tokens (0 = all)', default: 0 },
  'max-tokens': { kind: 'number', help: 'longest completion, in tokens', default: 96 },
  seed: { kind: 'number', help: 'first sampling seed (completion j uses seed + j)', default: 1 },
};

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

export const command: Command = {
  summary: 'rank model completions at the terminal (rankings for the reward model and DPO)',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(
        formatHelp(
          'gptforge label --run runs/<name> --prompts prompts.jsonl [-k 4] [options]',
          `Sample K completions per prompt from the model (calculator included) and rank them best to worst by pressing their numbers; the last one is implied. Each finished ranking is appended to --out at once; rerun to resume (ranked and skipped prompts are not asked again; skips are kept in <out>.skipped.jsonl). On a pipe, each input line answers one prompt (e.g. "312", "3=12", "s", "q").\n${LABEL_HELP}`,
          FLAGS,
        ),
      );
      return;
    }
    const a = parseArgs(argv, FLAGS, 'label');
    const promptsFile = str(a, 'prompts');
    if (promptsFile === undefined) throw new GptforgeError('--prompts is required (a JSONL file of {"prompt": "…"} lines)');
    const k = num(a, 'completions')!;
    if (!Number.isInteger(k) || k < 2 || k > 9) throw new GptforgeError(`-k must be an integer from 2 to 9 (one key per completion), got ${k}`);
    const runDir = str(a, 'run')!;
    const out = str(a, 'out') ?? join(runDir, 'rankings.jsonl');
    holdLock(`${out}.lock`, `rankings file ${out}`); // one labeling session per file (src/util/lock.ts)
    const prompts = readPromptsJSONL(promptsFile);

    const loaded = loadModel(runDir, str(a, 'stage'));
    const engine = new ChatEngine(loaded.model, loaded.tok);
    const tools = defaultTools();
    const chatOpts = { temperature: num(a, 'temperature'), topK: num(a, 'top-k'), maxTokens: num(a, 'max-tokens'), seed: num(a, 'seed')!, tools };
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
  },
};
