import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { referenceKernels as ref } from '../../src/engine/backend-reference.js';
import { setBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/rng.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';

/**
 * The native kernels against the reference backend on awkward shapes (1, 7, 65, 129 and
 * non-multiples of the 14×32 / 6×16 tiles), with 1 and 2 threads, plus a whole GPT's
 * gradients. Inputs are random; tolerances are fp32-sized.
 */
const loaded = loadNativeKernels();
const native: Kernels | null = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;

const rng = new Rng(2024);
const rand = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * s);

function close(name: string, got: Float32Array, want: Float32Array, rtol = 1e-4, atol = 1e-5): void {
  assert.equal(got.length, want.length, `${name}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  assert.ok(at < 0, `${name}: element ${at}: native ${got[at]} vs reference ${want[at]}`);
}

const SIZES = [1, 7, 14, 33, 65, 129];
/** Every layout of a product, in one order: A and B each as stored or transposed, C overwritten or accumulated into. */
const LAYOUTS = [false, true].flatMap((tA) => [false, true].flatMap((tB) => [false, true].map((acc) => ({ tA, tB, acc }))));

for (const threads of [1, 2]) {
  test(`sgemm matches the reference: all layouts, accumulate, awkward sizes (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    const shapes: [number, number, number][] = [];
    for (const M of SIZES) for (const K of [1, 7, 65, 300]) for (const N of [1, 31, 65, 129]) shapes.push([M, K, N]);
    // [70, 2100, 130]: with A transposed, sgemm splits k in two parts (a weight-gradient shape)
    shapes.push([257, 513, 97], [600, 64, 1500], [1, 384, 1152], [70, 2100, 130]);
    for (const [M, K, N] of shapes) {
      for (const { tA, tB, acc } of LAYOUTS) {
        const a = rand(M * K),
          b = rand(K * N),
          c0 = rand(M * N);
        const cn = Float32Array.from(c0),
          cr = Float32Array.from(c0);
        native!.matmul(a, b, cn, M, K, N, tA, tB, acc);
        ref.matmul(a, b, cr, M, K, N, tA, tB, acc);
        close(`matmul M${M} K${K} N${N} tA${tA} tB${tB} acc${acc}`, cn, cr, 1e-4, 2e-4 * Math.sqrt(K));
      }
    }
  });

  test(`row kernels match the reference (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    for (const rows of [1, 7, 129, 1000]) {
      for (const cols of [1, 7, 65, 384]) {
        const n = rows * cols;
        const x = rand(n),
          w = rand(cols),
          b = rand(cols),
          dout = rand(n);
        // add bias / bias grad
        const o1 = Float32Array.from(x),
          o2 = Float32Array.from(x);
        native!.addBias(o1, b, rows, cols);
        ref.addBias(o2, b, rows, cols);
        close('addBias', o1, o2);
        const g1 = rand(cols),
          g2 = Float32Array.from(g1);
        native!.biasGrad(dout, g1, rows, cols);
        ref.biasGrad(dout, g2, rows, cols);
        close('biasGrad', g1, g2, 1e-4, 1e-4);
        // layernorm
        for (const [ww, bb] of [
          [w, b],
          [null, null],
        ] as const) {
          const on = new Float32Array(n),
            or = new Float32Array(n),
            mn = new Float32Array(rows),
            mr = new Float32Array(rows),
            rn = new Float32Array(rows),
            rr = new Float32Array(rows);
          native!.layerNormForward(x, ww, bb, on, mn, rn, rows, cols, 1e-5);
          ref.layerNormForward(x, ww, bb, or, mr, rr, rows, cols, 1e-5);
          close('layerNormForward', on, or, 1e-4, 1e-4);
          const dxn = rand(n),
            dxr = Float32Array.from(dxn),
            dwn = rand(cols),
            dwr = Float32Array.from(dwn),
            dbn = rand(cols),
            dbr = Float32Array.from(dbn);
          native!.layerNormBackward(dout, x, ww, mr, rr, dxn, ww ? dwn : null, bb ? dbn : null, rows, cols);
          ref.layerNormBackward(dout, x, ww, mr, rr, dxr, ww ? dwr : null, bb ? dbr : null, rows, cols);
          close('layerNormBackward dx', dxn, dxr, 1e-3, 1e-3);
          close('layerNormBackward dw', dwn, dwr, 1e-3, 1e-3);
          close('layerNormBackward db', dbn, dbr, 1e-3, 1e-3);
        }
        // rmsnorm
        {
          const on = new Float32Array(n),
            or = new Float32Array(n),
            rn = new Float32Array(rows),
            rr = new Float32Array(rows);
          native!.rmsNormForward(x, w, on, rn, rows, cols, 1e-6);
          ref.rmsNormForward(x, w, or, rr, rows, cols, 1e-6);
          close('rmsNormForward', on, or, 1e-4, 1e-4);
          const dxn = rand(n),
            dxr = Float32Array.from(dxn),
            dwn = rand(cols),
            dwr = Float32Array.from(dwn);
          native!.rmsNormBackward(dout, x, w, rr, dxn, dwn, rows, cols);
          ref.rmsNormBackward(dout, x, w, rr, dxr, dwr, rows, cols);
          close('rmsNormBackward dx', dxn, dxr, 1e-3, 1e-3);
          close('rmsNormBackward dw', dwn, dwr, 1e-3, 1e-3);
        }
        // softmax
        {
          const on = new Float32Array(n),
            or = new Float32Array(n);
          native!.softmaxForward(x, on, rows, cols);
          ref.softmaxForward(x, or, rows, cols);
          close('softmaxForward', on, or, 1e-4, 1e-6);
          const dxn = rand(n),
            dxr = Float32Array.from(dxn);
          native!.softmaxBackward(or, dout, dxn, rows, cols);
          ref.softmaxBackward(or, dout, dxr, rows, cols);
          close('softmaxBackward', dxn, dxr, 1e-4, 1e-5);
        }
        // cross-entropy (with ignored rows)
        {
          const targets = Int32Array.from({ length: rows }, (_, r) => (r % 5 === 3 ? -1 : rng.int(cols)));
          const logits = rand(n, 3);
          const ln = new Float32Array(rows),
            lr = new Float32Array(rows);
          native!.crossEntropyForward(logits, targets, ln, rows, cols, -1);
          ref.crossEntropyForward(logits, targets, lr, rows, cols, -1);
          close('crossEntropyForward', ln, lr, 1e-4, 1e-4);
          const dl = rand(rows),
            gn = rand(n),
            gr = Float32Array.from(gn);
          native!.crossEntropyBackward(logits, targets, dl, gn, rows, cols, -1);
          ref.crossEntropyBackward(logits, targets, dl, gr, rows, cols, -1);
          close('crossEntropyBackward', gn, gr, 1e-4, 1e-5);
          // the fused sweep: losses as the forward, dlogits written over garbage (not added)
          const lf = rand(rows),
            gf = rand(n),
            gz = new Float32Array(n);
          native!.crossEntropyFused(logits, targets, dl, lf, gf, rows, cols, -1);
          ref.crossEntropyBackward(logits, targets, dl, gz, rows, cols, -1);
          close('crossEntropyFused losses', lf, lr, 1e-4, 1e-4);
          close('crossEntropyFused dlogits', gf, gz, 1e-4, 1e-5);
          const lrf = new Float32Array(rows),
            grf = rand(n);
          ref.crossEntropyFused(logits, targets, dl, lrf, grf, rows, cols, -1);
          close('reference crossEntropyFused losses', lrf, lr, 0, 0);
          close('reference crossEntropyFused dlogits', grf, gz, 0, 0);
        }
      }
    }
  });

  test(`pointwise kernels, embedding, AdamW, sumSquares match the reference (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    for (const n of [1, 7, 65, 129, 100003]) {
      const x = rand(n, 3),
        y = rand(n),
        d = rand(n);
      for (const [name, fwd, bwd] of [
        ['gelu', 'geluForward', 'geluBackward'],
        ['silu', 'siluForward', 'siluBackward'],
      ] as const) {
        const on = new Float32Array(n),
          or = new Float32Array(n);
        native![fwd](x, on, n);
        ref[fwd](x, or, n);
        close(`${name} forward`, on, or, 1e-5, 1e-6);
        const gn = Float32Array.from(y),
          gr = Float32Array.from(y);
        native![bwd](x, d, gn, n);
        ref[bwd](x, d, gr, n);
        close(`${name} backward`, gn, gr, 1e-4, 1e-5);
      }
      const a1 = new Float32Array(n),
        a2 = new Float32Array(n);
      native!.add(x, y, a1, n);
      ref.add(x, y, a2, n);
      close('add', a1, a2);
      native!.mul(x, y, a1, n);
      ref.mul(x, y, a2, n);
      close('mul', a1, a2);
      native!.scale(x, 0.37, a1, n);
      ref.scale(x, 0.37, a2, n);
      close('scale', a1, a2);
      const y1 = Float32Array.from(y),
        y2 = Float32Array.from(y);
      native!.axpy(-1.5, x, y1, n);
      ref.axpy(-1.5, x, y2, n);
      close('axpy', y1, y2);
      const sn = native!.sumSquares(x, n),
        sr = ref.sumSquares(x, n);
      assert.ok(Math.abs(sn - sr) <= 1e-5 * sr + 1e-6, `sumSquares ${sn} vs ${sr}`);
      const p1 = rand(n),
        p2 = Float32Array.from(p1),
        m1 = rand(n, 0.1),
        m2 = Float32Array.from(m1),
        v1 = Float32Array.from(rand(n), (q) => q * q),
        v2 = Float32Array.from(v1);
      native!.adamw(p1, y, m1, v1, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, 7, 0.5);
      ref.adamw(p2, y, m2, v2, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, 7, 0.5);
      close('adamw param', p1, p2, 1e-5, 1e-6);
      close('adamw m', m1, m2);
      close('adamw v', v1, v2);
    }
    for (const [n, C, V] of [
      [1, 1, 1],
      [7, 65, 3],
      [300, 129, 50],
    ]) {
      const ids = Int32Array.from({ length: n }, () => rng.int(V));
      const table = rand(V * C),
        dout = rand(n * C);
      const on = new Float32Array(n * C),
        or = new Float32Array(n * C);
      native!.embeddingForward(ids, table, on, n, C);
      ref.embeddingForward(ids, table, or, n, C);
      close('embeddingForward', on, or);
      const tn = rand(V * C),
        tr = Float32Array.from(tn);
      native!.embeddingBackward(ids, dout, tn, n, C);
      ref.embeddingBackward(ids, dout, tr, n, C);
      close('embeddingBackward', tn, tr, 1e-5, 1e-5);
    }
  });

  test(`rope forward (+θ) and backward (−θ) match the reference (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    for (const [B, T, H, D] of [
      [1, 1, 1, 2],
      [2, 7, 3, 4],
      [3, 65, 2, 16],
      [2, 129, 4, 64],
    ]) {
      const n = B * T * 3 * H * D;
      const half = D / 2;
      const cos = Float32Array.from({ length: T * half }, (_, i) => Math.cos(0.1 * i));
      const sin = Float32Array.from({ length: T * half }, (_, i) => Math.sin(0.1 * i));
      const x = rand(n),
        base = rand(n);
      for (const sign of [1, -1]) {
        const on = Float32Array.from(base),
          or = Float32Array.from(base);
        native!.rope(x, on, cos, sin, B, T, H, D, sign);
        ref.rope(x, or, cos, sin, B, T, H, D, sign);
        close(`rope ${sign} ${B},${T},${H},${D}`, on, or, 1e-5, 1e-6);
      }
    }
  });

  test(`attention forward, backward and decode match the reference (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    // small-tile path (T ≤ 512, D ≤ 64, every padded head size; its backward in blocks of 32 keys) and the general sgemm path (T > 512 or D > 64)
    for (const [B, T, H, D] of [
      [1, 1, 1, 1],
      [2, 7, 3, 5],
      [1, 65, 2, 16],
      [2, 64, 4, 32],
      [1, 40, 2, 48],
      [2, 129, 4, 32],
      [1, 200, 1, 64],
      [1, 300, 2, 32],
      [1, 512, 1, 16],
      [1, 513, 1, 16],
      [1, 20, 1, 80],
    ]) {
      const C = H * D;
      const qkv = rand(B * T * 3 * C);
      const on = new Float32Array(B * T * C),
        or = new Float32Array(B * T * C),
        ln = new Float32Array(B * H * T),
        lr = new Float32Array(B * H * T);
      native!.attentionForward(qkv, on, ln, B, T, H, D);
      ref.attentionForward(qkv, or, lr, B, T, H, D);
      close(`attentionForward ${B},${T},${H},${D}`, on, or, 1e-4, 1e-5);
      close('attention lse', ln, lr, 1e-5, 1e-5);
      const dout = rand(B * T * C),
        gn = rand(B * T * 3 * C),
        gr = Float32Array.from(gn);
      native!.attentionBackward(qkv, or, lr, dout, gn, B, T, H, D);
      ref.attentionBackward(qkv, or, lr, dout, gr, B, T, H, D);
      close(`attentionBackward ${B},${T},${H},${D}`, gn, gr, 1e-3, 1e-4);
      // written (a first gradient: the old contents, here NaN, never read) = added to zeros, bit for bit
      const g0 = new Float32Array(B * T * 3 * C),
        gw = new Float32Array(B * T * 3 * C).fill(Number.NaN);
      native!.attentionBackward(qkv, or, lr, dout, g0, B, T, H, D, true);
      native!.attentionBackward(qkv, or, lr, dout, gw, B, T, H, D, false);
      assert.deepEqual(new Uint32Array(gw.buffer), new Uint32Array(g0.buffer), `attentionBackward write ${B},${T},${H},${D}`);
      const rw = new Float32Array(B * T * 3 * C).fill(Number.NaN);
      ref.attentionBackward(qkv, or, lr, dout, rw, B, T, H, D, false);
      close(`reference attentionBackward write ${B},${T},${H},${D}`, rw, g0, 1e-3, 1e-4);
      // decode: queries at positions pos0..pos0+Tq-1 over a cache of capacity Tmax
      const Tmax = T + 3,
        Tq = Math.min(3, T),
        pos0 = T - Tq;
      const q = rand(B * Tq * C),
        kc = rand(B * Tmax * C),
        vc = rand(B * Tmax * C);
      const dn = new Float32Array(B * Tq * C),
        dr = new Float32Array(B * Tq * C);
      native!.attentionDecode(q, kc, vc, dn, B, Tq, pos0, Tmax, H, D);
      ref.attentionDecode(q, kc, vc, dr, B, Tq, pos0, Tmax, H, D);
      close('attentionDecode', dn, dr, 1e-4, 1e-5);
      // left-padded rows: row b attends from starts[b]; a row whose start is past a query gives zeros there
      const starts = Int32Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === 1 ? Math.min(pos0 + 1, T) : pos0 + Tq));
      const sn = new Float32Array(B * Tq * C).fill(7),
        sr = new Float32Array(B * Tq * C).fill(7);
      native!.attentionDecode(q, kc, vc, sn, B, Tq, pos0, Tmax, H, D, starts);
      ref.attentionDecode(q, kc, vc, sr, B, Tq, pos0, Tmax, H, D, starts);
      close('attentionDecode with starts', sn, sr, 1e-4, 1e-5);
      close('attentionDecode starts 0 = none', sn.subarray(0, Tq * C), dn.subarray(0, Tq * C), 1e-6, 1e-7);
      if (B > 2)
        assert.ok(
          sn.subarray(2 * Tq * C, 3 * Tq * C).every((x) => x === 0),
          'a row that is all padding gets zeros',
        );
      // continuous batching: a cache of B+2 rows at different lengths, a permuted subset decoded
      const R = B + 2;
      const kr = rand(R * Tmax * C),
        vr = rand(R * Tmax * C);
      const lengths = Int32Array.from({ length: R }, (_, r) => (r * 5 + 1) % (Tmax - Tq + 1));
      const rstarts = Int32Array.from({ length: R }, (_, r) => (r === 1 ? Math.min(lengths[r], 2) : 0));
      const rows = Int32Array.from({ length: B }, (_, b) => (R - 1 - 2 * b > 0 ? R - 1 - 2 * b : b));
      if (new Set(rows).size === B) {
        const cn = new Float32Array(B * Tq * C),
          cr = new Float32Array(B * Tq * C);
        native!.attentionDecode(q, kr, vr, cn, B, Tq, 0, Tmax, H, D, rstarts, lengths, rows);
        ref.attentionDecode(q, kr, vr, cr, B, Tq, 0, Tmax, H, D, rstarts, lengths, rows);
        close('attentionDecode with rows and lengths', cn, cr, 1e-4, 1e-5);
        // each batch row equals that cache row decoded alone (bit for bit: rows never mix)
        for (let b = 0; b < B; b++) {
          const r = rows[b];
          const one = new Float32Array(Tq * C);
          native!.attentionDecode(q.subarray(b * Tq * C, (b + 1) * Tq * C), kr.subarray(r * Tmax * C, (r + 1) * Tmax * C), vr.subarray(r * Tmax * C, (r + 1) * Tmax * C), one, 1, Tq, lengths[r], Tmax, H, D, rstarts.subarray(r, r + 1));
          assert.deepEqual(one, cn.subarray(b * Tq * C, (b + 1) * Tq * C), `row ${b} (cache row ${r}) alone vs in the batch`);
        }
      }
    }
  });
}

