import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig, countParams } from '../../src/model/config.js';
import { AdamW, decayGroups } from '../../src/engine/optim.js';
import { noGrad, fromArray } from '../../src/engine/tensor.js';
import * as op from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/rng.js';

function randomIds(n: number, V: number, seed: number): Int32Array {
  const r = new Rng(seed);
  return Int32Array.from({ length: n }, () => r.int(V));
}

test('GPT-2 parameter names, shapes, count and initialisation', () => {
  const cfg = makeConfig({ vocabSize: 50, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 });
  const m = new GPT(cfg);
  assert.equal(m.numParams(), countParams(cfg));
  // a JavaScript caller passing the model itself gets a clear error, not NaN
  assert.throws(() => countParams(m as never), /countParams takes a model config \(countParams\(model\.config\)/);
  assert.deepEqual(m.params.get('transformer.h.1.attn.c_attn.weight')!.shape, [16, 48]);
  assert.deepEqual(m.params.get('transformer.h.0.mlp.c_proj.weight')!.shape, [64, 16]);
  assert.ok(m.params.has('transformer.wpe.weight') && m.params.has('transformer.ln_f.bias'));
  assert.ok(!m.params.has('lm_head.weight'), 'tied embeddings store no lm_head');
  const std = (d: Float32Array) => Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
  const fc = std(m.params.get('transformer.h.0.mlp.c_fc.weight')!.data);
  const proj = std(m.params.get('transformer.h.0.mlp.c_proj.weight')!.data);
  assert.ok(Math.abs(fc - 0.02) < 0.003, `c_fc std ${fc}`);
  assert.ok(Math.abs(proj - 0.02 / Math.sqrt(4)) < 0.002, `c_proj std ${proj}`);
});

for (const variant of [{}, { position: 'rope' as const, norm: 'rmsnorm' as const, mlp: 'swiglu' as const, bias: false, tieEmbeddings: false }]) {
  const label = Object.keys(variant).length ? 'rope/rmsnorm/swiglu' : 'gpt-2';
  test(`KV-cache decoding gives the same logits as a full forward (${label})`, () => {
    const cfg = makeConfig({ vocabSize: 40, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16, ...variant });
    const m = new GPT(cfg, { seed: 3 });
    const B = 2,
      T = 11;
    const ids = randomIds(B * T, 40, 9);
    const full = noGrad(() => m.forward(ids, B, T)).data;
    const cache = m.createCache(B);
    const V = 40;
    // prefill 4 tokens, then one at a time, then a chunk of 3
    const chunks = [4, 1, 1, 1, 1, 3];
    let t0 = 0;
    for (const n of chunks) {
      const part = new Int32Array(B * n);
      for (let b = 0; b < B; b++) part.set(ids.subarray(b * T + t0, b * T + t0 + n), b * n);
      const logits = noGrad(() => m.forward(part, B, n, cache)).data;
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < n; i++) {
          for (let v = 0; v < V; v++) {
            const a = logits[(b * n + i) * V + v];
            const f = full[(b * T + t0 + i) * V + v];
            assert.ok(Math.abs(a - f) < 1e-4, `b${b} t${t0 + i} v${v}: cached ${a} vs full ${f}`);
          }
        }
      }
      t0 += n;
    }
    assert.equal(cache.length, T);
  });

  test(`KV-cache decoding of left-padded rows gives each row's own logits (${label})`, () => {
    const cfg = makeConfig({ vocabSize: 40, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16, ...variant });
    const m = new GPT(cfg, { seed: 4 });
    const V = 40;
    // three prompts of 7, 4 and 1 tokens, left-padded to 7 (pad id 39), then two decoded tokens each
    const prompts = [randomIds(7, 39, 1), randomIds(4, 39, 2), randomIds(1, 39, 3)];
    const next = [randomIds(2, 39, 4), randomIds(2, 39, 5), randomIds(2, 39, 6)];
    const L = 7;
    const cache = m.createCache(3);
    const padded = new Int32Array(3 * L).fill(39);
    prompts.forEach((p, b) => {
      cache.starts[b] = L - p.length;
      padded.set(p, b * L + cache.starts[b]);
    });
    const got = [m.nextLogits(padded, cache), ...[0, 1].map((t) => m.nextLogits(Int32Array.from(next.map((n) => n[t])), cache))];
    prompts.forEach((p, b) => {
      const alone = m.createCache(1);
      const want = [m.nextLogits(p, alone), ...[0, 1].map((t) => m.nextLogits(Int32Array.of(next[b][t]), alone))];
      want.forEach((w, step) => {
        for (let v = 0; v < V; v++) assert.ok(Math.abs(got[step][b * V + v] - w[v]) < 1e-4, `row ${b} step ${step} v${v}: padded ${got[step][b * V + v]} vs alone ${w[v]}`);
      });
    });
  });
}

