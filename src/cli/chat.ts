import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { DEFAULT_MAX_TOOL_CALLS, MAX_TOOL_CALLS_LIMIT } from '../infer/tool-limits.js';
import { number, positiveInteger } from '../util/args.js';
import { GptforgeError } from '../util/errors.js';
import { checkSamplingFlags, precisionOption } from './common.js';

/** `--max-tool-calls`: a whole number from 0 to MAX_TOOL_CALLS_LIMIT, as the server's `max_tool_calls`. */
function toolCallCount(value: string): number {
  const n = number(value);
  if (!Number.isInteger(n) || n < 0 || n > MAX_TOOL_CALLS_LIMIT) throw new InvalidArgumentError(`expects a whole number from 0 to ${MAX_TOOL_CALLS_LIMIT} (the server's max_tool_calls), got "${value}"`);
  return n;
}

export const command = new Command('chat')
  .summary('chat with a model (interactive or --prompt), tools included')
  .description(
    'Chat with an SFT (or RL) model, streaming. The calculator runs inside decoding when the model calls it. Interactive commands: /reset (new conversation), /system <text> (set the system message and reset), /quit. With stdin piped it reads stdin line by line, one question a line (the commands too), and stdout holds only the replies, one a line; the banner and notices go to stderr, and no "you>" prompts are shown (with only stdout piped they go to stderr).',
  )
  .option('-r, --run <dir>', 'run directory (its latest finished chat model: rl/best → rl → sft), a stage directory or a checkpoint', 'runs/small')
  .option('--stage <stage>', "stage to load: sft, rl, dpo, sft-lora … (default: the latest finished assistant stage, rl/best → rl → sft — one stopped part-way is passed over, and said so — else base; the web UI's chat opens with the same)")
  .option('-p, --prompt <text>', 'one-shot: answer this message and exit (for scripts)')
  .option('--system <text>', 'a system message to start the conversation with')
  .option('--temperature <x>', '0 = greedy', number, 0.7)
  .option('--top-k <n>', 'sample from the k most likely tokens (0 = all)', number, 40)
  .option('--top-p <x>', 'nucleus sampling mass, in [0, 1] (1 = off, 0 = only the most likely token)', number, 1)
  .option('--max-tokens <n>', 'longest reply, in tokens', positiveInteger, 128)
  .option('--seed <n>', 'random seed', number, 1)
  .option('--no-tools', 'no calculator: the model must answer directly')
  .option('--max-tool-calls <n>', `most calculator calls in one reply, 0–${MAX_TOOL_CALLS_LIMIT}, then the model must answer (default ${DEFAULT_MAX_TOOL_CALLS}, as the server's max_tool_calls); with --json-schema, --regex or --grammar, the calls allowed before the constrained text (default 1)`, toolCallCount)
  .option('--show-tools', 'print tool calls and their results, on stderr so stdout is the reply alone (the default)')
  .option('--no-show-tools', 'do not print tool calls')
  .option('--json-schema <file>', "each reply's text is JSON this schema file accepts (one calculator call may come before it, --max-tool-calls more; docs/constrain.md)")
  .option('--regex <re>', "each reply's text matches this regular expression in full")
  .option('--grammar <file>', "each reply's text derives from this GBNF grammar file")
  .option('--rag <db>', "answer from passages retrieved (BM25) from this store (gptforge rag index), citing them as [1]; the reply then gets 3/16 of the context unless --max-tokens is given, leaving the rest to passages (48 for a 256-token context, 24 for the tiny preset's 128); docs/rag.md")
  .option('--rag-k <n>', 'passages retrieved per question with --rag', positiveInteger, 3)
  .option('--rag-drop-frame-words', 'with --rag: drop question-frame words (tell, kind, meaning, word…) from the BM25 query too (docs/rag.md)')
  .option('--rag-extractive', 'with --rag: extractive decoding — the reply constrained to "The passages don\'t say." or a quote from one shown passage with its [n] (docs/rag.md)')
  .option('--rag-min-score <x>', 'with --rag: the relevance cutoff — passages whose relative BM25 score (0…1) is below it are not shown; none left → "The passages don\'t say." without the model (docs/rag.md "Relevance cutoff"; 0.74 on the built-in dictionary)', number)
  .option('--rag-refusal-by-cutoff', 'with --rag-min-score and --rag-extractive: only the cutoff refuses — the reply must quote a shown passage (docs/rag.md)')
  .addOption(precisionOption())
  .action(async (o, command) => {
    checkSamplingFlags(o);
    // outside 0…1 every passage would fall below it (or none), so every answer is refused without a word
    if (o.ragMinScore !== undefined && !(o.ragMinScore >= 0 && o.ragMinScore <= 1)) throw new GptforgeError(`--rag-min-score: expects a relative BM25 score from 0 to 1, got ${o.ragMinScore}`, { field: '--rag-min-score' });
    if (o.ragRefusalByCutoff && (o.ragMinScore === undefined || !o.ragExtractive)) throw new GptforgeError('--rag-refusal-by-cutoff needs --rag-min-score (the cutoff that refuses instead of the model) and --rag-extractive (the grammar that makes the model quote)', { field: '--rag-refusal-by-cutoff' });
    // a flag that would be ignored is refused, before the model loads
    if (o.maxToolCalls !== undefined && !o.tools) throw new GptforgeError('--max-tool-calls caps calculator calls, which --no-tools turns off: give one or the other', { field: '--max-tool-calls' });
    // the session's code (models, retrieval, constraints) loads only now: --help and a refused flag stay light
    await (await import('./chat-run.js')).runChat(o, command);
  });
