import { join } from 'node:path';
import { interruptSignal } from '../util/interrupt.js';
import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { defaultTools } from '../infer/tools/registry.js';
import { taskByName } from '../data/synthetic/tasks.js';
import { readJSONL } from '../data/jsonl.js';
import { taskPrompts, type TaskPrompt } from '../train/comparisons.js';
import { DEFAULT_RL, trainRL, validateRL, type RLAlgo, type RLConfig } from '../train/rl.js';
import { MetricsLog } from '../train/metrics.js';
import { lossCurveSVG } from '../eval/plot.js';
import { LORA_FLAGS, adapterOptions } from './lora-flags.js';
import { prepareAdapter } from '../train/adapter.js';
import { loadModel } from './models.js';
import { runPreset, sftRows } from './sft.js';
import { PackedLoader } from '../data/sft.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { holdRunLock } from '../util/lock.js';

const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory with SFT (sft/) and reward (rm/) models', alias: 'r', default: 'runs/small' },
  algo: { kind: 'string', help: 'ppo (default), grpo or reinforce' },
  prompts: { kind: 'strings', help: 'your prompts JSONL ({"prompt": "…", "task"?: family}), added to the task families\' prompts (repeatable)' },
  'only-prompts': { kind: 'boolean', help: 'use the --prompts files alone' },
  'checker-bonus': { kind: 'number', help: 'add this to the RM score when the task checker accepts the reply' },
  'kl-coef': { kind: 'number', help: 'β, the KL penalty to the SFT model' },
  'ptx-coef': { kind: 'number', help: 'γ, weight of the SFT loss mixed into every update (PPO-ptx; 0 = off)' },
  'max-steps': { kind: 'number', help: 'optimizer steps (each rollout batch gives epochs × minibatches of them)' },
  lr: { kind: 'number', help: 'peak learning rate' },
  fresh: { kind: 'boolean', help: 'start over from the SFT model' },
  quiet: { kind: 'boolean', help: 'no progress bars' },
  ...LORA_FLAGS,
};

/** Where each algorithm's checkpoints go: rl/ (PPO, the pipeline's), rl-grpo/, rl-reinforce/. */
export function rlStage(algo: RLAlgo): string {
  return algo === 'ppo' ? 'rl' : `rl-${algo}`;
}

function readPrompts(file: string): TaskPrompt[] {
  const out: TaskPrompt[] = [];
  readJSONL(file, 'prompts', (obj, where) => {
    const o = (typeof obj === 'object' && obj !== null ? obj : {}) as { prompt?: unknown; task?: unknown };
    if (typeof o.prompt !== 'string' || o.prompt.trim() === '') throw new GptforgeError('expected a non-empty string', { ...where, field: 'prompt' });
    if (o.task !== undefined) {
      if (typeof o.task !== 'string') throw new GptforgeError('expected a task family name', { ...where, field: 'task' });
      taskByName(o.task);
    }
    out.push({ prompt: o.prompt, task: o.task as string | undefined });
  });
  if (out.length === 0) throw new GptforgeError('no prompts', { file });
  return out;
}

/** The SFT mixture of the run's preset, packed ptxRows rows at a time, for the PPO-ptx loss. */
function ptxLoader(runDir: string, preset: ReturnType<typeof runPreset>, tok: Tokenizer, blockSize: number, rows: number): PackedLoader {
  if (!preset.sft) throw new GptforgeError(`ptxCoef > 0 mixes in the SFT loss, but preset "${preset.name}" has no "sft" section`, { field: 'ptxCoef' });
  if (!(Number.isInteger(rows) && rows >= 1)) throw new GptforgeError(`ptxRows must be a whole number ≥ 1, got ${rows}`, { field: 'ptxRows' });
  const { T, data } = sftRows(tok, preset.sft, blockSize, join(runDir, 'preset.json'));
  // its own seed, so the rows differ from the order SFT read them in
  return new PackedLoader(data.train, rows, T, tok.specialId('<|pad|>'), (preset.sft.mixture.seed ?? 1337) + 1);
}

