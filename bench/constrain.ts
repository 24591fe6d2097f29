/**
 * npm run bench:constrain — constrained decoding speed (MaskBench methodology, guidance-ai/
 * jsonschemabench/maskbench): for each JSON Schema, compile time (schema → grammar → automaton,
 * the vocabulary trie built once per tokenizer and not counted), then feed a valid instance
 * token by token and time the mask computation before every token (fillMask: trie walk or
 * per-state cache hit). Over our 4k byte-level BPE (trained here on a fixed mixture) and
 * cl100k's 100k vocabulary. Schemas: JSONSchemaBench's MaskBench cases when the data is present
 * (see test/constrain/jsonschemabench.ts), sampled evenly across collections, else a built-in set.
 * Then XGrammar's WebAssembly build (@mlc-ai/web-xgrammar) on the first --xgrammar N (default
 * 20; 0 = skip) of the same schemas and vocabularies, ours re-timed on that subset beside it.
 * Flags: --schemas N (default 150), --xgrammar N, --vocab 4k|cl100k|both (default both; XGrammar
 * runs only with both), --top N (the N schemas with the most mask time, per vocabulary), --no-warmup (time a cold
 * process: by default the built-in schemas run untimed first, so V8's compiles of the matcher are not timed), --coverage (also the full coverage/agreement
 * table on the 4k vocabulary), --json. Wall time (performance.now) and process CPU time are both reported:
 * on a shared machine CPU time is the more faithful figure. Also the garbage collector's time per
 * vocabulary's run (perf_hooks GC entries): in all, in full collections, and inside timed masks.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Automaton, clearSharedFrames, GrammarConstraint, lowerSchema, TokenMatcher, tokenTrie } from '../src/infer/constrain/index.js';
import { Tokenizer, trainTokenizer } from '../src/tokenizer/index.js';
import { cl100kRankFileText, multilingualText } from '../test/tokenizer/corpus.js';
import { formatReport, loadCases, locateJsonSchemaBench, runCases, type BenchCase } from '../test/constrain/jsonschemabench.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, { schemas: 'value', xgrammar: 'value', vocab: 'value', top: 'value', 'no-warmup': 'switch', coverage: 'switch', json: 'switch' });

const args = process.argv.slice(2);
const json = args.includes('--json');
/** A bad command line: the message and the usage on stderr, exit code 2, no stack. */
function usage(problem: string): never {
  process.stderr.write(`bench constrain: ${problem}\nusage: node dist/bench/constrain.js [--schemas N] [--xgrammar N] [--vocab 4k|cl100k|both] [--top N] [--no-warmup] [--coverage] [--json]\n`);
  process.exit(2);
}
const flag = (name: string, def: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (args[i + 1] === undefined || !Number.isInteger(v) || v < 0) usage(`${name} ${args[i + 1] ?? '(missing)'}: expected a whole number ≥ 0`);
  return v;
};
const flagText = (name: string, def: string): string => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  if (args[i + 1] === undefined || args[i + 1].startsWith('--')) usage(`${name}: missing its value`);
  return args[i + 1];
};
const emit = (fig: Record<string, unknown>, text: string): void => console.log(json ? JSON.stringify(fig) : text);

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/**
 * What the per-mask timers add to each figure, measured in this process: the mean CPU time
 * (`cpuMs`) and wall time (performance.now) of an empty interval between two readings, as
 * around a mask. process.cpuUsage is a getrusage system call, ≈ 1 µs of CPU (≈ 0.1 µs for
 * process.hrtime.bigint, which reads wall time, not CPU); getrusage counts whole microseconds,
 * so the mean of many intervals is taken.
 */
function timerCost(n = 20_000): { cpu: number; wall: number } {
  let cpu = 0;
  let wall = 0;
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    const b = cpuMs();
    cpu += cpuMs() - b;
    wall += performance.now() - a;
  }
  return { cpu: cpu / n, wall: wall / n };
}
const pct = (xs: number[], p: number): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function isa(): string {
  try {
    const flags = /flags\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(' ') ?? [];
    return ['avx512f', 'avx2', 'fma', 'neon'].filter((f) => flags.includes(f)).join('+') || 'unknown';
  } catch {
    return 'unknown';
  }
}

