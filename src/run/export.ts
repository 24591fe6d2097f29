import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readPreferencesJSONL } from '../data/preferences.js';
import { exportLlmcShards, sftConversations, trlDpoLines, trlPromptLine, trlSftLine, writeJsonl } from '../data/export.js';
import { defaultTools } from '../infer/tools/registry.js';
import { latestCheckpoint, loadCheckpoint } from '../model/checkpoint.js';
import { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { sftRowLength } from './sft.js';
import { checkSetting, warnSkips } from './stage-options.js';
import { runLayout } from './layout.js';
import { runPreset } from './preset.js';

/**
 * A run's training data as Hugging Face TRL datasets under `out`: sft/{train,test}.jsonl
 * (messages) from the preset's SFT mixture, read by the SFT stage's loader with the base
 * model's tokenizer and row length (test: the stage's held-out conversations; `sftConversations`),
 * dpo/{train,test}.jsonl (prompt, chosen, rejected) and grpo/{train,test}.jsonl (prompt) from
 * the comparisons (docs/interop.md).
 * @param opts.onWarning lines about the SFT data as the stage says them (skipped lines, unknown keys or tools).
 * @returns what was written, e.g. "sft/train.jsonl (1200)".
 * @throws GptforgeError when the run has neither an SFT section nor comparisons, has an SFT
 *   section but no tokenizer yet, or as the SFT stage does for its data (file, line, field).
 */
export function exportTrl(run: string, out: string, opts: { onWarning?: (line: string) => void } = {}): string[] {
  const preset = runPreset(run);
  const layout = runLayout(run);
  const written: string[] = [];
  if (preset.sft) {
    // the stage's own reading: the tokenizer and context of the model it starts from (base), so
    // the same conversations are too long; before pretraining, the run's tokenizer and the preset's context
    const { tok, blockSize } = sftReader(run, layout.tokenizer, () => preset.model?.blockSize);
    checkSetting(preset.sft.seqLen, 'positive integer', { option: 'seqLen', given: false, preset: { file: layout.preset, field: 'sft.seqLen' } }); // as the stage checks it
    const T = sftRowLength(preset.sft, blockSize);
    const { train, test, skips, warnings } = sftConversations(tok, preset.sft.mixture, T + 1, layout.preset, 'sft.mixture.', { knownTools: defaultTools().names() });
    const warn = opts.onWarning ?? (() => undefined);
    if (skips.length > 0) warnSkips('export', `skipped ${skips.length} SFT conversation${skips.length === 1 ? '' : 's'}, as training does: malformed, or longer than a training row of ${T + 1} tokens (seqLen ${T} + 1)`, skips, warn);
    for (const w of warnings) warn(`export: warning: ${w}`);
    writeJsonl(join(out, 'sft', 'train.jsonl'), train.map(trlSftLine));
    writeJsonl(join(out, 'sft', 'test.jsonl'), test.map(trlSftLine));
    written.push(`sft/train.jsonl (${train.length})`, `sft/test.jsonl (${test.length})`);
  }
  const cmp = layout.comparisons;
  for (const [src, split] of [
    ['train.jsonl', 'train'],
    ['val.jsonl', 'test'],
  ]) {
    if (!existsSync(join(cmp, src))) continue;
    const rankings = readPreferencesJSONL(join(cmp, src)).rankings;
    const lines = rankings.flatMap(trlDpoLines);
    writeJsonl(join(out, 'dpo', `${split}.jsonl`), lines);
    const prompts = [...new Set(rankings.map((r) => r.prompt))].map(trlPromptLine);
    writeJsonl(join(out, 'grpo', `${split}.jsonl`), prompts);
    written.push(`dpo/${split}.jsonl (${lines.length} pairs)`, `grpo/${split}.jsonl (${prompts.length} prompts)`);
  }
  if (written.length === 0) throw new GptforgeError(`nothing to export: no SFT section in the preset and no comparisons (${existsSync(cmp) ? readdirSync(cmp).join(', ') : 'run "gptforge rm" to sample them'})`, { file: run });
  return written;
}

/** The tokenizer and context the SFT stage reads its data with: the base checkpoint's, else the run's tokenizer and the preset's `model.blockSize`. */
function sftReader(run: string, tokenizerFile: string, presetBlockSize: () => number | undefined): { tok: Tokenizer; blockSize: number } {
  const base = latestCheckpoint(runLayout(run).stage('base'));
  if (base) {
    const ck = loadCheckpoint(base, { weights: false });
    if (ck.tokenizerJSON) return { tok: Tokenizer.fromJSON(ck.tokenizerJSON, join(base, 'tokenizer.json')), blockSize: ck.meta.model.blockSize };
  }
  const blockSize = presetBlockSize();
  if (!existsSync(tokenizerFile) || blockSize === undefined)
    throw new GptforgeError('the SFT data is read with the base model\'s tokenizer and context, as training reads it, and there is no base model yet (nor a tokenizer and a preset "model" section): run "gptforge pretrain" (or "data prepare") first', { file: existsSync(tokenizerFile) ? run : tokenizerFile });
  return { tok: Tokenizer.load(tokenizerFile), blockSize };
}

/** The run's pretraining shards as llm.c .bin files in `out`. */
export function exportLlmc(run: string, out: string): { tokens: number; files: string[] } {
  return exportLlmcShards(runLayout(run).data, out);
}