test('sgemm gives the same bits at 1 and 2 threads: M and N splits, and the k-split of weight-gradient shapes', { skip }, () => {
  // [64, 1200, 200] with A transposed: k split at 512 (K not a multiple of KC);
  // [300, 128, 70]: M split; [40, 256, 300]: N split
  const shapes: [number, number, number][] = [
    [64, 1200, 200],
    [300, 128, 70],
    [40, 256, 300],
  ];
  for (const [M, K, N] of shapes) {
    for (const { tA, tB, acc } of LAYOUTS) {
      const a = rand(M * K),
        b = rand(K * N),
        c0 = rand(M * N);
      const got: Float32Array[] = [];
      for (const threads of [1, 2]) {
        native!.setThreads!(threads);
        const c = Float32Array.from(c0);
        native!.matmul(a, b, c, M, K, N, tA, tB, acc);
        got.push(c);
      }
      const bad = got[0].findIndex((x, i) => !Object.is(x, got[1][i]));
      assert.equal(bad, -1, `matmul M${M} K${K} N${N} tA${tA} tB${tB} acc${acc}: element ${bad} differs between 1 and 2 threads`);
    }
  }
});

test('the memory-bound passes give the same bits at 1 and 2 threads (bias and layer/RMS norm gradients, bias + GELU, AdamW, sumSquares)', { skip }, () => {
  // Big enough that each splits over the pool (work ≥ 64k elements); columns not a multiple
  // of 8 or 16, rows not a multiple of the reductions' 16 chunks.
  for (const [R, C] of [
    [700, 385],
    [333, 1536],
  ]) {
    const x = rand(R * C, 2),
      d = rand(R * C),
      w = rand(C),
      b = rand(C),
      dx0 = rand(R * C),
      dw0 = rand(C),
      db0 = rand(C);
    const run = (threads: number): { arrays: Float32Array[]; ss: number } => {
      native!.setThreads!(threads);
      const out = new Float32Array(R * C),
        mean = new Float32Array(R),
        rstd = new Float32Array(R);
      native!.layerNormForward(x, w, b, out, mean, rstd, R, C, 1e-5);
      const dx = Float32Array.from(dx0),
        dw = Float32Array.from(dw0),
        db = Float32Array.from(db0);
      native!.layerNormBackward(d, x, w, mean, rstd, dx, dw, db, R, C);
      const dxr = Float32Array.from(dx0),
        dwr = Float32Array.from(dw0);
      native!.rmsNormBackward(d, x, w, rstd, dxr, dwr, R, C);
      const bg = Float32Array.from(db0);
      native!.biasGrad(d, bg, R, C);
      const dpre = new Float32Array(R * C),
        dbg = Float32Array.from(db0);
      native!.biasGeluBackward(x, d, dpre, dbg, R, C);
      const p = Float32Array.from(x),
        m = Float32Array.from(d),
        v = Float32Array.from(d, (q) => q * q);
      native!.adamw(p, dx0, m, v, R * C, 1e-3, 0.9, 0.95, 1e-8, 0.1, 3, 0.7);
      return { arrays: [out, mean, rstd, dx, dw, db, dxr, dwr, bg, dpre, dbg, p, m, v], ss: native!.sumSquares(x, R * C) };
    };
    const one = run(1),
      two = run(2);
    const names = ['ln out', 'mean', 'rstd', 'ln dx', 'ln dw', 'ln db', 'rms dx', 'rms dw', 'biasGrad', 'biasGelu dpre', 'biasGelu dbias', 'adamw p', 'adamw m', 'adamw v'];
    one.arrays.forEach((a, i) => {
      const bad = a.findIndex((q, j) => !Object.is(q, two.arrays[i][j]));
      assert.equal(bad, -1, `${names[i]} ${R}x${C}: element ${bad} differs between 1 and 2 threads`);
    });
    assert.ok(Object.is(one.ss, two.ss), `sumSquares ${R}x${C}: ${one.ss} at 1 thread, ${two.ss} at 2`);
  }
});

