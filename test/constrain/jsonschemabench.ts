/**
 * JSONSchemaBench (guidance-ai/jsonschemabench, arXiv 2501.10868) as a correctness suite for
 * our JSON Schema compiler: per collection, how many schemas compile (coverage) and, for the
 * MaskBench instances (maskbench/data: each schema with valid/invalid test instances), whether
 * every valid instance is accepted and every invalid one refused when fed token by token.
 *
 * The data is never committed. It is found in $JSONSCHEMABENCH_DIR (a checkout with data/ and
 * maskbench/data/), or extracted from the local git mirror /work/.mirror/guidance-ai+jsonschemabench
 * into the OS temp directory; `locateJsonSchemaBench` says why when neither is there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Tokenizer } from '../../src/tokenizer/index.js';
import { Automaton, GrammarConstraint, lowerSchema, TokenMatcher, tokenTrie } from '../../src/infer/constrain/index.js';

export const MIRROR = '/work/.mirror/guidance-ai+jsonschemabench/repo';

/** The directory holding data/ and maskbench/data/, or a reason it is absent. */
export function locateJsonSchemaBench(): { dir: string } | { missing: string } {
  const env = process.env.JSONSCHEMABENCH_DIR;
  if (env) return existsSync(join(env, 'maskbench', 'data')) ? { dir: env } : { missing: `JSONSCHEMABENCH_DIR=${env} has no maskbench/data` };
  if (!existsSync(MIRROR)) return { missing: `JSONSchemaBench not found: set JSONSCHEMABENCH_DIR to a checkout of guidance-ai/jsonschemabench (no mirror at ${MIRROR})` };
  const commit = execFileSync('git', ['--git-dir', MIRROR, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const dir = join(tmpdir(), `jsonschemabench-${commit.slice(0, 12)}`);
  if (!existsSync(join(dir, '.complete'))) extractMirror(dir);
  return { dir };
}

/** Write data/ and maskbench/data/ of the mirror's HEAD into `dir`; blobs the mirror lacks (a few large files) are skipped and listed in .missing. */
function extractMirror(dir: string): void {
  const list = execFileSync('git', ['--git-dir', MIRROR, 'ls-tree', '-r', 'HEAD', 'data', 'maskbench/data'], { encoding: 'utf8', maxBuffer: 1 << 28 })
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [meta, path] = l.split('\t');
      return { sha: meta.split(' ')[2], path };
    });
  const out = execFileSync('git', ['--git-dir', MIRROR, 'cat-file', '--batch'], { input: list.map((x) => x.sha).join('\n') + '\n', maxBuffer: 1 << 30 });
  let pos = 0;
  const missing: string[] = [];
  for (const { path } of list) {
    const nl = out.indexOf(10, pos);
    const header = out.subarray(pos, nl).toString('utf8');
    pos = nl + 1;
    if (header.endsWith(' missing')) {
      missing.push(path);
      continue;
    }
    const size = Number(header.split(' ')[2]);
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, out.subarray(pos, pos + size));
    pos += size + 1;
  }
  writeFileSync(join(dir, '.missing'), missing.join('\n'));
  writeFileSync(join(dir, '.complete'), '');
}

export interface BenchCase {
  collection: string;
  file: string;
  schema: unknown;
  tests: { valid: boolean; data: unknown; description?: string }[];
}

/** MaskBench cases (schema + instances), collection = the file-name prefix (Github_easy, Kubernetes, …). */
export function loadCases(dir: string, filter?: (collection: string, index: number) => boolean): BenchCase[] {
  const root = join(dir, 'maskbench', 'data');
  const files = readdirSync(root)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const seen = new Map<string, number>();
  const out: BenchCase[] = [];
  for (const f of files) {
    const collection = f.includes('---') ? f.split('---')[0] : f.replace(/_\d+\.json$/, '');
    const k = seen.get(collection) ?? 0;
    seen.set(collection, k + 1);
    if (filter && !filter(collection, k)) continue;
    const j = JSON.parse(readFileSync(join(root, f), 'utf8')) as { schema: unknown; tests?: BenchCase['tests'] };
    out.push({ collection, file: f, schema: j.schema, tests: j.tests ?? [] });
  }
  return out;
}

export interface CollectionReport {
  collection: string;
  total: number;
  compiled: number;
  validAccepted: number;
  validTotal: number;
  invalidRejected: number;
  invalidTotal: number;
  /** Refusal reasons (first words of the error), counted. */
  refusals: Map<string, number>;
  /** Examples of disagreement: file, instance kind, reason. */
  disagreements: string[];
}

