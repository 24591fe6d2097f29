import { basename, dirname } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { type BasePrecision, parseBasePrecision } from '../model/quantize.js';
import { number } from '../util/args.js';
import { checkGenerationOptions } from '../infer/generation-options.js';
import type { PretrainPreset } from '../run/presets.js';

/**
 * Pieces the command modules share (not a command itself): progress lines to stderr, and the
 * pretraining flags that `pretrain` and `pipeline` both take.
 */

/** Where a stage's progress lines go: stderr, or nowhere with --quiet. */
export function stderrLog(quiet: boolean | undefined): ((line: string) => void) | undefined {
  return quiet ? undefined : (line) => console.error(line);
}

/** A command named `name` with the preset and run flags of `pretrain` and `pipeline`, one line per flag. */
export function pretrainCommand(name: string) {
  // in `pipeline` these flags shape the pretraining stage only (the later stages take the preset's sections)
  const pre = name === 'pipeline' ? 'pretraining: ' : '';
  return new Command(name)
    .option('--preset <preset>', 'tiny | small | a preset JSON file', 'small')
    .addOption(legacyPresetShort())
    .option('-r, --run <dir>', 'run directory (default runs/<preset>)')
    .option('--mixture <file>', "mixture config JSON (overrides the preset's)")
    .option('--max-steps <n>', `${name === 'pipeline' ? 'pretraining only (SFT, RM and RL: --sft-max-steps, --rm-max-steps, --rl-max-steps): ' : ''}optimizer steps (raised on a resumed run, the learning rate decays on from where it got to: no re-warm); default: the preset's train.maxSteps`, number)
    .option('--batch-size <n>', `${pre}rows per micro-batch (default: the preset's batchSize)`, number)
    .option('--grad-accum <n>', `${pre}micro-batches per step (default: the preset's train.gradAccum)`, number)
    .option('--lr <x>', `${pre}peak learning rate (default: the preset's train.lr)`, number)
    .option('--eval-every <n>', `${pre}evaluate every N steps (default: the preset's train.evalEvery)`, number)
    .option('--checkpoint-every <n>', `${pre}checkpoint every N steps (default: the preset's train.checkpointEvery)`, number)
    .option('--log-every <n>', `${pre}log metrics every N steps`, number)
    .option('--fresh', "ignore existing checkpoints and start over (and retrain the run's tokenizer when the mixture's tokenizer section changed); the replaced run's checkpoints past the new step are removed, each named, as it saves")
    .option('--no-samples', 'do not print samples at the end')
    .option(
      '--quiet',
      name === 'pipeline'
        ? "no progress bars, charts or stage reports; a line as each stage starts (stage 1's tokenizer, data and training each), each stage's measured time, the samples and the results still print"
        : 'no progress bars or charts; a line as the tokenizer, the data and the training start, and the summary line, still print',
    );
}

/**
 * `-p` was --preset in pretrain, pipeline and sft but --prompt in chat, sample and rm score; it is
 * --prompt now (as llama.cpp's `-p`), and `-p <preset>` here still works, hidden, with a warning.
 */
export function legacyPresetShort() {
  return new Option('-p <preset>', 'old short form of --preset').hideHelp();
}

/** The preset of `--preset`, or of the old `-p` (with a warning that it is going). */
export function presetFlag<T extends string | undefined>(o: { preset?: T; p?: string }): T | string | undefined {
  if (o.p === undefined) return o.preset;
  console.error('gptforge: warning: -p for --preset is deprecated (-p is --prompt in chat, sample and rm score); write --preset');
  return o.p;
}

/** The preset the pretraining flags name, with their overrides, and its run directory. */
export async function presetFromFlags(o: { preset: string; p?: string; run?: string; maxSteps?: number; batchSize?: number; gradAccum?: number; lr?: number; evalEvery?: number; checkpointEvery?: number; logEvery?: number }): Promise<{ runDir: string; preset: PretrainPreset; file: string }> {
  const { resolvePreset } = await import('../run/pretrain.js'); // loaded when a run starts, not for --help (main.ts)
  return resolvePreset(presetFlag(o) ?? o.preset, o);
}