test('bad arguments throw errors naming the kernel (and never crash the process)', { skip }, () => {
  const a = new Float32Array(6);
  assert.throws(() => native!.matmul(a, a, a, 3, 3, 3, false, false, false), /matmul: A has 6 elements, needs at least 9/);
  assert.throws(() => native!.matmul(a, a, a, -1, 1, 1, false, false, false), /matmul: M must be a non-negative/);
  assert.throws(() => native!.embeddingForward(Int32Array.of(5), a, a, 1, 3), /embeddingForward: id 5 at position 0 is out of range for a table of 2 rows/);
  assert.throws(() => native!.crossEntropyForward(a, Int32Array.of(0, 9), a, 2, 3, -1), /crossEntropyForward: target 9 at row 1/);
  assert.throws(() => native!.add(a, a as unknown as Float32Array, new Float64Array(6) as unknown as Float32Array, 6), /add: out must be a Float32Array/);
  assert.throws(() => native!.attentionDecode(a, a, a, a, 1, 2, 2, 3, 1, 1), /exceed the cache capacity/);
  assert.throws(() => native!.attentionDecode(a, a, a, a, 1, 1, 0, 3, 1, 1, Int32Array.of(4)), /starts\[0\] = 4 is outside the cache/);
  assert.throws(() => native!.attentionDecode(a, a, a, a, 1, 1, 0, 3, 1, 1, undefined, undefined, Int32Array.of(2)), /rows\[0\] = 2 is not a row of the cache/);
  assert.throws(() => native!.attentionDecode(a, a, a, a, 1, 1, 0, 3, 1, 1, undefined, Int32Array.of(3, 0), Int32Array.of(0)), /positions 3\+1 exceed the cache capacity 3/);
});

