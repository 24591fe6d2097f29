import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { TECHNIQUES, type Technique } from '../assist/names.js';
import type { FeedbackSource } from '../data/synthetic/reflect.js';
import { closestKey } from '../run/preset-keys.js';
import { GptforgeError } from '../util/errors.js';
import { number } from '../util/args.js';
import { checkSamplingFlags, precisionOption } from './common.js';

/** `gptforge ask`: parse → src/assist → print. Keep it thin (the logic is the library's). */
export const command = new Command('ask')
  .summary('answer with a prompting technique (direct, cot, self-consistency, reflect, tot) and print the trace')
  .description('Answer one question with a prompting technique and print what it did: the reply, or the k samples with their answers and the votes, the review rounds, or the tree (docs/techniques.md).')
  .argument('[question...]', 'the question')
  .option('-r, --run <dir>', 'run directory (its newest chat model), a stage directory or a checkpoint', 'runs/small')
  .option('--stage <stage>', 'stage to load: sft, rl, dpo, sft-lora … (default: as chat, the latest finished of rl/best → rl → sft, else base)')
  .option('-t, --technique <name>', `one of ${TECHNIQUES.join(', ')} (cot and self-consistency append "Let's think step by step." to the question; reflect is for arithmetic questions only, "What is A plus B?"; tot for game-of-24 questions only: it reads the question's numbers)`, 'direct')
  .option('--k <n>', 'self-consistency: samples sharing one prefill', number, 8)
  .option('--temperature <x>', 'self-consistency: sampling temperature', number, 0.7)
  .option('--streams <n>', 'self-consistency: samples share decoding rows only within their stream (sample i in stream i mod n); on a model with randomized position ids (AB5) each stream draws its own position ids, so --temperature 0 --streams 4 votes over 4 greedy decodes (docs/techniques.md)', number, 1)
  .option('--max-tokens <n>', 'longest reply, in tokens', number, 320)
  .option('--seed <n>', 'seed of the first sample (and, on a model with randomized position ids, of its position draws)', number, 1)
  .option('--system <text>', 'a system message before the question')
  .option('--rm <path>', 'self-consistency: also weigh the votes by this reward model (a run dir with rm/, a stage directory such as <run>/rm2 from rm --into, or a checkpoint)')
  .option('--feedback <source>', 'reflect: self (the model alone), tool (the calculator recomputes the sum) or verdict (right/wrong from the long-addition checker: an oracle verifier)', 'self')
  .option('--rounds <n>', 'reflect: most review rounds', number, 2)
  .option('--breadth <n>', 'tot: states kept per level', number, 5)
  .option('--proposals <n>', 'tot: most thoughts taken per state', number, 6)
  .option('--calculator', 'tot: the calculator computes each proposed operation (the model picks the numbers and the operation)')
  .option('--proposal-samples <n>', 'tot: sampled proposal replies per state besides the greedy one', number, 0)
  .option('--value <path>', "tot: value states with this learned value model (a run dir with rm/ trained on tot-value-data rankings) instead of the model's own judgement")
  .option('--tools', 'let the model call the calculator (off by default, unlike chat: a technique is measured on the model alone; the calls are printed in the trace)')
  .addOption(precisionOption())
  .action(async (words, o) => {
    const question = words.join(' ').trim();
    if (!question) throw new GptforgeError('give the question as an argument: gptforge ask --run <dir> "What is 123 plus 456?"');
    if (!(TECHNIQUES as readonly string[]).includes(o.technique)) {
      const near = closestKey(o.technique, TECHNIQUES);
      throw new GptforgeError(`expects one of ${TECHNIQUES.join(', ')}, got "${o.technique}"${near ? `; did you mean "${near}"?` : ''}`, { field: '--technique' });
    }
    const { FEEDBACK_SOURCES } = await import('../data/synthetic/reflect.js');
    if (!(FEEDBACK_SOURCES as readonly string[]).includes(o.feedback)) throw new GptforgeError(`expects one of ${FEEDBACK_SOURCES.join(', ')}, got "${o.feedback}"`, { field: '--feedback' });
    // checked before the model loads (seconds on the small preset), named as the user typed them
    for (const [flag, v, min] of [
      ['--k', o.k, 1],
      ['--rounds', o.rounds, 1],
      ['--breadth', o.breadth, 1],
      ['--proposals', o.proposals, 1],
      ['--max-tokens', o.maxTokens, 1],
      ['--proposal-samples', o.proposalSamples, 0],
      ['--streams', o.streams, 1],
    ] as const) {
      if (!Number.isInteger(v) || v < min) throw new GptforgeError(`${flag}: expects a whole number ≥ ${min}, got ${v}`, { field: flag });
    }
    // a flag of another technique is ignored: say so rather than let it pass for applied
    const uses: Record<string, readonly string[]> = { k: ['self-consistency'], temperature: ['self-consistency'], streams: ['self-consistency'], rm: ['self-consistency'], feedback: ['reflect'], rounds: ['reflect'], breadth: ['tot'], proposals: ['tot'], calculator: ['tot'], value: ['tot'], proposalSamples: ['tot'] };
    for (const [name, techniques] of Object.entries(uses)) {
      if (command.getOptionValueSource(name) === 'cli' && !techniques.includes(o.technique)) console.error(`ask: --${name} is for ${techniques.join(', ')}; ignored with --technique ${o.technique}`);
    }
    if (o.technique === 'self-consistency' && o.streams > o.k) console.error(`ask: --streams ${o.streams} > --k ${o.k}: only ${o.k} stream${o.k === 1 ? '' : 's'} get a sample`);
    // every technique: a bad value is refused even where it is ignored (it is a mistake either way)
    checkSamplingFlags({ temperature: o.temperature });
    const [{ ask, formatTrace }, { loadValueModel }, { longAddition }, { ChatEngine }, { defaultTools }, { defaultChatStage, loadGenerationModel, loadRewardModel }] = await Promise.all([
      import('../assist/ask.js'),
      import('../assist/tot-value.js'),
      import('../data/synthetic/longarith.js'),
      import('../infer/engine.js'),
      import('../infer/tools/registry.js'),
      import('../run/models.js'),
    ]);
    // no --stage: chat's rule (defaultChatStage: the latest finished of rl/best → rl → sft)
    const choice = o.stage === undefined ? defaultChatStage((s) => join(o.run, s)) : null;
    const { model, tok, dir } = loadGenerationModel(o.run, o.stage ?? choice?.stage, { precision: o.precision });
    console.error(`ask: ${o.technique} with ${dir}${choice ? ` (${choice.stage}: ${choice.why})` : ''}`); // which checkpoint answers: a run holds several
    // npm start trains the techniques' addition model apart, in <run>/techniques: the run's chat model is not it
    const techniquesRun = join(o.run, 'techniques');
    if (o.stage === undefined && !resolve(dir).startsWith(resolve(techniquesRun)) && ['cot', 'self-consistency', 'reflect'].includes(o.technique)) {
      if (existsSync(techniquesRun)) console.error(`ask: ${techniquesRun} holds the long-addition model the pipeline trained for the techniques; --run ${techniquesRun} asks it`);
      // as eval --techniques warns: a pipeline run without --techniques has only its chat model, never trained on long addition
      else if (existsSync(join(o.run, 'preset.json'))) console.error(`ask: ${o.run} has no techniques model (${techniquesRun}, made by gptforge pipeline --techniques); answering with its chat model, which never trained on the techniques' families (docs/techniques.md)`);
    }
    const tot = totModelNotice(o.run, o.technique);
    if (tot) console.error(tot);
    // --seed also picks the position draws of a model with randomized position ids: ask() seeds them
    if (model.config.randomPositions === undefined && o.technique === 'self-consistency' && o.streams > 1) console.error('ask: this model has no randomized position ids: --streams only splits the shared decoding rows (docs/techniques.md)');
    // greedy decoding draws nothing: the k samples repeat one reply (per stream, on a model with randomized position ids)
    if (o.technique === 'self-consistency' && o.temperature === 0 && o.k > 1) {
      const distinct = model.config.randomPositions === undefined ? 1 : Math.min(o.streams, o.k);
      console.error(`ask: --temperature 0 decodes greedily: the ${o.k} samples are ${distinct === 1 ? 'one reply repeated' : `${distinct} greedy decodes (one per stream), each repeated`}, so the vote counts copies (a temperature > 0 samples different replies)`);
    }
    const rm = o.rm && o.technique === 'self-consistency' ? loadRewardModel(o.rm) : undefined; // ignored (and said so above) with another technique
    const trace = ask(new ChatEngine(model, tok), question, {
      technique: o.technique as Technique,
      k: o.k,
      temperature: o.temperature,
      historyStreams: o.streams,
      maxTokens: o.maxTokens,
      seed: o.seed,
      system: o.system,
      tools: o.tools ? defaultTools() : null,
      rewardModel: rm && { model: rm.model, tok: rm.tok },
      feedback: o.feedback as FeedbackSource,
      rounds: o.rounds,
      verify: (q, ans) => longAddition.check(q, ans),
      breadth: o.breadth,
      proposals: o.proposals,
      calculator: o.calculator,
      proposalSamples: o.proposalSamples,
      valueModel: o.value && o.technique === 'tot' ? loadValueModel(o.value) : undefined,
    });
    console.log(formatTrace(trace));
  });

/**
 * The stderr line `ask --technique tot` prints on a pipeline run (its chat model) or on the
 * techniques model the pipeline trains into `<run>/techniques`: neither ever saw the game of 24
 * (the countdown family), so their thoughts are not valid steps and the tree is pruned to nothing
 * ("path: every branch pruned") — without this line a newcomer could not tell the technique from
 * the model. Null for any other technique or directory (a model trained on COUNTDOWN_MIXTURE,
 * model C in docs/techniques.md, is a run without preset.json).
 */
export function totModelNotice(run: string, technique: string): string | null {
  if (technique !== 'tot') return null;
  const pipelineRun = existsSync(join(run, 'preset.json')) || (basename(resolve(run)) === 'techniques' && existsSync(join(dirname(resolve(run)), 'preset.json')));
  if (!pipelineRun) return null;
  return `ask: tot needs a game-of-24 model, and a pipeline run has none: its chat model and its techniques model (long addition) never trained on the countdown family, so their thoughts are pruned. Train one as docs/techniques.md trained model C (900 steps: 11 min on 2 shared cores): TRAIN_BATCH=8 node dist/bench/techniques.js train runs/countdown 900 countdown, then ask with --run runs/countdown`;
}
