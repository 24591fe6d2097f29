import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { generateText, type GenerateOptions, type GenerateResult } from '../infer/generate.js';
import { loadModel } from './models.js';
import { readTextFile } from '../data/jsonl.js';
import { constraintFromOptions } from '../infer/constrain/index.js';

const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory (its newest checkpoint), a stage directory, or a checkpoint', alias: 'r', default: 'runs/small' },
  stage: { kind: 'string', help: 'stage to load from the run: base, sft, rl …' },
  prompt: { kind: 'string', help: 'the prompt text', alias: 'p' },
  'prompt-file': { kind: 'string', help: 'read the prompt from a file (few-shot documents; see examples/prompts)', alias: 'f' },
  'max-tokens': { kind: 'number', help: 'tokens to generate', default: 200 },
  temperature: { kind: 'number', help: '0 = greedy; 1 = the model\'s distribution', default: 0.8 },
  'top-k': { kind: 'number', help: 'sample from the k most likely tokens (0 = all)', default: 50 },
  'top-p': { kind: 'number', help: 'nucleus sampling mass (1 = off)', default: 1 },
  seed: { kind: 'number', help: 'random seed', default: 1 },
  'num-samples': { kind: 'number', help: 'how many samples', default: 1, alias: 'n' },
  stop: { kind: 'strings', help: 'stop sequence (repeatable), e.g. --stop "\\n\\n"' },
  strict: { kind: 'boolean', help: 'error instead of truncating a prompt longer than the context' },
  'json-schema': { kind: 'string', help: 'constrain the completion to JSON this schema file accepts (docs/constrain.md)' },
  regex: { kind: 'string', help: 'constrain the completion to match this regular expression in full' },
  grammar: { kind: 'string', help: 'constrain the completion to a GBNF grammar file (llama.cpp syntax, rule root)' },
};

/** Complete `prompt` with a run's model. Documents in training begin with <|bos|>, so prompts do too. */
export function sampleFromRun(runDir: string, prompt: string, opts: Omit<GenerateOptions, 'stopIds'>, stage?: string): GenerateResult {
  const { model, tok } = loadModel(runDir, stage);
  const ids = [...(tok.hasSpecial('<|bos|>') ? [tok.specialId('<|bos|>')] : []), ...tok.encode(prompt, { disallowedSpecial: 'plain' })];
  const stopIds = tok.hasSpecial('<|eos|>') ? [tok.specialId('<|eos|>')] : [];
  return generateText(model, tok, ids, { ...opts, stopIds });
}

/**
 * Why a constrained completion is not a complete value, or undefined when it is: the row ended
 * for another reason than the constraint (finish reason 'length', 'context', 'abort') or the
 * constraint has not reached an accepting state. (--stop is refused with a constraint, so finish
 * reason 'stop' is an end token or the constraint's own end.) Printed so that an incomplete value
 * is never taken for a complete one (issue 17, "Bad input").
 */
export function incompleteReason(res: GenerateResult, constraint: { isComplete(): boolean }): string | undefined {
  if (res.finishReason === 'stop' && constraint.isComplete()) return undefined;
  return res.finishReason === 'length' ? 'cut at --max-tokens: the constrained value is incomplete' : `ended by ${res.finishReason}: the constrained value is incomplete`;
}

export const command: Command = {
  summary: 'sample from a model: prompts, few-shot files, streaming',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge sample --run <dir> --prompt "…" | --prompt-file <file> [options]', 'Complete a prompt with a trained model, streaming tokens to stdout. Base models complete documents: see examples/prompts for few-shot and "fake conversation" prompts.', FLAGS));
      return;
    }
    const a = parseArgs(argv, FLAGS, 'sample');
    const prompt = str(a, 'prompt') ?? (str(a, 'prompt-file') ? readTextFile(str(a, 'prompt-file')!, 'prompt file') : undefined);
    if (prompt === undefined) throw new GptforgeError('give --prompt "…" or --prompt-file <file>');
    const stops = strs(a, 'stop').map((s) => s.replace(/\\n/g, '\n').replace(/\\t/g, '\t'));
    const n = num(a, 'num-samples')!;
    if (!(Number.isInteger(n) && n >= 1)) throw new GptforgeError(`-n/--num-samples must be a positive whole number, got ${n}`, { field: '--num-samples' });
    // Compiled once (errors name the file and pointer/line before any model work); each sample
    // steps its own clone from the start state.
    const { tok } = loadModel(str(a, 'run')!, str(a, 'stage'));
    const constraint = constraintFromOptions({ jsonSchema: str(a, 'json-schema'), regex: str(a, 'regex'), grammar: str(a, 'grammar') }, tok);
    // A stop string would cut the value mid-way and read as a normal end: the constraint decides where it ends.
    if (constraint && stops.length > 0) throw new GptforgeError('--stop cannot be combined with --json-schema, --regex or --grammar (the constraint decides where the output ends)');
    for (let i = 0; i < n; i++) {
      if (n > 1) process.stdout.write(`\n--- sample ${i + 1}/${n}\n`);
      // The prompt is echoed with the first streamed text, not before: --strict may refuse it,
      // and then nothing is printed but the error.
      let echoed = false;
      const echo = (): void => {
        if (!echoed) process.stdout.write(prompt);
        echoed = true;
      };
      const row = constraint?.clone();
      const res = sampleFromRun(str(a, 'run')!, prompt, {
        maxTokens: num(a, 'max-tokens')!,
        temperature: num(a, 'temperature'),
        topK: num(a, 'top-k'),
        topP: num(a, 'top-p'),
        seed: num(a, 'seed')! + i,
        stopSequences: stops,
        strict: bool(a, 'strict'),
        constraint: row,
        onText: (d) => {
          echo();
          process.stdout.write(d);
        },
      }, str(a, 'stage'));
      echo();
      process.stdout.write('\n');
      if (res.warning) console.error(`warning: ${res.warning}`);
      const why = row ? incompleteReason(res, row) : undefined;
      if (why) console.error(`finish_reason: ${res.finishReason} (${why})`);
    }
  },
};