test('a whole GPT: loss and every parameter gradient, native vs reference', { skip }, () => {
  native!.setThreads!(2);
  for (const variant of [{}, { position: 'rope' as const, norm: 'rmsnorm' as const, mlp: 'swiglu' as const, tieEmbeddings: false }]) {
    const cfg = makeConfig({ vocabSize: 67, blockSize: 40, nLayer: 2, nHead: 3, nEmbd: 48, ...variant });
    const B = 3,
      T = 37;
    const ids = Int32Array.from({ length: B * T }, () => rng.int(67));
    const targets = Int32Array.from({ length: B * T }, () => rng.int(67));
    const grads = new Map<string, Map<string, Float32Array>>();
    const losses: number[] = [];
    for (const backend of ['reference', 'native'] as const) {
      setBackend(backend);
      const m = new GPT(cfg, { seed: 11 });
      const loss = m.loss(ids, targets, B, T);
      loss.backward();
      losses.push(loss.item());
      grads.set(backend, new Map([...m.params].map(([k, p]) => [k, p.grad!])));
    }
    assert.ok(Math.abs(losses[0] - losses[1]) < 1e-4, `loss ${losses[0]} vs ${losses[1]}`);
    for (const [name, g] of grads.get('reference')!) close(`grad ${name}`, grads.get('native')!.get(name)!, g, 2e-3, 2e-5);
  }
});

