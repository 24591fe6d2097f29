/**
 * `node dist/bench/sample.js` (after `npx tsc -p .`): the temperature draw's cost per row,
 * JavaScript (the reference backend's tempExp/walkCdf: Math.exp per element) against the
 * native kernels (native/sample.c: V8's exp ported to C, bit-identical) on every kernel path
 * this CPU runs, at V = 4096 (the small preset) and 100,277 (cl100k). Three figures per path:
 * `exp` (the kernel alone: e[i] = exp((l[i] − max) / T) and the sum), `pick` (a whole
 * Sampler.pick at T = 0.7: the max pass, the exponentials and the walk) and `draw` (drawToken, the
 * path after other warpers, on the same row as float64 scores: its max pass, shiftExp, the walk). The paths run in turn
 * inside each round and the median round is kept, so load moving during the run touches all
 * alike. Each native figure is followed by its ratio, JavaScript's time ÷ the path's (above 1:
 * native is faster). The first line names the engine (backend, ISA, threads, CPU).
 *
 *   [SAMPLE_ROUNDS=31] node dist/bench/sample.js
 *
 * Takes no arguments; `SAMPLE_ROUNDS` sets the rounds (default 31, a whole number ≥ 1).
 */
import { loadavg } from 'node:os';
import { engineSummary, getKernels, setBackend } from '../src/engine/backend.js';
import type { Kernels } from '../src/engine/kernels.js';
import { Rng } from '../src/engine/rng.js';
import { Sampler, drawToken } from '../src/infer/processors.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}); // --help: the usage above; any argument refused (exit 2), before any work
const ROUNDS = Number(process.env.SAMPLE_ROUNDS ?? 31);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 1)) {
  process.stderr.write(`bench sample: SAMPLE_ROUNDS: expects a whole number ≥ 1, got ${JSON.stringify(process.env.SAMPLE_ROUNDS)} (--help for the usage)\n`);
  process.exit(2);
}
const T = 0.7;
setBackend('native');
const native = getKernels() as Kernels & { isa: string; setIsa(n: string): void; isas(): Array<{ name: string; supported: boolean }> };
const startIsa = native.isa;
const paths = native
  .isas()
  .filter((s) => s.supported)
  .map((s) => s.name);
console.log(`${engineSummary()}; load average ${loadavg()[0].toFixed(1)} at start`);
console.log(`µs per row, the median of ${ROUNDS} rounds (SAMPLE_ROUNDS); (N×) after a native path's figure: JS time ÷ that path's time, above 1 = native faster`);

const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1];

for (const V of [4096, 100_277]) {
  const rows = V > 10_000 ? 4 : 64;
  const rng = new Rng(3);
  // logits as a model gives them: a spread of ~12 nats, a few masked ids
  const batch = Array.from({ length: rows }, () => new Float32Array(V).map(() => (rng.random() < 0.01 ? -Infinity : (rng.random() - 1) * 12)));
  const e = new Float64Array(V);
  const sampler = new Sampler([], { temperature: T }, new Rng(9));
  // drawToken's input: float64 scores as the warpers leave them ((l − max) / T)
  const scores = batch.map((l) => {
    const m = l.reduce((a, v) => Math.max(a, v), -Infinity);
    return Float64Array.from(l, (v) => (v - m) / T);
  });
  const drawRng = new Rng(10);
  const mxs = batch.map((l) => l.reduce((m, v) => Math.max(m, v), -Infinity));
  const variants: Array<[string, () => void]> = [];
  const use = (backend: 'native' | 'reference', isa?: string): void => {
    setBackend(backend);
    if (isa) native.setIsa(isa);
  };
  for (const which of ['js', ...paths]) {
    const set = (): void => use(which === 'js' ? 'reference' : 'native', which === 'js' ? undefined : which);
    variants.push([
      `${which} exp`,
      () => {
        set();
        const k = getKernels();
        for (let r = 0; r < rows; r++) k.tempExp(batch[r], mxs[r], T, e, V);
      },
    ]);
    variants.push([
      `${which} draw`,
      () => {
        set();
        for (let r = 0; r < rows; r++) drawToken(scores[r], drawRng, e);
      },
    ]);
    variants.push([
      `${which} pick`,
      () => {
        set();
        for (let r = 0; r < rows; r++) sampler.pick(batch[r]);
      },
    ]);
  }
  const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (let round = 0; round < ROUNDS + 2; round++) {
    for (const [name, f] of variants) {
      const t0 = process.hrtime.bigint();
      f();
      const us = Number(process.hrtime.bigint() - t0) / 1e3 / rows;
      if (round >= 2) times.get(name)!.push(us); // two warm-up rounds
    }
  }
  const js = { exp: median(times.get('js exp')!), pick: median(times.get('js pick')!), draw: median(times.get('js draw')!) };
  const parts = [`V=${V} (${rows} rows × ${ROUNDS} rounds, µs/row, median): js exp ${js.exp.toFixed(1)} pick ${js.pick.toFixed(1)} draw ${js.draw.toFixed(1)}`];
  const ratio = (jsUs: number, us: number): string => `(JS ÷ native ${(jsUs / us).toFixed(2)}×)`;
  for (const isa of paths) {
    const x = median(times.get(`${isa} exp`)!),
      p = median(times.get(`${isa} pick`)!),
      d = median(times.get(`${isa} draw`)!);
    parts.push(`${isa} exp ${x.toFixed(1)} ${ratio(js.exp, x)} pick ${p.toFixed(1)} ${ratio(js.pick, p)} draw ${d.toFixed(1)} ${ratio(js.draw, d)}`);
  }
  console.log(parts.join('; '));
}
setBackend('native');
native.setIsa(startIsa);
console.log(`load average ${loadavg()[0].toFixed(1)} at end`);