const BUILTIN: BenchCase[] = [
  {
    collection: 'builtin',
    file: 'person.json',
    schema: { type: 'object', properties: { name: { type: 'string', maxLength: 40 }, age: { type: 'integer', minimum: 0, maximum: 150 }, email: { type: 'string', format: 'email' }, tags: { type: 'array', items: { type: 'string' }, maxItems: 8 } }, required: ['name', 'age'], additionalProperties: false },
    tests: [{ valid: true, data: { name: 'Alice Example', age: 42, email: 'alice@example.com', tags: ['admin', 'dev', 'ops'] } }],
  },
  {
    collection: 'builtin',
    file: 'tree.json',
    schema: { $defs: { node: { type: 'object', properties: { value: { type: 'number' }, label: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['value'] } }, $ref: '#/$defs/node' },
    tests: [{ valid: true, data: { value: 1.5, label: 'root', children: [{ value: 2, children: [{ value: -3e4, label: 'leaf ✓' }] }, { value: 4 }] } }],
  },
  {
    collection: 'builtin',
    file: 'event.json',
    schema: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, at: { type: 'string', format: 'date-time' }, kind: { enum: ['create', 'update', 'delete'] }, payload: {} }, required: ['id', 'at', 'kind'] },
    tests: [{ valid: true, data: { id: '123e4567-e89b-12d3-a456-426614174000', at: '2024-01-31T12:30:00Z', kind: 'update', payload: { x: [1, 2, { y: null }], s: 'free text with "quotes"' } } }],
  },
];

function ours4k(): Tokenizer {
  const jsonish = BUILTIN.map((c) => JSON.stringify(c.tests[0].data)).join('\n');
  return trainTokenizer([multilingualText(1_000_000, 7), jsonish.repeat(50)], { vocabSize: 4096 });
}

interface Timing {
  compileWall: number[];
  compileCpu: number[];
  maskWall: number[];
  maskCpu: number[];
  warmCpu: number[];
  cacheHits: number;
  walks: number;
  nodes: number;
  failed: number;
  /** The slowest single mask: its schema file. */
  worst: { ms: number; file: string; token: number };
  /** Per compiled schema: its masks' CPU time in all (ms), their count, frames walked and those without a signature (never shared). */
  perSchema: { file: string; ms: number; masks: number; frames: number; unshareable: number; nodes: number }[];
  /** Wall-clock span of each timed mask (performance.now, ms), for the collector's share (gcReport). */
  maskStart: number[];
  maskEnd: number[];
  /** FNV-1a over every timed mask's words (outside the timing): equal between builds = the same masks. */
  hash: number;
  runStart: number;
  runEnd: number;
}

/**
 * A full collection on demand (V8's gc(), reached without --expose-gc): run before each
 * vocabulary's timed run so the garbage of setting it up (the 9,795 schemas loaded, cl100k's
 * tokenizer and trie built) is not collected inside the timed masks.
 */
setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;

/** Every garbage collection of the process (delivered asynchronously: read after an await). */
const gcEntries: PerformanceEntry[] = [];
new PerformanceObserver((list) => {
  gcEntries.push(...list.getEntries());
}).observe({ entryTypes: ['gc'] });

/**
 * The collector's time during one vocabulary's run (compile, masks, advancing) and inside its
 * timed masks: a collection that starts within a mask's span is that mask's (a full collection
 * there is what sets the slowest masks).
 */
async function gcReport(name: string, t: Timing): Promise<void> {
  await new Promise((r) => setTimeout(r, 20)); // entries arrive a timer turn after the collections
  let runMs = 0;
  let runN = 0;
  let majorN = 0;
  let majorMs = 0;
  let inMaskMs = 0;
  let inMaskN = 0;
  let inMaskMajor = 0;
  for (const e of gcEntries) {
    if (e.startTime < t.runStart || e.startTime > t.runEnd) continue;
    runMs += e.duration;
    runN++;
    const major = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR;
    if (major) {
      majorN++;
      majorMs += e.duration;
    }
    // binary search: the last mask starting at or before the collection
    let lo = 0;
    let hi = t.maskStart.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t.maskStart[mid] <= e.startTime) lo = mid;
      else hi = mid - 1;
    }
    if (t.maskStart.length > 0 && t.maskStart[lo] <= e.startTime && e.startTime <= t.maskEnd[lo]) {
      inMaskMs += e.duration;
      inMaskN++;
      if (major) inMaskMajor++;
    }
  }
  emit(
    { figure: 'constrain-gc', vocab: name, gc_ms: runMs, gc_count: runN, major_count: majorN, major_ms: majorMs, in_masks_ms: inMaskMs, in_masks_count: inMaskN, in_masks_major: inMaskMajor, run_ms: t.runEnd - t.runStart },
    `  garbage collection during the run: ${runMs.toFixed(0)} ms of ${(t.runEnd - t.runStart).toFixed(0)} ms wall (${runN} collections, ${majorN} full: ${majorMs.toFixed(0)} ms); inside timed masks ${inMaskMs.toFixed(0)} ms (${inMaskN} collections, ${inMaskMajor} full)`,
  );
}