for (const variant of [{}, { position: 'rope' as const, norm: 'rmsnorm' as const, mlp: 'swiglu' as const, bias: false, tieEmbeddings: false }]) {
  const label = Object.keys(variant).length ? 'rope/rmsnorm/swiglu' : 'gpt-2';
  test(`continuous batching: cache rows at different lengths, joined, freed and copied, each give the row's own logits bit for bit (${label})`, () => {
    const cfg = makeConfig({ vocabSize: 40, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16, ...variant });
    const m = new GPT(cfg, { seed: 5 });
    const V = 40;
    const seqs = [randomIds(12, 40, 11), randomIds(9, 40, 12), randomIds(14, 40, 13), randomIds(10, 40, 14)];
    // alone: prompt of 5 (or 3) tokens, then one token a step
    const aloneLogits = (seq: Int32Array, p: number): Float32Array[] => {
      const c = m.createCache(1);
      const out = [m.nextLogits(seq.subarray(0, p), c)];
      for (let t = p; t < seq.length; t++) out.push(m.nextLogits(seq.subarray(t, t + 1), c));
      return out;
    };
    const prompt = [5, 3, 5, 4];
    const want = seqs.map((s, i) => aloneLogits(s, prompt[i]));
    // a 3-row cache: seq 0 in row 2; seq 1 joins two steps later in row 0, seq 2 a step after
    // in row 1; when seq 1 ends its slot is reset and reused by seq 3
    const cache = m.createCache(3);
    const pos = [0, 0, 0, 0];
    const slot = [2, 0, 1, -1];
    const got: Float32Array[][] = [[], [], [], []];
    const prefill = (i: number): void => {
      got[i].push(m.nextLogits(seqs[i].subarray(0, prompt[i]), cache, Int32Array.of(slot[i])));
      pos[i] = prompt[i];
    };
    prefill(0);
    const active = new Set([0]);
    for (let step = 0; step < 12; step++) {
      if (step === 2) prefill(1), active.add(1);
      if (step === 3) prefill(2), active.add(2);
      const live = [...active].filter((i) => pos[i] < seqs[i].length);
      for (const i of [...active])
        if (pos[i] >= seqs[i].length) {
          active.delete(i);
          if (i === 1) {
            cache.resetRow(slot[1]);
            slot[3] = slot[1];
            prefill(3);
            active.add(3);
          }
        }
      const go = live.filter((i) => active.has(i));
      if (go.length === 0) break;
      const lg = m.nextLogits(
        Int32Array.from(go, (i) => seqs[i][pos[i]]),
        cache,
        Int32Array.from(go, (i) => slot[i]),
      );
      go.forEach((i, b) => (got[i].push(lg.slice(b * V, (b + 1) * V)), pos[i]++));
    }
    for (let i = 0; i < 4; i++) {
      assert.ok(got[i].length >= 3, `sequence ${i} decoded ${got[i].length} steps`);
      got[i].forEach((g, step) => assert.deepEqual(g, want[i][step], `sequence ${i} step ${step}: batched vs alone`));
    }
    // copyRow: row 2's prefix copied into rows 0 and 1 continues exactly as row 2 does
    const c2 = m.createCache(3);
    m.nextLogits(seqs[0].subarray(0, 5), c2, Int32Array.of(2));
    c2.copyRow(2, [0, 1]);
    assert.deepEqual([...c2.lengths], [5, 5, 5]);
    const lg = m.nextLogits(Int32Array.of(seqs[0][5], seqs[0][5], seqs[0][5]), c2);
    for (let b = 0; b < 3; b++) assert.deepEqual(lg.slice(b * V, (b + 1) * V), want[0][1], `copied row ${b}`);
    assert.throws(() => m.nextLogits(Int32Array.of(1, 2), c2, Int32Array.of(0, 0)), /not a distinct row/);
  });
}