export async function runRl(argv: string[]): Promise<{ runDir: string; stage: string }> {
  const a = parseArgs(argv, FLAGS, 'rl');
  const runDir = str(a, 'run')!;
  holdRunLock(runDir); // one writer per run (src/util/lock.ts)
  const quiet = bool(a, 'quiet');
  const preset = runPreset(runDir);
  if (!preset.rl) throw new GptforgeError(`preset "${preset.name}" has no "rl" section`, { field: 'rl' });
  const rl: RLConfig = { ...DEFAULT_RL, ...preset.rl.config };
  if (str(a, 'algo') !== undefined) rl.algo = str(a, 'algo') as RLAlgo;
  if (rl.algo === 'grpo' && rl.groupSize < 2) rl.groupSize = 4;
  if (rl.algo !== 'grpo') rl.groupSize = 1;
  if (num(a, 'checker-bonus') !== undefined) rl.checkerBonus = num(a, 'checker-bonus')!;
  if (num(a, 'kl-coef') !== undefined) rl.klCoef = num(a, 'kl-coef')!;
  if (num(a, 'ptx-coef') !== undefined) rl.ptxCoef = num(a, 'ptx-coef')!;
  const cfg = { ...preset.rl.train };
  if (num(a, 'max-steps') !== undefined) cfg.maxSteps = num(a, 'max-steps')!;
  if (num(a, 'lr') !== undefined) cfg.lr = num(a, 'lr')!;

  const sft = loadModel(runDir, 'sft', { fresh: true });
  const lora = adapterOptions(a);
  // with an adapter the reference is the policy's own base, adapter disabled: no second copy
  const ref = lora.lora === undefined ? loadModel(runDir, 'sft') : null;
  const rm = loadModel(runDir, 'rm');
  if (!rm.model.hasScalarHead) throw new GptforgeError('the reward model checkpoint has no reward head (score.weight); train it with "gptforge rm"', { file: rm.dir });
  if (rm.tok.hash() !== sft.tok.hash()) throw new GptforgeError(`the policy (${sft.dir}) and the reward model (${rm.dir}) use different tokenizers; train the reward model from this SFT model`, { file: rm.dir });
  const prompts: TaskPrompt[] = bool(a, 'only-prompts') ? [] : taskPrompts('train', preset.rl.prompts, 777);
  for (const f of strs(a, 'prompts')) prompts.push(...readPrompts(f));
  const policy = sft.model;
  if (rl.algo === 'ppo') policy.addScalarHead(); // the value head, zero-initialised
  const stage = rlStage(rl.algo);
  const adapter = prepareAdapter(stage, policy, sft.dir, lora);
  const ptx = rl.ptxCoef > 0 ? ptxLoader(runDir, preset, sft.tok, policy.config.blockSize, rl.ptxRows) : undefined;
  validateRL(rl, { policy, rm: rm.model, prompts, ptx }, rm.dir);
  if (!quiet) console.error(`rl: ${rl.algo} from ${sft.dir} against ${rm.dir}; ${prompts.length} prompts, ${rl.promptsPerRollout}×${rl.groupSize} replies per rollout, ${cfg.maxSteps} updates, β ${rl.klCoef}${ptx ? `, SFT loss mixed in (γ ${rl.ptxCoef}, ${rl.ptxRows} rows of ${ptx.T} per update)` : ''}`);
  const result = await trainRL(
    {
      policy,
      ref: ref?.model ?? policy,
      adapter,
      rm: rm.model,
      tok: sft.tok,
      prompts,
      tools: defaultTools(),
      check: (prompt, task, text) => taskByName(task).check(prompt, text),
      stage,
      ptx,
    },
    rl,
    cfg,
    { runDir, stageDir: join(runDir, stage), resume: !bool(a, 'fresh'), quiet, signal: interruptSignal() },
  );
  const history = new MetricsLog(runDir).read(stage);
  const series = (key: string, name: string) => ({ name, points: history.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key] as number] as [number, number]) });
  atomicWriteFile(join(runDir, `${stage}-curves.svg`), lossCurveSVG([series('objective/scores', 'RM score'), series('objective/kl', 'KL to SFT'), series('rollout/accuracy', 'task accuracy')], { title: `${rl.algo.toUpperCase()}: reward, KL and accuracy`, xLabel: 'update', yLabel: 'value' }));
  const last = history[history.length - 1] ?? {};
  if (!quiet) console.log(`rl: ${result.interrupted ? 'stopped' : 'done'} at update ${result.step}; RM score ${Number(last['objective/scores']).toFixed(3)}, KL ${Number(last['objective/kl']).toFixed(3)}; checkpoint ${result.checkpoint}`);
  if (result.interrupted) process.exitCode = 130;
  return { runDir, stage };
}

export const command: Command = {
  summary: 'reinforcement learning against the reward model (PPO, GRPO, REINFORCE)',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(
        formatHelp(
          'gptforge rl [--run runs/<name>] [--algo ppo|grpo|reinforce] [--prompts my.jsonl] [flags]',
          'Trains the SFT model against the reward model: sample replies (tools work), score them with the RM at <|reward|>, reinforce the sampled tokens, with a KL leash to the frozen SFT model. PPO (value head on the policy trunk, GAE, clipped ratio and value loss), GRPO (group-relative advantages, KL in the loss) or the talk\'s plain REINFORCE. Checkpoints in <run>/rl (PPO), <run>/rl-grpo, <run>/rl-reinforce; TRL\'s metric names in metrics.jsonl.',
          FLAGS,
        ),
      );
      return;
    }
    await runRl(argv);
  },
};
