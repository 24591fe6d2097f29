import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig, type GPTConfigInput } from '../../src/model/config.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { trainTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import { mobyDick } from '../tokenizer/corpus.js';
import { tempDir as sharedTempDir } from '../util/tmp.js';

const cachedTok = new Map<string, Tokenizer>();

/** A small BPE tokenizer (default chat specials) trained on Moby-Dick with the given pre-split pattern. */
export function smallTokenizer(pattern = 'gpt4', vocabSize = 420): Tokenizer {
  const key = `${pattern}:${vocabSize}`;
  let t = cachedTok.get(key);
  if (!t) {
    t = trainTokenizer([mobyDick().slice(0, 200_000)], { vocabSize, pattern });
    cachedTok.set(key, t);
  }
  return t;
}

/**
 * A randomly initialised GPT whose every parameter — biases and norm gains included — is
 * random, so that any layout mistake (a transposition, a swapped head, a bias in the wrong
 * place) changes the logits. `scale` multiplies the weights (larger = more peaked logits).
 */
export function randomModel(cfg: GPTConfigInput, seed = 7, scale = 1): GPT {
  const model = new GPT(makeConfig(cfg), { seed });
  const rng = new Rng(seed + 1);
  for (const [name, t] of model.params) {
    const isNorm = /ln_|ln_f/.test(name);
    for (let i = 0; i < t.data.length; i++) {
      if (isNorm && name.endsWith('.weight')) t.data[i] = 1 + 0.2 * rng.normal();
      else if (name.endsWith('.bias')) t.data[i] = 0.1 * rng.normal();
      else t.data[i] = (name.includes('wte') || name.includes('wpe') || name.includes('lm_head') ? 0.5 : 0.15) * scale * rng.normal();
    }
  }
  return model;
}

/** Save `model` (+ tokenizer) as a checkpoint in a fresh temp stage directory; returns the checkpoint path. */
export function saveTemp(model: GPT, tok: Tokenizer, prefix = 'gf-interop-'): string {
  const stage = join(tempDir(prefix), 'base');
  return saveCheckpoint(stage, model, { stage: 'sft', step: 3, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
}

/** A fresh temp directory, removed on the test file's exit (test/util/tmp.ts). */
export function tempDir(prefix = 'gf-interop-'): string {
  return sharedTempDir(prefix);
}