test('a tiny GPT overfits a fixed batch to near-zero loss', (t) => {
  const cfg = makeConfig({ vocabSize: 32, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 });
  const m = new GPT(cfg, { seed: 1 });
  const B = 4,
    T = 16;
  const data = randomIds(B * (T + 1), 32, 5);
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    ids.set(data.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    targets.set(data.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  const opt = new AdamW(decayGroups(m.parameters(), 0), { lr: 3e-3 });
  let first = 0;
  let last = 0;
  for (let step = 0; step < 300; step++) {
    opt.zeroGrad();
    const loss = m.loss(ids, targets, B, T);
    loss.backward();
    opt.step();
    if (step === 0) first = loss.item();
    last = loss.item();
  }
  t.diagnostic(`loss ${first.toFixed(4)} → ${last.toFixed(4)}`);
  assert.ok(first > 3, `initial loss ${first} should be near ln(32)=3.47`);
  assert.ok(last < 0.05, `final loss ${last} should be near zero`);
});

test('scalar head reads one position and receives gradients', () => {
  const cfg = makeConfig({ vocabSize: 20, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
  const m = new GPT(cfg, { scalarHead: true });
  m.params.get('score.weight')!.data.set(Float32Array.from({ length: 8 }, (_, i) => 0.1 * (i - 3)));
  const ids = randomIds(2 * 8, 20, 2);
  const h = m.hidden(ids, 2, 8);
  const r = m.scalar(h, Int32Array.from([7, 12]));
  assert.deepEqual(r.shape, [2]);
  const w = m.params.get('score.weight')!.data;
  const b = m.params.get('score.bias')!.data[0];
  for (const [k, row] of [
    [0, 7],
    [1, 12],
  ] as const) {
    let want = b;
    for (let j = 0; j < 8; j++) want += h.data[row * 8 + j] * w[j];
    assert.ok(Math.abs(r.data[k] - want) < 1e-5);
  }
  // loss = r0 − r1: bias gradient cancels, weight gradient is h[7] − h[12]
  op.sum(op.mul(r, fromArray([1, -1]))).backward();
  assert.ok(Math.abs(m.params.get('score.bias')!.grad![0]) < 1e-6);
  const gw = m.params.get('score.weight')!.grad!;
  for (let j = 0; j < 8; j++) assert.ok(Math.abs(gw[j] - (h.data[7 * 8 + j] - h.data[12 * 8 + j])) < 1e-5);
  assert.throws(() => new GPT(cfg).scalar(h, Int32Array.from([0])), /no scalar head/);
});

test('step arena: training forwards and backwards draw from it, evaluation (no grad) never parks buffers in it', async () => {
  const { setArenaEnabled, resetArena, arenaBuffersInUse, arenaBuffersFree, arenaBytesFree, setArenaKeepBytes, ARENA_KEEP_BYTES } = await import('../../src/engine/tensor.js');
  const model = new GPT(makeConfig({ vocabSize: 64, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), { seed: 1 });
  const ids = randomIds(32, 64, 3);
  const targets = randomIds(32, 64, 4);
  setArenaEnabled(true);
  try {
    resetArena();
    const loss = model.loss(ids, targets, 2, 16);
    const forwardBuffers = arenaBuffersInUse();
    assert.ok(forwardBuffers > 0);
    // activation gradients come from the arena too (the backward pass runs without recording),
    // and each goes back to the free lists once its op's backward has consumed it
    const freeBefore = arenaBuffersFree();
    loss.backward();
    assert.ok(arenaBuffersInUse() + arenaBuffersFree() > forwardBuffers + freeBefore, `${arenaBuffersInUse()} + ${arenaBuffersFree()} > ${forwardBuffers} + ${freeBefore}`);
    assert.ok(arenaBuffersFree() > freeBefore, 'consumed activation gradients are back in the free lists before the reset');
    resetArena();
    noGrad(() => {
      for (let i = 0; i < 5; i++) model.loss(ids, targets, 2, 16).item();
    });
    assert.equal(arenaBuffersInUse(), 0);
    // variable sequence lengths (RM, RL, DPO batches): sizes unused for two steps are kept
    // within the byte budget (most recent first), the rest released
    const shapes = (): void => {
      for (let T = 4; T <= 16; T++) {
        resetArena();
        model.loss(ids.subarray(0, 2 * T), targets.subarray(0, 2 * T), 2, T).backward();
      }
      resetArena();
    };
    setArenaKeepBytes(0);
    shapes();
    resetArena();
    const parked = arenaBuffersFree();
    resetArena();
    model.loss(ids, targets, 2, 16).backward();
    resetArena();
    assert.ok(arenaBuffersFree() <= parked + 1, `${arenaBuffersFree()} buffers parked after 13 shapes`);
    resetArena();
    resetArena();
    resetArena();
    assert.equal(arenaBuffersFree(), 0, 'budget 0: every size unused for two steps is released');
    setArenaKeepBytes(ARENA_KEEP_BYTES);
    shapes();
    resetArena();
    resetArena();
    resetArena();
    const all = arenaBytesFree();
    assert.ok(all > 0, 'the default budget keeps the 13 shapes of this small model');
    // the same shapes once more reuse the kept buffers: nothing new is parked
    shapes();
    resetArena();
    resetArena();
    resetArena();
    assert.equal(arenaBytesFree(), all);
    const budget = Math.floor(all / 3);
    setArenaKeepBytes(budget);
    resetArena();
    assert.ok(arenaBytesFree() > 0 && arenaBytesFree() <= budget, `${arenaBytesFree()} bytes parked within a budget of ${budget}`);
    assert.throws(() => setArenaKeepBytes(-1), /≥ 0/);
  } finally {
    setArenaKeepBytes(ARENA_KEEP_BYTES);
    setArenaEnabled(false);
  }
});

test('nextLogits runs the head only at each row’s last position: the logits equal forward()’s there, bit for bit (tied and untied heads)', () => {
  for (const tieEmbeddings of [true, false]) {
    const cfg = makeConfig({ vocabSize: 70, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16, position: 'rope', tieEmbeddings });
    const m = new GPT(cfg, { seed: 9 });
    for (const [B, T] of [
      [1, 1],
      [1, 7],
      [3, 5],
      [2, 20],
    ]) {
      const ids = randomIds(B * T, 70, 100 + B * T);
      const got = m.nextLogits(ids, m.createCache(B));
      const full = noGrad(() => m.forward(ids, B, T, m.createCache(B))).data;
      assert.equal(got.length, B * 70);
      for (let b = 0; b < B; b++) assert.deepEqual(got.subarray(b * 70, (b + 1) * 70), full.subarray(((b + 1) * T - 1) * 70, (b + 1) * T * 70), `B=${B} T=${T} row ${b}`);
    }
  }
});

test('decode step scope: nextLogits recycles its op buffers step to step, leaves the training arena alone, and decodes the same bits as fresh buffers', async () => {
  const { withStepScope, allocBuffer, setArenaEnabled, resetArena, arenaBuffersInUse, arenaBuffersFree } = await import('../../src/engine/tensor.js');
  // the scope itself: a size freed at the end of one scope is handed out in the next (zeroed when asked), nested scopes join the outer one
  const handed: Float32Array[] = [];
  noGrad(() =>
    withStepScope(() => {
      handed.push(allocBuffer(100, false).fill(3));
      withStepScope(() => handed.push(allocBuffer(100, false).fill(3)));
    }),
  );
  assert.notEqual(handed[0], handed[1], 'a nested scope does not hand out the outer scope’s live buffer');
  const again = noGrad(() => withStepScope(() => allocBuffer(100, true)));
  assert.ok(handed.includes(again), 'the next scope reuses a buffer of the last');
  assert.ok(
    Array.from(again as Float32Array).every((x) => x === 0),
    'zeroed when asked',
  );
  assert.notEqual(
    withStepScope(() => allocBuffer(100, false)),
    noGrad(() => withStepScope(() => allocBuffer(100, false))),
    'with grad on, the scope hands out nothing of its own',
  );
  // decoding inside a training step: the arena's buffers are not touched, and the logits equal a decode on fresh buffers
  const model = new GPT(makeConfig({ vocabSize: 64, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, position: 'rope' }), { seed: 5 });
  const fresh = (ids: Int32Array, cache: ReturnType<GPT['createCache']>, rows: Int32Array): Float32Array =>
    noGrad(() => {
      const h = model.hidden(ids, rows.length, ids.length / rows.length, cache, rows);
      const B = rows.length;
      const T = ids.length / B;
      return model
        .logits(
          op.gatherRows(
            h,
            Int32Array.from({ length: B }, (_, b) => (b + 1) * T - 1),
          ),
        )
        .data.slice();
    });
  setArenaEnabled(true);
  try {
    resetArena();
    const loss = model.loss(
      Int32Array.from({ length: 16 }, (_, i) => i % 64),
      Int32Array.from({ length: 16 }, (_, i) => (i + 1) % 64),
      2,
      8,
    );
    const inUse = arenaBuffersInUse();
    const free = arenaBuffersFree();
    const a = model.createCache(3);
    const b = model.createCache(3);
    for (let s = 0; s < 6; s++) {
      const rows = s === 0 ? Int32Array.of(0, 1, 2) : s % 2 ? Int32Array.of(2, 0) : Int32Array.of(1);
      const T = s === 0 ? 4 : 1;
      const ids = Int32Array.from({ length: rows.length * T }, (_, i) => (i * 7 + s * 3) % 64);
      const got = model.nextLogits(ids, a, rows);
      const want = fresh(ids, b, rows);
      assert.deepEqual(got, want, `step ${s}`);
    }
    assert.equal(arenaBuffersInUse(), inUse, 'decoding took no training-arena buffer');
    assert.equal(arenaBuffersFree(), free);
    loss.backward();
  } finally {
    setArenaEnabled(false);
  }
});
