import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { GptforgeError } from '../util/errors.js';

export const command = new Command('export')
  .summary("export a model (hf, gguf), a LoRA stage (peft) or the run's training data (trl, llmc) for other tools")
  .description(
    "hf: a transformers directory (GPT-2 for learned positions, GPT-NeoX for rotary; tokenizer.json, tokenizer_config.json with our chat template, generation_config.json). peft: a LoRA stage as <out>/base (its base, as hf) and <out>/adapter (PEFT's files with the module names and row order of that export: GPT-NeoX's for rotary models). gguf: a llama.cpp model (F32, F16, Q8_0 or Q4_0; the tokenizer must use a pre-split pattern llama.cpp implements). trl: sft/{train,test}.jsonl (messages), dpo/{train,test}.jsonl (prompt, chosen, rejected) and grpo/{train,test}.jsonl (prompt) from the run's SFT mixture and comparisons; each folder loads with datasets.load_dataset(folder). llmc: the run's pretraining shards as llm.c .bin files. See docs/interop.md and docs/scale.md.",
  )
  .option('--format <format>', 'hf (transformers directory) | gguf (llama.cpp file) | peft (a LoRA stage: its base as hf plus the PEFT adapter for it) | trl (SFT, DPO and GRPO datasets) | llmc (llm.c token shards)')
  .option('-r, --run <dir>', 'run directory, stage directory or checkpoint', 'runs/small')
  .option('--stage <stage>', 'stage to export (base, sft, rl, dpo, sft-lora …; default: the newest of rl, sft, base; a stage with an early-stopping best/ exports that; hf and gguf merge a LoRA stage into its base, peft keeps it apart)')
  .option('-o, --out <path>', 'output directory (hf, peft, trl, llmc) or .gguf file')
  .option('--type <type>', 'GGUF tensor type: F32, F16, Q8_0 or Q4_0', 'F32')
  .option('--base-name <id>', "peft: the adapter's base_model_name_or_path — the name transformers will load <out>/base by: a local path (default <out>/base as given; relative paths resolve against the working directory) or the Hub repo id you will push it to (you/tiny-base)")
  .action(async (o) => {
    if (!o.format) throw new GptforgeError('give --format hf, gguf, peft, trl or llmc');
    if (!o.out) throw new GptforgeError('give --out <path>');
    // a flag of another format would be ignored: refused rather than let pass for applied
    if (o.baseName !== undefined && o.format !== 'peft') throw new GptforgeError(`--base-name names the base of a PEFT adapter: it needs --format peft (not ${o.format})`, { field: '--base-name' });
    const type = o.type.toUpperCase();
    if (o.format === 'gguf' && type !== 'F32' && type !== 'F16' && type !== 'Q8_0' && type !== 'Q4_0') throw new GptforgeError(`--type: expects F32, F16, Q8_0 or Q4_0, got "${o.type}"`, { field: '--type' });
    if (o.format === 'hf' || o.format === 'gguf') {
      const { loadCheckpoint, withResolvedCheckpoint } = await import('../model/checkpoint.js');
      const ck = withResolvedCheckpoint(o.run, o.stage, (dir) => loadCheckpoint(dir));
      if (ck.meta.adapter) console.error(`export: ${ck.dir} is a LoRA adapter: merged into its base for ${o.format} (--format peft keeps the adapter apart)`);
      if (o.format === 'hf') {
        const { exportHuggingFace } = await import('../model/export/hf.js');
        const r = exportHuggingFace(ck, o.out);
        console.log(`export: ${ck.dir} → ${o.out} (${r.arch}: ${r.files.join(', ')})`);
      } else {
        const { checkpointToGguf } = await import('../model/export/gguf.js');
        const r = checkpointToGguf(ck, o.out, { type: type as 'F32' | 'F16' | 'Q8_0' | 'Q4_0' });
        console.log(`export: ${ck.dir} → ${o.out} (${r.arch}, ${type}, tokenizer.ggml.pre "${r.pre}", ${r.tensors} tensors, ${(r.bytes / 1e6).toFixed(1)} MB)`);
      }
    } else if (o.format === 'peft') {
      const [{ withResolvedCheckpoint }, { exportPeft, peftLoadHint }] = await Promise.all([import('../model/checkpoint.js'), import('../model/export/peft-hf.js')]);
      const out: string = o.out;
      const r = withResolvedCheckpoint(o.run, o.stage, (dir) => exportPeft(dir, out, { baseName: o.baseName }));
      const adapter = join(o.out, 'adapter');
      console.log(`export: the LoRA adapter for ${r.arch} → ${adapter}, its base → ${join(o.out, 'base')}; ${peftLoadHint(r)}`);
    } else if (o.format === 'llmc') {
      const { exportLlmc } = await import('../run/export.js');
      const r = exportLlmc(o.run, o.out);
      console.log(`export: ${r.tokens} tokens in ${r.files.length} llm.c shards → ${o.out}`);
    } else if (o.format === 'trl') {
      const { exportTrl } = await import('../run/export.js');
      console.log(`export: ${exportTrl(o.run, o.out, { onWarning: (w) => console.error(w) }).join(', ')} → ${o.out}`);
    } else throw new GptforgeError(`--format: expects hf, gguf, peft, trl or llmc, got "${o.format}"`, { field: '--format' });
  });
