import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig, validateConfig } from '../../src/model/config.js';
import { randomPositionIds } from '../../src/model/positions.js';
import { loadCheckpoint, modelFromCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { noGrad } from '../../src/engine/tensor.js';
import { Rng } from '../../src/engine/rng.js';
import { GptforgeError } from '../../src/util/errors.js';
import { assertExportable, unsupportedFeatures } from '../../src/model/export/layout.js';

// Position ids for RoPE (randomized positions, Ruoss et al. 2023): GPT.hidden's `positions`,
// the KV cache's per-slot ids, and config.randomPositions drawing them in training and decoding.

const V = 40;
const base = { vocabSize: V, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16, position: 'rope' as const, norm: 'rmsnorm' as const, mlp: 'swiglu' as const };

function randomIds(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(V));
}

/** Increasing ids with gaps 1–7, each row from its own start. */
function gappedIds(B: number, T: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const out = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let p = rng.int(20);
    for (let t = 0; t < T; t++) {
      out[b * T + t] = p;
      p += 1 + rng.int(7);
    }
  }
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Feed ids [B·T] into the cache in chunks (positions of the same chunks when given), the logits of every token [B·T·V]. */
function decodeInChunks(m: GPT, ids: Int32Array, B: number, T: number, chunks: number[], positions?: Int32Array): { logits: Float32Array; cache: ReturnType<GPT['createCache']> } {
  const cache = m.createCache(B);
  const out = new Float32Array(B * T * V);
  let t0 = 0;
  for (const n of chunks) {
    const part = new Int32Array(B * n);
    const pos = positions ? new Int32Array(B * n) : undefined;
    for (let b = 0; b < B; b++) {
      part.set(ids.subarray(b * T + t0, b * T + t0 + n), b * n);
      pos?.set(positions!.subarray(b * T + t0, b * T + t0 + n), b * n);
    }
    const logits = noGrad(() => m.forward(part, B, n, cache, undefined, pos)).data;
    for (let b = 0; b < B; b++) out.set(logits.subarray(b * n * V, (b + 1) * n * V), (b * T + t0) * V);
    t0 += n;
  }
  assert.equal(t0, T);
  return { logits: out, cache };
}

test('position ids 0..T−1 give the same bits as no ids (full forward, loss and KV-cache decode)', () => {
  const m = new GPT(makeConfig(base), { seed: 3 });
  const B = 2;
  const T = 11;
  const ids = randomIds(B * T, 9);
  const identity = Int32Array.from({ length: B * T }, (_, i) => i % T);
  assert.deepEqual(noGrad(() => m.forward(ids, B, T, undefined, undefined, identity)).data, noGrad(() => m.forward(ids, B, T)).data);
  const targets = randomIds(B * T, 10);
  assert.equal(noGrad(() => m.loss(ids, targets, B, T, undefined, 'mean', identity)).data[0], noGrad(() => m.loss(ids, targets, B, T)).data[0]);
  const chunks = [4, 1, 1, 5];
  assert.deepEqual(decodeInChunks(m, ids, B, T, chunks, identity).logits, decodeInChunks(m, ids, B, T, chunks).logits);
});

test('randomized position ids change the output, consistently between the full forward and the KV-cache decode; a shift changes nothing (RoPE is relative)', () => {
  const m = new GPT(makeConfig(base), { seed: 4 });
  // sharper attention than the 0.02 initialisation's, so positions move the logits well above rounding
  for (const [name, p] of m.params) if (name.endsWith('attn.c_attn.weight')) for (let i = 0; i < p.size; i++) p.data[i] *= 15;
  const B = 2;
  const T = 13;
  const ids = randomIds(B * T, 5);
  const pos = gappedIds(B, T, 6);
  const plain = noGrad(() => m.forward(ids, B, T)).data;
  const full = noGrad(() => m.forward(ids, B, T, undefined, undefined, pos)).data;
  // the ids matter: the first token of each row attends only to itself, so compare from the second
  assert.ok(maxDiff(plain.subarray(V), full.subarray(V)) > 1e-2, `gapped ids gave about the logits of consecutive ones: ${maxDiff(plain.subarray(V), full.subarray(V))}`);
  // the cache holds keys rotated at their ids: decoding in chunks with the same ids gives the full forward's logits
  const { logits, cache } = decodeInChunks(m, ids, B, T, [5, 1, 1, 1, 5], pos);
  assert.ok(maxDiff(logits, full) < 1e-4, `cached vs full: ${maxDiff(logits, full)}`);
  for (let b = 0; b < B; b++) assert.deepEqual(cache.positionIds!.subarray(b * cache.capacity, b * cache.capacity + T), pos.subarray(b * T, (b + 1) * T));
  // RoPE's scores depend on id differences only: every id + 37 gives the same logits up to rounding
  const shifted = pos.map((p) => p + 37);
  const sh = noGrad(() => m.forward(ids, B, T, undefined, undefined, shifted)).data;
  assert.ok(maxDiff(sh, full) < 1e-3, `shifted: ${maxDiff(sh, full)}`);
});

test('position ids are checked: the count, and RoPE only', () => {
  const m = new GPT(makeConfig(base), { seed: 1 });
  assert.throws(() => m.forward(randomIds(6, 1), 2, 3, undefined, undefined, new Int32Array(5)), /5 position ids for B·T = 2·3/);
  const learned = new GPT(makeConfig({ ...base, position: 'learned' }), { seed: 1 });
  assert.throws(() => learned.forward(randomIds(6, 1), 2, 3, undefined, undefined, new Int32Array(6)), /need position: "rope"/);
});