function timeVocab(name: string, tok: Tokenizer, cases: BenchCase[]): Timing {
  const trie = tokenTrie(tok);
  if (!args.includes('--no-warmup')) {
    // V8 compiles the matcher's functions once per process (≈ 10 µs of the 4k vocabulary's mean
    // when it happens inside the timed masks, and it used to land on whichever vocabulary ran
    // first): the built-in schemas (not in the sample) are compiled and fed three times first,
    // untimed, like the trie build. Per-schema work stays cold: the frames they leave in the
    // vocabulary's shared cache are cleared below, and every sampled schema is compiled afresh.
    // --no-warmup: a cold process, as rounds 1–9 measured.
    const m = new Uint32Array(Math.ceil(tok.vocabSize / 32));
    for (let r = 0; r < 3; r++) {
      for (const c of BUILTIN) {
        const con = new GrammarConstraint(new TokenMatcher(new Automaton(lowerSchema(c.schema, { file: c.file })), trie));
        for (const id of tok.encodeOrdinary(JSON.stringify(c.tests[0].data))) {
          con.fillMask(m);
          con.advance(id);
        }
      }
      clearSharedFrames(trie);
    }
  }
  clearSharedFrames(trie); // cold: nothing carried over from an earlier run
  fullGc();
  const timer = timerCost();
  const t: Timing = { compileWall: [], compileCpu: [], maskWall: [], maskCpu: [], warmCpu: [], cacheHits: 0, walks: 0, nodes: 0, failed: 0, worst: { ms: 0, file: '', token: 0 }, perSchema: [], maskStart: [], maskEnd: [], hash: 0x811c9dc5, runStart: 0, runEnd: 0 };
  t.runStart = performance.now();
  const mask = new Uint32Array(Math.ceil(tok.vocabSize / 32));
  for (const c of cases) {
    let matcher: TokenMatcher;
    const w0 = performance.now();
    const c0 = cpuMs();
    try {
      matcher = new TokenMatcher(new Automaton(lowerSchema(c.schema, { file: c.file })), trie);
    } catch {
      continue;
    }
    t.compileCpu.push(cpuMs() - c0);
    t.compileWall.push(performance.now() - w0);
    const inst = c.tests.find((x) => x.valid);
    if (!inst) continue;
    const con = new GrammarConstraint(matcher);
    const ids = tok.encodeOrdinary(JSON.stringify(inst.data));
    let ok = true;
    const first = t.maskCpu.length;
    for (const id of ids) {
      const a = performance.now();
      const b = cpuMs();
      con.fillMask(mask);
      const dt = cpuMs() - b;
      t.maskCpu.push(dt);
      if (dt > t.worst.ms) t.worst = { ms: dt, file: c.file, token: t.maskCpu.length };
      const z = performance.now();
      t.maskWall.push(z - a);
      t.maskStart.push(a);
      t.maskEnd.push(z);
      let h = t.hash;
      for (let w = 0; w < mask.length; w++) h = Math.imul(h ^ mask[w], 0x01000193);
      t.hash = h;
      if (!con.advance(id)) {
        ok = false;
        break;
      }
    }
    if (!ok) t.failed++;
    let ms = 0;
    for (let i = first; i < t.maskCpu.length; i++) ms += t.maskCpu[i];
    t.perSchema.push({ file: c.file, ms, masks: t.maskCpu.length - first, frames: matcher.framesBuilt, unshareable: matcher.sigNull, nodes: matcher.nodesVisited });
    t.cacheHits += matcher.cacheHits;
    t.nodes += matcher.nodesVisited;
    // warm: the same instance again on the same compiled matcher (another request or row with this schema)
    const again = new GrammarConstraint(matcher);
    for (const id of ids) {
      const b = cpuMs();
      again.fillMask(mask);
      t.warmCpu.push(cpuMs() - b);
      if (!again.advance(id)) break;
    }
  }
  t.runEnd = performance.now();
  const us = (x: number): string => `${(x * 1000).toFixed(1)} µs`;
  emit(
    {
      figure: 'constrain',
      vocab: name,
      vocab_size: tok.vocabSize,
      schemas: t.compileCpu.length,
      tokens: t.maskCpu.length,
      mask_mean_us: mean(t.maskCpu) * 1000,
      mask_p50_us: pct(t.maskCpu, 0.5) * 1000,
      mask_p99_us: pct(t.maskCpu, 0.99) * 1000,
      mask_wall_mean_us: mean(t.maskWall) * 1000,
      mask_wall_p99_us: pct(t.maskWall, 0.99) * 1000,
      warm_mean_us: mean(t.warmCpu) * 1000,
      warm_p99_us: pct(t.warmCpu, 0.99) * 1000,
      compile_p50_ms: pct(t.compileCpu, 0.5),
      compile_p90_ms: pct(t.compileCpu, 0.9),
      compile_wall_p50_ms: pct(t.compileWall, 0.5),
      cache_hit_rate: t.cacheHits / Math.max(1, t.maskCpu.length),
      timer_cpu_us: timer.cpu * 1000,
      timer_wall_us: timer.wall * 1000,
      load: loadavg()[0],
      mask_hash: (t.hash >>> 0).toString(16).padStart(8, '0'),
    },
    [
      `${name} (V=${tok.vocabSize}, trie ${trie.size} nodes): ${t.compileCpu.length} schemas, ${t.maskCpu.length} tokens${t.failed ? `, ${t.failed} instances refused` : ''}; load average ${loadavg()[0].toFixed(1)} at the end`,
      `  mask per token (CPU):  mean ${us(mean(t.maskCpu))}  p50 ${us(pct(t.maskCpu, 0.5))}  p99 ${us(pct(t.maskCpu, 0.99))}  max ${us(pct(t.maskCpu, 1))} (${t.worst.file})   [targets: mean ≤ 50 µs, p99 ≤ 500 µs]`,
      `  mask per token (wall): mean ${us(mean(t.maskWall))}  p99 ${us(pct(t.maskWall, 0.99))}`,
      `  the timers themselves, in each figure above: CPU ${us(timer.cpu)} (process.cpuUsage read twice; mean without it ${us(mean(t.maskCpu) - timer.cpu)}), wall ${us(timer.wall)} (performance.now)`,
      `  mask per token, warm (same schema again, CPU): mean ${us(mean(t.warmCpu))}  p99 ${us(pct(t.warmCpu, 0.99))}`,
      `  masks' hash ${(t.hash >>> 0).toString(16).padStart(8, '0')} (FNV-1a over every timed mask: equal between builds = the same masks)`,
      `  mask cache hits ${((100 * t.cacheHits) / Math.max(1, t.maskCpu.length)).toFixed(1)}%, trie nodes visited per uncached mask ${(t.nodes / Math.max(1, t.maskCpu.length - t.cacheHits)).toFixed(0)}`,
      `  compile (CPU): p50 ${pct(t.compileCpu, 0.5).toFixed(2)} ms  p90 ${pct(t.compileCpu, 0.9).toFixed(2)} ms  max ${pct(t.compileCpu, 1).toFixed(1)} ms   (wall p50 ${pct(t.compileWall, 0.5).toFixed(2)} ms) [target p50 ≤ 10 ms]`,
    ].join('\n'),
  );
  const top = flag('--top', 0);
  if (top > 0) {
    // where the mask time goes: the schemas that take most of it, with their frames walked
    const total = t.maskCpu.reduce((x, y) => x + y, 0);
    const rows = t.perSchema
      .slice()
      .sort((x, y) => y.ms - x.ms)
      .slice(0, top);
    emit(
      { figure: 'constrain-top', vocab: name, total_ms: total, schemas: rows },
      [
        `  the ${rows.length} schemas with the most mask time (of ${total.toFixed(0)} ms CPU in all):`,
        ...rows.map((r) => `    ${((100 * r.ms) / total).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(5)} ms  ${String(r.masks).padStart(5)} masks  ${String(r.frames).padStart(5)} frames walked (${r.unshareable} without a signature)  ${r.nodes} trie nodes  ${r.file}`),
      ].join('\n'),
    );
  }
  return t;
}