export interface RunResult {
  reports: CollectionReport[];
  compileMs: number[];
  compiled: { c: BenchCase; matcher: TokenMatcher }[];
}

/** Compile every case for `tok`; feed each instance token by token. */
export function runCases(cases: BenchCase[], tok: Tokenizer, onProgress?: (done: number) => void): RunResult {
  const trie = tokenTrie(tok);
  const reports = new Map<string, CollectionReport>();
  const compileMs: number[] = [];
  const compiled: RunResult['compiled'] = [];
  cases.forEach((c, i) => {
    let r = reports.get(c.collection);
    if (!r) {
      r = { collection: c.collection, total: 0, compiled: 0, validAccepted: 0, validTotal: 0, invalidRejected: 0, invalidTotal: 0, refusals: new Map(), disagreements: [] };
      reports.set(c.collection, r);
    }
    r.total++;
    let matcher: TokenMatcher;
    try {
      const t0 = performance.now();
      matcher = new TokenMatcher(new Automaton(lowerSchema(c.schema, { file: c.file })), trie);
      compileMs.push(performance.now() - t0);
    } catch (e) {
      const msg = (e as Error).message;
      const m = /keyword "([^"]+)"/.exec(msg);
      const key = m
        ? `unsupported ${m[1]}${/format "([^"]+)"/.test(msg) ? ` (${/format "([^"]+)"/.exec(msg)![1]})` : ''}`
        : msg
            .replace(/^[^:]*: /, '')
            .replace(/\/[^ ]*/g, '…')
            .slice(0, 70);
      r.refusals.set(key, (r.refusals.get(key) ?? 0) + 1);
      return;
    }
    r.compiled++;
    compiled.push({ c, matcher });
    for (const t of c.tests) {
      const text = JSON.stringify(t.data);
      if (text === undefined) continue;
      const con = new GrammarConstraint(matcher);
      let ok = true;
      for (const id of tok.encodeOrdinary(text)) {
        if (!con.advance(id)) {
          ok = false;
          break;
        }
      }
      ok = ok && con.isComplete();
      if (t.valid) {
        r.validTotal++;
        if (ok) r.validAccepted++;
        else if (r.disagreements.length < 20) r.disagreements.push(`${c.file}: valid instance refused: ${text.slice(0, 160)}`);
      } else {
        r.invalidTotal++;
        if (!ok) r.invalidRejected++;
        else if (r.disagreements.length < 20) r.disagreements.push(`${c.file}: invalid instance accepted (${t.description ?? ''}): ${text.slice(0, 160)}`);
      }
    }
    onProgress?.(i + 1);
  });
  return { reports: [...reports.values()], compileMs, compiled };
}

export function formatReport(reports: CollectionReport[]): string {
  const lines = ['collection              compiled/total   valid accepted   invalid rejected'];
  const tot = { total: 0, compiled: 0, va: 0, vt: 0, ir: 0, it: 0 };
  const pct = (a: number, b: number): string => (b === 0 ? '   –  ' : `${((100 * a) / b).toFixed(1).padStart(5)}%`);
  for (const r of reports) {
    lines.push(`${r.collection.padEnd(22)} ${`${r.compiled}/${r.total}`.padStart(10)} ${pct(r.compiled, r.total)}  ${`${r.validAccepted}/${r.validTotal}`.padStart(10)} ${pct(r.validAccepted, r.validTotal)}  ${`${r.invalidRejected}/${r.invalidTotal}`.padStart(10)} ${pct(r.invalidRejected, r.invalidTotal)}`);
    tot.total += r.total;
    tot.compiled += r.compiled;
    tot.va += r.validAccepted;
    tot.vt += r.validTotal;
    tot.ir += r.invalidRejected;
    tot.it += r.invalidTotal;
  }
  lines.push(`${'TOTAL'.padEnd(22)} ${`${tot.compiled}/${tot.total}`.padStart(10)} ${pct(tot.compiled, tot.total)}  ${`${tot.va}/${tot.vt}`.padStart(10)} ${pct(tot.va, tot.vt)}  ${`${tot.ir}/${tot.it}`.padStart(10)} ${pct(tot.ir, tot.it)}`);
  const reasons = new Map<string, number>();
  for (const r of reports) for (const [k, v] of r.refusals) reasons.set(k, (reasons.get(k) ?? 0) + v);
  lines.push(
    'refusals (top 15): ' +
      [...reasons]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([k, v]) => `${k} ×${v}`)
        .join('; '),
  );
  return lines.join('\n');
}