test('randomPositionIds: increasing, gaps of mean maxPosition / blockSize, continuing each row; maxPosition = blockSize gives indices', () => {
  const rng = new Rng(2);
  const B = 3;
  const T = 4000;
  const ids = randomPositionIds(B, T, [-1, 10, 99], 4 * 256, 256, rng);
  for (let b = 0; b < B; b++) {
    const row = ids.subarray(b * T, (b + 1) * T);
    assert.ok(row[0] > [-1, 10, 99][b], `row ${b} starts after its previous id`);
    for (let t = 1; t < T; t++) assert.ok(row[t] > row[t - 1], `row ${b} increases at ${t}`);
    const meanGap = (row[T - 1] - row[0]) / (T - 1);
    assert.ok(meanGap > 3.7 && meanGap < 4.3, `row ${b}: mean gap ${meanGap}, want ≈ 4`);
  }
  assert.deepEqual(randomPositionIds(2, 5, [-1, 6], 64, 64, rng), Int32Array.from([0, 1, 2, 3, 4, 7, 8, 9, 10, 11]));
});

test('config.randomPositions: forwards draw increasing ids; the cache keeps them, copyRow and expand carry them, and a decode equals the full forward at those ids', () => {
  const m = new GPT(makeConfig({ ...base, randomPositions: 128 }), { seed: 7 });
  const B = 2;
  const T = 9;
  const ids = randomIds(B * T, 11);
  const { logits, cache } = decodeInChunks(m, ids, B, T, [4, 1, 1, 3]);
  const drawn = new Int32Array(B * T);
  for (let b = 0; b < B; b++) drawn.set(cache.positionIds!.subarray(b * cache.capacity, b * cache.capacity + T), b * T);
  for (let b = 0; b < B; b++) for (let t = 1; t < T; t++) assert.ok(drawn[b * T + t] > drawn[b * T + t - 1], `row ${b} ids increase at ${t}: ${drawn.subarray(b * T, (b + 1) * T).join(' ')}`);
  assert.ok(drawn[T - 1] - drawn[0] > T - 1, 'some gap > 1 (mean 4)');
  const full = noGrad(() => m.forward(ids, B, T, undefined, undefined, drawn)).data;
  assert.ok(maxDiff(logits, full) < 1e-4, `cached vs full at the drawn ids: ${maxDiff(logits, full)}`);
  // two forwards without ids draw different ids, so different logits: training sees fresh positions every step
  const a = noGrad(() => m.forward(ids, B, T)).data;
  const b2 = noGrad(() => m.forward(ids, B, T)).data;
  assert.ok(maxDiff(a, b2) > 1e-4);

  // copyRow and expand carry the ids: a token fed to the copies continues after row 0's last id
  const next = Int32Array.from([5]);
  const wide = cache.expand(3, 0);
  cache.copyRow(0, [1]);
  for (const [c, rows] of [
    [wide, Int32Array.from([2])],
    [cache, Int32Array.from([1])],
  ] as const) {
    const got = noGrad(() => m.forward(next, 1, 1, c, rows)).data;
    const id = c.positionIds![rows[0] * c.capacity + T];
    assert.ok(id > drawn[T - 1], `the new token's id ${id} follows row 0's last ${drawn[T - 1]}`);
    const seq = Int32Array.from([...ids.subarray(0, T), 5]);
    const want = noGrad(() => m.forward(seq, 1, T + 1, undefined, undefined, Int32Array.from([...drawn.subarray(0, T), id]))).data.subarray(T * V);
    assert.ok(maxDiff(got, want) < 1e-4, `copied row's next logits: ${maxDiff(got, want)}`);
  }
});

test('seedPositions restarts the position draws: the same seed gives the same ids whatever ran before, another seed other ids', () => {
  const m = new GPT(makeConfig({ ...base, randomPositions: 128 }), { seed: 7 });
  const B = 2;
  const T = 6;
  const ids = randomIds(B * T, 3);
  const draw = (): number[] => {
    const { cache } = decodeInChunks(m, ids, B, T, [T]);
    return [...cache.positionIds!.subarray(0, T)];
  };
  m.seedPositions(5);
  const first = draw();
  draw(); // another decode moves the generator on
  m.seedPositions(5);
  assert.deepEqual(draw(), first);
  m.seedPositions(6);
  assert.notDeepEqual(draw(), first);
});

test('config.randomPositions is validated and survives a checkpoint', () => {
  const cfg = makeConfig({ ...base, randomPositions: 128 });
  assert.throws(
    () => validateConfig({ ...cfg, randomPositions: 16 }),
    (e: unknown) => e instanceof GptforgeError && /randomPositions/.test(String(e)) && /≥ blockSize/.test(String(e)),
  );
  assert.throws(() => validateConfig({ ...cfg, randomPositions: 40.5 }), GptforgeError);
  assert.throws(() => makeConfig({ ...base, position: 'learned', randomPositions: 128 }), /need rotary positions/);
  const dir = mkdtempSync(join(tmpdir(), 'gptforge-rp-'));
  try {
    const m = new GPT(cfg, { seed: 2 });
    const ck = saveCheckpoint(dir, m, { step: 1, stage: 'sft' });
    const back = modelFromCheckpoint(loadCheckpoint(ck));
    assert.equal(back.config.randomPositions, 128);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export refuses a model trained on randomized positions, naming the field and why (GPT-NeoX and llama.cpp decode with 0..T−1)', () => {
  const plain = makeConfig({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, position: 'rope' });
  assert.deepEqual(unsupportedFeatures(plain), []);
  const random = makeConfig({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, position: 'rope', randomPositions: 32 });
  assert.throws(
    () => assertExportable(random, '/x/config.json'),
    (e: Error) => e instanceof GptforgeError && /randomPositions: 32/.test(e.message) && /0\.\.T−1/.test(e.message) && e.message.includes('/x/config.json') && e.field === 'model.randomPositions',
  );
});
