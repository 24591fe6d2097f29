import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkPresetName, loadPreset, PRESET_KEYS, presetFile, presetsDir, type PretrainPreset } from './presets.js';
import { runLayout } from './layout.js';
import { parseJsonFile } from '../util/json.js';
import { checkKeys } from './preset-keys.js';

export { checkPresetName, presetNames } from './presets.js';

/**
 * The run's preset (pretraining writes it to `<run>/preset.json`), or the named one (`tiny`,
 * `small`, or a path). It covers every stage: pretraining at the top level, then its `sft`,
 * `rm`, `rl` and `dpo` sections.
 *
 * @throws GptforgeError naming the file when preset.json is not valid JSON, has a key no section
 *   knows (PRESET_KEYS, src/run/presets.ts), or the preset is unknown.
 */
export function runPreset(runDir: string, name?: string): PretrainPreset {
  const saved = runLayout(runDir).preset;
  if (runPresetFile(runDir, name) === saved) {
    const p = parseJsonFile(readFileSync(saved, 'utf8'), saved) as PretrainPreset;
    checkKeys(p, PRESET_KEYS, saved); // an edited run preset: a typo is refused, not ignored
    // a run pretrained before its preset had an sft section: take the section from the preset of that name
    if (!p.sft && existsSync(join(presetsDir(), `pretrain.${p.name}.json`))) p.sft = loadPreset(p.name).preset.sft;
    return p;
  }
  checkPresetName(name ?? 'small');
  return loadPreset(name ?? 'small').preset;
}

/**
 * The file `runPreset(runDir, name)` reads: where an error about one of its fields points
 * (`<run>/preset.json`, or the named preset's file; the path of an unknown name as given).
 */
export function runPresetFile(runDir: string, name?: string): string {
  const saved = runLayout(runDir).preset;
  return name === undefined && existsSync(saved) ? saved : presetFile(name ?? 'small');
}

/**
 * The run preset: one JSON file covers every stage (pretraining at the top level; `sft`, `rm`,
 * `rl`, `dpo` sections). `PretrainPreset` is its historical name (src/run/presets.ts).
 */
export type RunPreset = PretrainPreset;
export type { PretrainPreset, SftPreset, RmPreset, RlPreset, DpoPreset, TechniquesPreset } from './presets.js';
export { loadPreset } from './presets.js';
