import { Command, Option } from '@commander-js/extra-typings';
import { readTextFile } from '../data/jsonl.js';
import { GptforgeError } from '../util/errors.js';
import { collect, number, positiveInteger } from '../util/args.js';
import { checkSamplingFlags, precisionOption, stageLabel } from './common.js';

export const command = new Command('sample')
  .summary('sample from a model: prompts, few-shot files, streaming; constrained output')
  .description(
    'Complete a prompt with a trained model, streaming tokens to stdout. Base models complete documents: see examples/prompts for few-shot and "fake conversation" prompts. A chat stage (sft, rl, dpo …) continues the prompt as written too and stops at the end of its turn (<|assistant_end|>); gptforge chat --prompt puts the prompt in a user turn.',
  )
  .option('-r, --run <dir>', 'run directory (its newest checkpoint — usually a chat stage; --stage base for the base model), a stage directory, or a checkpoint; the one loaded is named on stderr', 'runs/small')
  .option('--stage <stage>', 'stage to load from the run: base, sft, rl …')
  .option('-p, --prompt <text>', 'the prompt text')
  .option('-f, --prompt-file <file>', 'read the prompt from a file (few-shot documents; see examples/prompts)')
  .option('--max-tokens <n>', 'tokens to generate', positiveInteger, 200)
  .option('--temperature <x>', "0 = greedy; 1 = the model's distribution", number, 0.8)
  .option('--top-k <n>', 'sample from the k most likely tokens (0 = all)', number, 50)
  .option('--top-p <x>', 'nucleus sampling mass, in [0, 1] (1 = off, 0 = only the most likely token)', number, 1)
  .option('--seed <n>', 'random seed', number, 1)
  .option('-n, --num-samples <n>', 'how many samples', positiveInteger, 1)
  .option('--stop <text>', 'stop sequence (repeatable), e.g. --stop "\\n\\n"', collect, [])
  .option('--strict', 'error instead of truncating a prompt longer than the context')
  .option('--json-schema <file>', 'constrain the completion to JSON this schema file accepts (docs/constrain.md)')
  .option('--regex <re>', 'constrain the completion to match this regular expression in full')
  .option('--grammar <file>', 'constrain the completion to a GBNF grammar file (llama.cpp syntax, rule root)')
  .addOption(new Option('--whitespace <policy>', '--json-schema: whitespace between JSON tokens — flexible (spaces, newlines and indentation), line (at most one space: a value on one line), compact (none); default line, so stdout is one value a line').choices(['flexible', 'line', 'compact'] as const))
  .option('--echo', 'print the prompt before the completion (the default without a constraint)')
  .option('--no-echo', 'print only the completion (the default with --json-schema, --regex or --grammar: stdout is then the value alone, ready for a parser)')
  .addOption(precisionOption())
  .action(async (o) => {
    const prompt = o.prompt ?? (o.promptFile ? readTextFile(o.promptFile, 'prompt file') : undefined);
    if (prompt === undefined) throw new GptforgeError('give --prompt "…" or --prompt-file <file>');
    const stops = o.stop.map((s) => s.replace(/\\n/g, '\n').replace(/\\t/g, '\t'));
    const n = o.numSamples;
    // flag mistakes are named before the model loads (a missing run would hide them)
    const constrained = [o.jsonSchema, o.regex, o.grammar].filter((x) => x !== undefined).length;
    if (constrained > 1) throw new GptforgeError('give at most one of --json-schema, --regex, --grammar');
    // A stop string would cut the value mid-way and read as a normal end: the constraint decides where it ends.
    if (constrained > 0 && stops.length > 0) throw new GptforgeError('--stop cannot be combined with --json-schema, --regex or --grammar (the constraint decides where the output ends)');
    if (o.whitespace !== undefined && o.jsonSchema === undefined) throw new GptforgeError('--whitespace shapes the JSON of --json-schema: give --json-schema, or drop --whitespace', { field: '--whitespace' });
    const echoPrompt = o.echo ?? constrained === 0;
    checkSamplingFlags(o);
    const [{ constraintFromOptions }, { loadGenerationModel }, { incompleteReason, sampleFromModel }] = await Promise.all([import('../infer/constrain/index.js'), import('../run/models.js'), import('../run/sample.js')]);
    // Loaded once, at the precision it decodes at: the tokenizer, the context size and every sample's model.
    const loaded = loadGenerationModel(o.run, o.stage, { precision: o.precision });
    // which checkpoint completes the prompt, as `chat` says (a run's newest is usually a chat stage, not the base model)
    const chatModel = loaded.stage === 'pretrain' ? '' : o.stage === undefined ? ": the run's newest checkpoint, a chat model, which stops at the end of its turn; --stage base completes documents" : ': a chat model, which stops at the end of its turn';
    console.error(`sample: ${loaded.dir} (stage ${stageLabel(loaded.dir, loaded.stage)})${chatModel}`);
    const { tok, model } = loaded;
    // Compiled once (errors name the file and pointer/line before any model work); each sample
    // steps its own clone from the start state.
    // 'line' by default: under 'flexible' a small model spends its tokens on newlines and indentation
    // (the small run wrote `{ "name"\n                    : …`), and stdout is meant for a parser one value a line
    const constraint = constraintFromOptions({ jsonSchema: o.jsonSchema, regex: o.regex, grammar: o.grammar, whitespace: o.whitespace ?? 'line' }, tok);
    for (let i = 0; i < n; i++) {
      // without the echo stdout carries the values alone, one a line; the separators go to stderr
      if (n > 1) (echoPrompt ? process.stdout : process.stderr).write(`${echoPrompt ? '\n' : ''}--- sample ${i + 1}/${n}\n`);
      // The prompt is echoed with the first streamed text, not before: --strict may refuse it,
      // and then nothing is printed but the error.
      let echoed = false;
      const echo = (): void => {
        if (!echoed && echoPrompt) process.stdout.write(prompt);
        echoed = true;
      };
      const row = constraint?.clone();
      const opts = { maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed + i, stop: stops, strict: o.strict, constraint: row };
      const res = sampleFromModel(loaded, prompt, { ...opts, onText: (d) => (echo(), process.stdout.write(d)) });
      echo();
      process.stdout.write('\n');
      if (res.warning) console.error(`warning: ${res.warning}`);
      const why = row ? incompleteReason(res, row) : undefined;
      if (why) {
        console.error(`finish_reason: ${res.finishReason} (${why})`);
        process.exitCode = 3; // an incomplete constrained value: scripts tell by the status
      } else if (res.finishReason === 'length' && row) {
        // complete (an accepting state), but cut: a longer match may have been coming
        console.error('finish_reason: length (cut at --max-tokens; the output matches the constraint in full, though the model might have continued)');
      } else if (res.finishReason === 'context') {
        // not asked for (--max-tokens was larger): say why it stopped early
        console.error(`finish_reason: context (the model's context of ${model.config.blockSize} tokens is full: prompt and sample together)`);
      }
    }
  });
