import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readPreferencesJSONL } from '../data/preferences.js';
import { exportLlmcShards, sftConversations, trlDpoLines, trlPromptLine, trlSftLine, writeJsonl } from '../data/export.js';
import { GptforgeError } from '../util/errors.js';
import { runLayout } from './layout.js';
import { runPreset } from './preset.js';

/**
 * A run's training data as Hugging Face TRL datasets under `out`: sft/{train,test}.jsonl
 * (messages) from the preset's SFT mixture, split as the SFT stage splits it (test: its held-out share), dpo/{train,test}.jsonl (prompt, chosen, rejected)
 * and grpo/{train,test}.jsonl (prompt) from the comparisons (docs/interop.md).
 * @returns what was written, e.g. "sft/train.jsonl (1200)".
 * @throws GptforgeError when the run has neither an SFT section nor comparisons.
 */
export function exportTrl(run: string, out: string): string[] {
  const preset = runPreset(run);
  const layout = runLayout(run);
  const written: string[] = [];
  if (preset.sft) {
    const { train, test } = sftConversations(preset.sft.mixture, layout.preset);
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

/** The run's pretraining shards as llm.c .bin files in `out`. */
export function exportLlmc(run: string, out: string): { tokens: number; files: string[] } {
  return exportLlmcShards(runLayout(run).data, out);
}