test('linearGelu equals gelu(linear) on each backend, bit for bit, forward and backward', { skip }, async () => {
  const { Tensor, setArenaEnabled, resetArena } = await import('../../src/engine/tensor.js');
  const op = await import('../../src/engine/ops.js');
  const rows = 37,
    inF = 24,
    outF = 53;
  const x0 = rand(rows * inF),
    w0 = rand(inF * outF, 0.3),
    b0 = rand(outF),
    r0 = rand(rows * outF);
  setArenaEnabled(true); // the fused op's scratch comes from the arena in training
  try {
    for (const backend of ['reference', 'native'] as const) {
      setBackend(backend);
      const run = (fused: boolean) => {
        resetArena();
        const x = new Tensor(x0.slice(), [rows, inF], true);
        const w = new Tensor(w0.slice(), [inF, outF], true);
        const b = new Tensor(b0.slice(), [outF], true);
        const y = fused ? op.linearGelu(x, w, b) : op.gelu(op.linear(x, w, b));
        const out = y.data.slice();
        op.sum(op.mul(y, new Tensor(r0, [rows, outF]))).backward();
        return { out, dx: x.grad!.slice(), dw: w.grad!.slice(), db: b.grad!.slice() };
      };
      const a = run(true);
      const c = run(false);
      assert.deepEqual(a.out, c.out, `${backend} output`);
      assert.deepEqual(a.dx, c.dx, `${backend} dx`);
      assert.deepEqual(a.dw, c.dw, `${backend} dw`);
      assert.deepEqual(a.db, c.db, `${backend} dbias`);
    }
  } finally {
    setArenaEnabled(false);
    setBackend('native');
  }
});

