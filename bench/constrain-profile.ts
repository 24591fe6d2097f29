/**
 * node dist/bench/constrain-profile.js — where cl100k's mask time goes (issue #17's unmet
 * target): the same schemas as `npm run bench:constrain` (its 150-case MaskBench sample, each
 * compiled afresh and its valid instance fed token by token, fillMask timed before every
 * token), over cl100k only, in `--passes N` passes (default 2; the first warms V8's compiles
 * and the plain-text index, untimed by the main bench's built-in warm-up the same way), the
 * shared frame cache cleared and a full collection before each pass. Per pass: CPU mean and p99
 * per mask, and deterministic counts — frames walked, trie nodes visited, automaton states and
 * stack nodes built — that move only when the work does, whatever the machine's load — and a
 * hash of every mask (FNV-1a over its words, outside the timing: a change that keeps it keeps the masks).
 * --cpu-prof FILE: V8's sampling profile of the last pass alone (node:inspector, 200 µs), written to
 * FILE (open in Chrome DevTools), and the functions' own time inside fillMask printed, the
 * --top N largest (default 25). Flags: --schemas N (default 150), --passes N, --cpu-prof FILE, --top N.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Automaton, clearSharedFrames, GrammarConstraint, lowerSchema, TokenMatcher, tokenTrie } from '../src/infer/constrain/index.js';
import { signatureStats } from '../src/infer/constrain/matcher.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { cl100kRankFileText } from '../test/tokenizer/corpus.js';
import { loadCases, locateJsonSchemaBench } from '../test/constrain/jsonschemabench.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, { schemas: 'value', passes: 'value', 'cpu-prof': 'value', top: 'value' });
const args = process.argv.slice(2);
const num = (name: string, def: number, min: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`bench constrain-profile: ${name} ${args[i + 1]}: expected a whole number ≥ ${min}\n`);
    process.exit(2);
  }
  return v;
};
const nSchemas = num('--schemas', 150, 1);
const passes = num('--passes', 2, 1);
const top = num('--top', 25, 1);
const profFile = args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : undefined;

setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Each function's own time (ms) in the samples under a frame named `root`, largest first. */
function selfTimes(p: Profile, root: string): { total: number; under: number; rows: [string, number][] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isUnder = new Map<number, boolean>();
  const under = (id: number): boolean => {
    const hit = isUnder.get(id);
    if (hit !== undefined) return hit;
    const n = byId.get(id);
    const up = parent.get(id);
    const r = n !== undefined && (n.callFrame.functionName === root || (up !== undefined && under(up)));
    isUnder.set(id, r);
    return r;
  };
  const own = new Map<string, number>();
  let total = 0;
  let inRoot = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    if (!under(p.samples[i])) continue;
    inRoot += dt;
    const cf = byId.get(p.samples[i])!.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop()}:${cf.lineNumber + 1}`;
    own.set(key, (own.get(key) ?? 0) + dt);
  }
  return { total, under: inRoot, rows: [...own].sort((a, b) => b[1] - a[1]) };
}

async function main(): Promise<void> {
  const loc = locateJsonSchemaBench();
  if ('missing' in loc) {
    process.stderr.write(`bench constrain-profile: ${loc.missing}\n`);
    process.exit(1);
  }
  const { text, specials } = cl100kRankFileText();
  const tok = Tokenizer.fromTiktoken(text, { pattern: 'cl100k', specialTokens: specials });
  const trie = tokenTrie(tok);
  // the main bench's sample (bench/constrain.ts sampleCases): every step-th case with a valid instance
  let all = loadCases(loc.dir, () => true).filter((c) => c.tests.some((t) => t.valid));
  const step = Math.max(1, Math.floor(all.length / nSchemas));
  const cases = all
    .filter((_, i) => i % step === 0)
    .slice(0, nSchemas)
    .map((c) => ({ c, ids: tok.encodeOrdinary(JSON.stringify(c.tests.find((t) => t.valid)!.data)) }));
  all = [];
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params: object = {}): Promise<T> => new Promise((res, rej) => session.post(method, params, (e, r) => (e ? rej(e) : res(r as T))));
  const mask = new Uint32Array(trie.words);
  console.log(`cl100k (V=${tok.vocabSize}, trie ${trie.size} nodes), ${cases.length} schemas sampled; load average ${loadavg()[0].toFixed(1)}`);
  for (let pass = 0; pass < passes; pass++) {
    clearSharedFrames(trie);
    fullGc();
    const profiling = profFile !== undefined && pass === passes - 1;
    if (profiling) {
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: 200 });
      await post('Profiler.start');
    }
    const times: number[] = [];
    let frames = 0;
    let trieNodes = 0;
    let states = 0;
    let stackNodes = 0;
    let transitions = 0;
    let shared = 0;
    let reachSigned = 0;
    let throughRules = 0;
    let sharedHits = 0;
    let hash = 0x811c9dc5; // FNV-1a over every mask's words, outside the timing: equal hashes = the same masks
    for (const { c, ids } of cases) {
      let m: TokenMatcher;
      try {
        m = new TokenMatcher(new Automaton(lowerSchema(c.schema, { file: c.file })), trie);
      } catch {
        continue; // not compiled (the main bench's coverage)
      }
      const con = new GrammarConstraint(m);
      for (const id of ids) {
        const t0 = cpuMs();
        con.fillMask(mask);
        times.push(cpuMs() - t0);
        for (let w = 0; w < mask.length; w++) hash = Math.imul(hash ^ mask[w], 0x01000193);
        if (!con.advance(id)) break;
      }
      frames += m.framesBuilt;
      trieNodes += m.nodesVisited;
      states += m.automaton.stateCount;
      stackNodes += m.automaton.nodeCount;
      transitions += m.automaton.transitionsComputed;
      shared += m.automaton.transitionsShared;
      reachSigned += m.reachSigned;
      throughRules += m.automaton.reachThroughRules;
      sharedHits += m.sharedHits;
    }
    const mean = (1000 * times.reduce((a, b) => a + b, 0)) / times.length;
    const p99 = 1000 * times.slice().sort((a, b) => a - b)[Math.floor(0.99 * times.length)];
    console.log(
      `pass ${pass + 1}: ${times.length} masks, CPU mean ${mean.toFixed(1)} µs, p99 ${p99.toFixed(0)} µs; frames walked ${frames}, trie nodes ${trieNodes}, states ${states}, stack nodes ${stackNodes}, transitions computed ${transitions} (+${shared} alike), configurations signed by reach ${reachSigned} (${throughRules} through rules), shared frame hits ${sharedHits}, signature ids ${signatureStats().ids} (resets so far ${signatureStats().epoch}); masks' hash ${(hash >>> 0).toString(16).padStart(8, '0')}; load ${loadavg()[0].toFixed(1)}`,
    );
    if (profiling) {
      const { profile } = await post<{ profile: Profile }>('Profiler.stop');
      writeFileSync(profFile, JSON.stringify(profile));
      const { total, under, rows } = selfTimes(profile, 'fillMask');
      console.log(`profile (${profFile}): ${total.toFixed(0)} ms sampled, ${under.toFixed(0)} ms inside fillMask; own time there:`);
      for (const [k, ms] of rows.slice(0, top)) console.log(`  ${((100 * ms) / under).toFixed(1).padStart(5)}%  ${ms.toFixed(1).padStart(7)} ms  ${k}`);
    }
  }
}

await main();
