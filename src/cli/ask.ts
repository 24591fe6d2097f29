import { ask, formatTrace, TECHNIQUES, type Technique } from '../assist/ask.js';
import { longAddition } from '../data/synthetic/longarith.js';
import { FEEDBACK_SOURCES, type FeedbackSource } from '../data/synthetic/reflect.js';
import { ChatEngine } from '../infer/engine.js';
import { defaultTools } from '../infer/tools/registry.js';
import { loadModel } from '../run/models.js';
import { GptforgeError } from '../util/errors.js';
import { bool, formatHelp, num, parseArgs, str, type FlagSpecs } from '../util/args.js';
import type { Command } from './command.js';

/** `gptforge ask`: parse → src/assist → print. Keep it thin (the logic is the library's). */
const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory (its newest chat model), a stage directory or a checkpoint', alias: 'r', default: 'runs/small' },
  stage: { kind: 'string', help: 'stage to load: sft, rl, dpo … (default: the newest)' },
  technique: { kind: 'string', help: `one of ${TECHNIQUES.join(', ')}`, alias: 't', default: 'direct' },
  k: { kind: 'number', help: 'self-consistency: samples sharing one prefill', default: 8 },
  temperature: { kind: 'number', help: 'self-consistency: sampling temperature', default: 0.7 },
  'max-tokens': { kind: 'number', help: 'longest reply, in tokens', default: 320 },
  seed: { kind: 'number', help: 'seed of the first sample', default: 1 },
  system: { kind: 'string', help: 'a system message before the question' },
  rm: { kind: 'string', help: 'self-consistency: also weigh the votes by this reward model (a run dir with rm/, or a checkpoint)' },
  feedback: { kind: 'string', help: 'reflect: self (the model alone), tool (the calculator recomputes the sum) or verdict (right/wrong from the long-addition checker: an oracle verifier)', default: 'self' },
  rounds: { kind: 'number', help: 'reflect: most review rounds', default: 2 },
  breadth: { kind: 'number', help: 'tot: states kept per level', default: 5 },
  proposals: { kind: 'number', help: 'tot: most thoughts taken per state', default: 6 },
  tools: { kind: 'boolean', help: 'let the model call the calculator' },
};

export const command: Command = {
  summary: 'answer with a prompting technique (direct, cot, self-consistency, reflect, tot) and print the trace',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge ask --run <dir> --technique direct|cot|self-consistency|reflect|tot "question"', 'Answer one question with a prompting technique and print what it did: the reply, or the k samples with their answers and the votes, the review rounds, or the tree (docs/techniques.md).', FLAGS));
      return;
    }
    const a = parseArgs(argv, FLAGS, 'ask');
    const question = a.positionals.join(' ').trim();
    if (!question) throw new GptforgeError('give the question as an argument: gptforge ask --run <dir> "What is 123 plus 456?"');
    const technique = str(a, 'technique')!;
    if (!(TECHNIQUES as readonly string[]).includes(technique)) throw new GptforgeError(`unknown technique "${technique}" (one of: ${TECHNIQUES.join(', ')})`, { field: '--technique' });
    const feedback = str(a, 'feedback')!;
    if (!(FEEDBACK_SOURCES as readonly string[]).includes(feedback)) throw new GptforgeError(`unknown feedback "${feedback}" (one of: ${FEEDBACK_SOURCES.join(', ')})`, { field: '--feedback' });
    const { model, tok } = loadModel(str(a, 'run')!, str(a, 'stage'));
    const rmPath = str(a, 'rm');
    const rm = rmPath ? loadModel(rmPath, /[\\/]rm([\\/]|$)/.test(rmPath) ? undefined : 'rm') : undefined;
    const trace = ask(new ChatEngine(model, tok), question, {
      technique: technique as Technique,
      k: num(a, 'k'),
      temperature: num(a, 'temperature'),
      maxTokens: num(a, 'max-tokens'),
      seed: num(a, 'seed'),
      system: str(a, 'system'),
      tools: bool(a, 'tools') ? defaultTools() : null,
      rewardModel: rm && { model: rm.model, tok: rm.tok },
      feedback: feedback as FeedbackSource,
      rounds: num(a, 'rounds'),
      verify: (q, ans) => longAddition.check(q, ans),
      breadth: num(a, 'breadth'),
      proposals: num(a, 'proposals'),
    });
    console.log(formatTrace(trace));
  },
};
