import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Conversation, GPT, makeConfig, saveCheckpoint, trainTokenizer } from '../../src/index.js';
import { mobyDick } from '../tokenizer/corpus.js';

/**
 * A run directory built in about a second: a 320-token BPE tokenizer, a random 1-layer
 * 32-wide GPT saved as the run's base and SFT checkpoints, and a preset whose sft section
 * trains 10 steps of 4 × 48 tokens (its arithmetic task does not fit 49 tokens with this
 * vocabulary: callers train on their own conversations with onlyData).
 */
export function tinyRun(): string {
  const runDir = mkdtempSync(join(tmpdir(), 'gf-examples-'));
  const tok = trainTokenizer([mobyDick().slice(0, 40_000), 'Who are you? I am Forge, a small assistant. What is your name? My name is Forge.'], { vocabSize: 320, pattern: 'gpt4' });
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), { seed: 3 });
  const ck = { tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() };
  saveCheckpoint(join(runDir, 'base'), model, { stage: 'pretrain', step: 1, ...ck });
  saveCheckpoint(join(runDir, 'sft'), model, { stage: 'sft', step: 1, ...ck });
  const train = { maxSteps: 10, lr: 0.01, minLr: 0.001, warmupSteps: 1, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1, logEvery: 1 };
  const sft = { mixture: { sources: [{ task: 'arithmetic', weight: 1 }], examples: 64, testPerTask: 4 }, batchSize: 4, seqLen: 48, train };
  writeFileSync(join(runDir, 'preset.json'), JSON.stringify({ name: 'examples-test', mixture: 'mixture.tiny.json', model: { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 64, position: 'rope' }, batchSize: 4, seqLen: 32, evalBatches: 1, train, sft }));
  return runDir;
}

/** A one-exchange conversation: the user's `q`, the assistant's `a`. */
export const qa = (q: string, a: string): Conversation => ({
  messages: [
    { role: 'user', content: q },
    { role: 'assistant', content: a },
  ],
});

/** Runs `f` with console.error captured; returns what it printed, a line per call. */
export async function stderrOf(f: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void lines.push(a.map(String).join(' '));
  try {
    await f();
  } finally {
    console.error = orig;
  }
  return lines;
}
