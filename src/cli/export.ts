import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';
import { parseArgs, formatHelp, str, type FlagSpecs } from '../util/args.js';
import { loadCheckpoint, resolveCheckpoint } from '../model/checkpoint.js';
import { exportHuggingFace } from '../model/export/hf.js';
import { checkpointToGguf, type GgufType } from '../model/export/gguf.js';
import { exportLlmcShards, sftConversations, trlDpoLines, trlPromptLine, trlSftLine, writeJsonl } from '../model/export/datasets.js';
import { readPreferencesJSONL } from '../data/preferences.js';
import { runPreset } from './sft.js';

const FLAGS: FlagSpecs = {
  format: { kind: 'string', help: 'hf (transformers directory) | gguf (llama.cpp file) | trl (SFT and DPO datasets) | llmc (llm.c token shards)' },
  run: { kind: 'string', help: 'run directory, stage directory or checkpoint', alias: 'r', default: 'runs/small' },
  stage: { kind: 'string', help: 'stage to export (base, sft, rl, dpo …; default: the newest of rl, sft, base)' },
  out: { kind: 'string', help: 'output directory (hf, trl, llmc) or .gguf file', alias: 'o' },
  type: { kind: 'string', help: 'GGUF tensor type: F32, F16 or Q8_0', default: 'F32' },
};

export const command: Command = {
  summary: 'export a model (hf, gguf) or the run\'s training data (trl, llmc) for other tools',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp(
        'gptforge export --format hf|gguf|trl|llmc --run <dir> [--stage sft] --out <path>',
        'hf: a transformers directory (GPT-2 for learned positions, GPT-NeoX for rotary; tokenizer.json, tokenizer_config.json with our chat template, generation_config.json). gguf: a llama.cpp model (F32, F16 or Q8_0; the tokenizer must use a pre-split pattern llama.cpp implements). trl: sft/{train,test}.jsonl (messages), dpo/{train,test}.jsonl (prompt, chosen, rejected) and grpo/{train,test}.jsonl (prompt) from the run\'s SFT mixture and comparisons; each folder loads with datasets.load_dataset(folder). llmc: the run\'s pretraining shards as llm.c .bin files. See docs/interop.md and docs/scale.md.',
        FLAGS,
      ));
      return;
    }
    const a = parseArgs(argv, FLAGS, 'export');
    const format = str(a, 'format');
    const out = str(a, 'out');
    const run = str(a, 'run')!;
    if (!format) throw new GptforgeError('give --format hf, gguf, trl or llmc');
    if (!out) throw new GptforgeError('give --out <path>');
    if (format === 'hf' || format === 'gguf') {
      const ck = loadCheckpoint(resolveCheckpoint(run, str(a, 'stage')));
      if (format === 'hf') {
        const r = exportHuggingFace(ck, out);
        console.log(`export: ${ck.dir} → ${out} (${r.arch}: ${r.files.join(', ')})`);
      } else {
        const type = str(a, 'type')!.toUpperCase();
        if (!['F32', 'F16', 'Q8_0'].includes(type)) throw new GptforgeError(`--type must be F32, F16 or Q8_0, not "${type}"`);
        const r = checkpointToGguf(ck, out, { type: type as GgufType });
        console.log(`export: ${ck.dir} → ${out} (${r.arch}, ${type}, tokenizer.ggml.pre "${r.pre}", ${r.tensors} tensors, ${(r.bytes / 1e6).toFixed(1)} MB)`);
      }
      return;
    }
    if (format === 'llmc') {
      const r = exportLlmcShards(join(run, 'data'), out);
      console.log(`export: ${r.tokens} tokens in ${r.files.length} llm.c shards → ${out}`);
      return;
    }
    if (format === 'trl') {
      const preset = runPreset(run);
      const written: string[] = [];
      if (preset.sft) {
        const { train, test } = sftConversations(preset.sft.mixture, join(run, 'preset.json'));
        writeJsonl(join(out, 'sft', 'train.jsonl'), train.map(trlSftLine));
        writeJsonl(join(out, 'sft', 'test.jsonl'), test.map(trlSftLine));
        written.push(`sft/train.jsonl (${train.length})`, `sft/test.jsonl (${test.length})`);
      }
      const cmp = join(run, 'comparisons');
      for (const [src, split] of [['train.jsonl', 'train'], ['val.jsonl', 'test']]) {
        if (!existsSync(join(cmp, src))) continue;
        const rankings = readPreferencesJSONL(join(cmp, src)).rankings;
        const lines = rankings.flatMap(trlDpoLines);
        writeJsonl(join(out, 'dpo', `${split}.jsonl`), lines);
        const prompts = [...new Set(rankings.map((r) => r.prompt))].map(trlPromptLine);
        writeJsonl(join(out, 'grpo', `${split}.jsonl`), prompts);
        written.push(`dpo/${split}.jsonl (${lines.length} pairs)`, `grpo/${split}.jsonl (${prompts.length} prompts)`);
      }
      if (written.length === 0) throw new GptforgeError(`nothing to export: no SFT section in the preset and no comparisons (${existsSync(cmp) ? readdirSync(cmp).join(', ') : 'run "gptforge rm" to sample them'})`, { file: run });
      console.log(`export: ${written.join(', ')} → ${out}`);
      return;
    }
    throw new GptforgeError(`unknown --format "${format}" (hf, gguf, trl, llmc)`);
  },
};