/**
 * n cases sampled evenly from the collections. Its own function so the ≈ 10k loaded cases die
 * here: held in main's (async) frame they stayed alive, ≈ 110 MB of heap that every full
 * collection inside the timed masks had to mark (≈ 200 ms each instead of ≈ 20).
 */
function sampleCases(dir: string, n: number): { sample: BenchCase[]; total: number } {
  const all = loadCases(dir, () => true).filter((c) => c.tests.some((t) => t.valid));
  const step = Math.max(1, Math.floor(all.length / n));
  return { sample: all.filter((_, i) => i % step === 0).slice(0, n), total: all.length };
}

async function main(): Promise<void> {
  const nSchemas = flag('--schemas', 150);
  // no schema, no figure: refused rather than tables of NaN (--xgrammar 0 and --top 0 do mean "skip")
  if (nSchemas < 1) usage(`--schemas ${nSchemas}: expected a whole number ≥ 1 (the JSONSchemaBench cases to time)`);
  const nXg = flag('--xgrammar', 20);
  flag('--top', 0); // checked before any work
  const vocab = flagText('--vocab', 'both');
  if (vocab !== 'both' && vocab !== '4k' && vocab !== 'cl100k') usage(`--vocab ${vocab}: expected 4k, cl100k or both`);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const warm = !args.includes('--no-warmup');
  emit({ figure: 'machine', cpu, isa: isa(), node: process.version, load: loadavg()[0], jit_warmup: warm }, `${cpu}, ISA ${isa()}, ${cpus().length} cores, node ${process.version}, load average ${loadavg()[0].toFixed(1)}; JIT warm-up ${warm ? 'on (the built-in schemas run untimed first; --no-warmup: off)' : 'off'}`);
  const loc = locateJsonSchemaBench();
  let cases: BenchCase[];
  if ('dir' in loc) {
    const { sample, total } = sampleCases(loc.dir, nSchemas);
    cases = sample;
    emit({ figure: 'data', source: loc.dir, schemas: cases.length }, `JSONSchemaBench MaskBench cases: ${cases.length} sampled evenly from ${total} with a valid instance (${loc.dir})`);
    if (args.includes('--coverage')) {
      const t0 = Date.now();
      const res = runCases(loadCases(loc.dir), ours4kTok());
      emit({ figure: 'coverage' }, `${formatReport(res.reports)}\n(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  } else {
    cases = BUILTIN;
    emit({ figure: 'data', source: 'builtin', reason: loc.missing }, `${loc.missing}; timing the ${BUILTIN.length} built-in schemas instead`);
  }
  if (vocab !== 'cl100k') await gcReport('ours-4k', timeVocab('ours-4k', ours4kTok(), cases));
  const { text, specials } = cl100kRankFileText();
  const cl100k = Tokenizer.fromTiktoken(text, { pattern: 'cl100k', specialTokens: specials });
  if (vocab !== '4k') await gcReport('cl100k', timeVocab('cl100k', cl100k, cases));
  if (nXg > 0 && vocab === 'both') {
    const xg = await loadXGrammar();
    if (typeof xg === 'string') emit({ figure: 'note', text: `no XGrammar: ${xg}` }, `XGrammar not run: ${xg}`);
    else {
      // the first nXg of the same schemas (XGrammar's compile is much slower)
      const sub = cases.slice(0, nXg);
      emit({ figure: 'note', text: 'xgrammar subset' }, `XGrammar on the first ${sub.length} of those schemas (any_whitespace=true); ours on the same subset:`);
      for (const [name, tok] of [
        ['ours-4k', ours4kTok()],
        ['cl100k', cl100k],
      ] as const) {
        timeVocab(`${name} (subset)`, tok, sub);
        await timeXGrammar(xg, name, tok, sub);
      }
    }
  }
}

// ---- XGrammar's WebAssembly build, side by side (same schemas, same vocabulary) ----------

interface XgMatcher {
  getNextTokenBitmask(): Promise<Int32Array>;
  acceptToken(id: number): boolean;
  dispose(): void;
}
interface Xg {
  TokenizerInfo: { createTokenizerInfo(vocab: string[], type: string, prependSpace: boolean, vocabSize: number, stop: number[]): Promise<unknown> };
  GrammarCompiler: { createGrammarCompiler(info: unknown, cache?: boolean): Promise<{ compileJSONSchema(schema: string, anyWhitespace?: boolean): Promise<{ dispose(): void }> }> };
  GrammarMatcher: { createGrammarMatcher(cg: unknown): Promise<XgMatcher> };
}

async function loadXGrammar(): Promise<Xg | string> {
  try {
    // The package is a UMD bundle: under Node's ESM loader it expects CommonJS globals and
    // registers itself as globalThis.xgrammar.
    const req = createRequire(import.meta.url);
    const g = globalThis as Record<string, unknown>;
    g.require ??= req;
    g.__filename ??= req.resolve('@mlc-ai/web-xgrammar');
    g.__dirname ??= (g.__filename as string).replace(/\/[^/]*$/, '');
    await import('@mlc-ai/web-xgrammar' as string);
    return (g.xgrammar as Xg | undefined) ?? 'the bundle did not register globalThis.xgrammar';
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/** GPT-2's byte → printable-character map, the "byte_level" vocabulary encoding XGrammar reads. */
function byteLevelVocab(tok: Tokenizer): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) bs.push(b), cs.push(256 + n++);
  const map: string[] = [];
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i])));
  const specials = new Map([...tok.specialTokens].map(([name, id]) => [id, name]));
  const out: string[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    const sp = specials.get(id);
    if (sp !== undefined) out.push(sp);
    else {
      try {
        out.push(Array.from(tok.tokenBytes(id), (b) => map[b]).join(''));
      } catch {
        out.push(`<|unused_${id}|>`);
      }
    }
  }
  return out;
}

async function timeXGrammar(xg: Xg, name: string, tok: Tokenizer, cases: BenchCase[]): Promise<void> {
  const stop = [...tok.specialTokens.values()];
  const info = await xg.TokenizerInfo.createTokenizerInfo(byteLevelVocab(tok), 'byte_level', false, tok.vocabSize, stop.length ? stop : [tok.vocabSize - 1]);
  const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
  const compile: number[] = [];
  const masks: number[] = [];
  let refused = 0;
  let failed = 0;
  for (const c of cases) {
    const inst = c.tests.find((x) => x.valid);
    if (!inst) continue;
    let cg: { dispose(): void };
    const c0 = cpuMs();
    try {
      cg = await compiler.compileJSONSchema(JSON.stringify(c.schema), true);
    } catch {
      refused++;
      continue;
    }
    compile.push(cpuMs() - c0);
    const m = await xg.GrammarMatcher.createGrammarMatcher(cg);
    for (const id of tok.encodeOrdinary(JSON.stringify(inst.data))) {
      const b = cpuMs();
      await m.getNextTokenBitmask();
      masks.push(cpuMs() - b);
      if (!m.acceptToken(id)) {
        failed++;
        break;
      }
    }
    m.dispose();
    cg.dispose();
  }
  const us = (x: number): string => `${(x * 1000).toFixed(1)} µs`;
  emit(
    { figure: 'xgrammar', vocab: name, schemas: compile.length, refused, instances_refused: failed, tokens: masks.length, mask_mean_us: mean(masks) * 1000, mask_p99_us: pct(masks, 0.99) * 1000, compile_p50_ms: pct(compile, 0.5) },
    [
      `XGrammar (web-xgrammar 0.1.27, WASM) ${name}: ${compile.length} schemas compiled (${refused} refused), ${masks.length} tokens${failed ? `, ${failed} instances refused` : ''}`,
      `  mask per token (CPU): mean ${us(mean(masks))}  p50 ${us(pct(masks, 0.5))}  p99 ${us(pct(masks, 0.99))}`,
      `  compile (CPU): p50 ${pct(compile, 0.5).toFixed(2)} ms  p90 ${pct(compile, 0.9).toFixed(2)} ms  max ${pct(compile, 1).toFixed(1)} ms`,
    ].join('\n'),
  );
}

let cached4k: Tokenizer | undefined;
function ours4kTok(): Tokenizer {
  cached4k ??= ours4k();
  return cached4k;
}

await main();