test('linearCrossEntropy equals crossEntropy(matmul) on each backend, over many chunks', { skip }, async () => {
  const { Tensor } = await import('../../src/engine/tensor.js');
  const op = await import('../../src/engine/ops.js');
  const rows = 37,
    C = 48,
    V = 301;
  const h0 = rand(rows * C),
    w0 = rand(V * C, 0.1);
  const targets = Int32Array.from({ length: rows }, (_, r) => (r % 9 === 4 ? -1 : rng.int(V)));
  const weights = Float32Array.from({ length: rows }, (_, r) => (r < 8 ? 0 : 1 + (r % 3))); // the first chunks weigh 0
  for (const backend of ['reference', 'native'] as const) {
    setBackend(backend);
    const run = (fused: boolean) => {
      const h = new Tensor(h0.slice(), [rows, C], true);
      const w = new Tensor(w0.slice(), [V, C], true);
      const loss = fused ? op.linearCrossEntropy(h, w, targets, { weights, chunkFloats: 4 * V }) : op.crossEntropy(op.matmul(h, w, { transB: true }), targets, { weights });
      op.scale(loss, 0.7).backward();
      return { loss: loss.item(), dh: h.grad!, dw: w.grad! };
    };
    const a = run(true);
    const b = run(false);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * Math.max(1, Math.abs(b.loss)), `${backend} loss ${a.loss} vs ${b.loss}`);
    close(`${backend} dhidden`, a.dh, b.dh, 1e-4, 1e-6);
    close(`${backend} dweight`, a.dw, b.dw, 1e-4, 1e-6);
  }
  setBackend('native');
});
