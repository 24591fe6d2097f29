#!/usr/bin/env node
import { GptforgeError } from '../util/errors.js';
import type { Command } from './command.js';

/**
 * The `gptforge` entry point. Each command lives in its own module, loaded only when used,
 * so `gptforge --help` is instant and a broken stage cannot break the others.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  tokenizer: { summary: 'train a byte-level BPE tokenizer; encode, decode, info', load: () => import('./tokenizer.js') },
  data: { summary: 'prepare the pretraining mixture: clean, mix, tokenize to shards', load: () => import('./data.js') },
  pretrain: { summary: 'train the base model (builds tokenizer and data if missing)', load: () => import('./pretrain.js') },
  sft: { summary: 'supervised fine-tuning: base model → assistant', load: () => import('./sft.js') },
  chat: { summary: 'chat with a model (interactive or --prompt), tools included', load: () => import('./chat.js') },
  label: { summary: 'rank sampled replies yourself (comparison data for the reward model)', load: () => import('./label.js') },
  rm: { summary: 'reward model: rankings → a model that scores replies; rm score', load: () => import('./rm.js') },
  rl: { summary: 'reinforcement learning against the reward model (PPO, GRPO, REINFORCE)', load: () => import('./rl.js') },
  dpo: { summary: 'DPO: preference pairs → policy, no reward model', load: () => import('./dpo.js') },
  merge: { summary: 'fold a LoRA adapter checkpoint into its base (a full checkpoint)', load: () => import('./merge.js') },
  eval: { summary: 'score base and SFT models on held-out task families (table in the run)', load: () => import('./eval.js') },
  sample: { summary: 'sample from a model: prompts, few-shot files, streaming', load: () => import('./sample.js') },
  serve: { summary: 'serve a run\'s models over an OpenAI-compatible HTTP API', load: () => import('./serve.js') },
  pipeline: { summary: 'run every stage from one config (the main command)', load: () => import('./pipeline.js') },
  export: { summary: 'export a model (hf, gguf) or training data (trl, llmc) for other tools', load: () => import('./export.js') },
  import: { summary: 'import a Hugging Face GPT-2 / GPT-NeoX directory as a checkpoint', load: () => import('./import.js') },
  rag: { summary: 'retrieval: index documents into an SQLite store (BM25 + embeddings), query it', load: () => import('./rag.js') },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  const lines = [
    'gptforge — train your own GPT assistant end to end, on your own machine.',
    '',
    'Usage: gptforge <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'Run "gptforge <command> --help" for the options of a command.',
    'Environment: GPTFORGE_BACKEND=native|reference, GPTFORGE_ISA=avx512|avx2|scalar|neon (force a kernel path), GPTFORGE_THREADS=<n>, GPTFORGE_PEAK_GFLOPS=<n> (the peak MFU is measured against).',
  ];
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    console.log(pkg.version);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`gptforge: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  // a forced kernel path this CPU lacks (GPTFORGE_ISA) fails here, not after the data is prepared
  if (process.env.GPTFORGE_ISA) (await import('../engine/backend.js')).getKernels();
  const { command } = await entry.load();
  await command.run(rest);
  // A stage reports a stop (130 after Ctrl-C) through process.exitCode; keep it, so a script
  // can tell a stopped run from a finished one.
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof GptforgeError) {
      console.error(`gptforge: ${err.message}`);
      process.exitCode = 1;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