/**
 * The sampling flags checked before the model loads (seconds on the small preset; a missing run
 * would hide them): the library's own validator (`checkGenerationOptions`,
 * src/infer/processors.ts), whose fields the CLI prints as the flags (`--temperature`,
 * `--top-k`, `--top-p`, `--max-tokens`, `--seed`).
 * @throws GptforgeError naming the field.
 */
export function checkSamplingFlags(o: { temperature?: number; topK?: number; topP?: number; maxTokens?: number; seed?: number }): void {
  checkGenerationOptions({ temperature: o.temperature, topK: o.topK, topP: o.topP, maxTokens: o.maxTokens, seed: o.seed });
}

/** `--lora <spec>`: sft, rm, rl and dpo train an adapter instead of every weight (docs/lora.md). */
export function loraOption() {
  return new Option(
    '--lora <spec>',
    'train a LoRA adapter instead of every weight: r=8,alpha=16,targets=qkv,proj[,dropout=0.05][,rslora][,tokens=special|top:k|all|none|ids] (targets: qkv, proj, up, down, all-linear or module names; tokens: embedding rows that train too — special,top:512 by default in sft (at most an eighth of the vocabulary; top:k, the k most frequent answer tokens, only there), none elsewhere; docs/lora.md)',
  );
}

/** `--base-name <id>` beside `--lora`: what the adapter's adapter_config.json names its base by (AdapterOptions.baseName). */
export function baseNameOption() {
  return new Option(
    '--base-name <id>',
    "with --lora: the adapter_config.json's base_model_name_or_path — the name transformers loads the base by, as export --format peft --base-name records it: a Hub repo id (you/tiny-sft) or the path of the base's export (gptforge export --format hf --stage <from>); default the base checkpoint's path (ours, not a transformers model; docs/interop.md)",
  );
}

/** `--precision <p>`: decode on f32 weights, or on Q8_0 / Q4_0 blocks with int8 activations (src/model/inference-precision.ts). */
export function precisionOption() {
  return new Option('--precision <p>', 'decode on f32 weights, or on q8_0 / q4_0 blocks with int8 activations (docs/lora.md)').argParser((v) => parseBasePrecision(v, '--precision')).default('f32' as BasePrecision);
}

/** `--base-precision <p>`: the frozen base held in f32, q8_0 or q4_0 (ggml's blocks). */
export function basePrecisionOption() {
  return new Option('--base-precision <p>', 'hold the frozen base in f32, q8_0 or q4_0 (ggml blocks; q8_0/q4_0 need --lora)').argParser((v) => parseBasePrecision(v, '--base-precision'));
}

/**
 * The stage a checkpoint answers as: its stage directory's name (`sft-lora-merged`, what
 * --stage named) and, when the checkpoint was trained under another name (a merge keeps its
 * adapter's `sft-lora`), that too; the base model's directory `base` is the `pretrain` stage.
 * A stage's early-stopping pick (`rl/best/step-0000002`) is that stage's, said so: `best` is
 * not a stage (`--stage best` finds none).
 * @example stageLabel('runs/tiny/sft-lora-merged/step-0000040', 'sft-lora') // 'sft-lora-merged, trained as sft-lora'
 * @example stageLabel('runs/tiny/rl/best/step-0000002', 'rl') // 'rl, its early-stopping best'
 */
export function stageLabel(dir: string, trainedAs: string): string {
  let d = /^step-\d+$/.test(basename(dir)) ? dirname(dir) : dir;
  const best = basename(d) === 'best';
  if (best) d = dirname(d);
  const dirStage = basename(d);
  const name = dirStage === trainedAs || (dirStage === 'base' && trainedAs === 'pretrain') ? trainedAs : `${dirStage}, trained as ${trainedAs}`;
  return best ? `${name}, its early-stopping best` : name;
}
