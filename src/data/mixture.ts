import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { GptforgeError } from '../util/errors.js';
import { closestKey } from '../util/closest.js';
import { parseJsonFile } from '../util/json.js';
import { readTextFile } from './jsonl.js';
import { hashSeed, Rng } from '../engine/rng.js';
import type { CleanOptions } from './clean.js';
import { BUILTIN_SOURCES, type SourceConfig } from './sources.js';

/**
 * The data mixture (LLaMA's table): sources with weights (proportions of training tokens)
 * and a token budget. Each source is seen `epochs = weight share × budget / its tokens`
 * times; small high-quality sources can be repeated, big ones sampled partially.
 */
export interface MixtureConfig {
  sources: SourceConfig[];
  /** Training tokens the mixture should provide (the loader wraps around after). */
  tokenBudget: number;
  seed?: number;
  /** Fraction of each source's documents held out for validation (default 0.01, at least one). */
  valFraction?: number;
  clean?: Partial<CleanOptions>;
  /** Tokenizer to train when the run has none yet. */
  tokenizer?: {
    vocabSize: number;
    pattern?: string;
    sampleBytes?: number;
    /** Make all hundred two-digit groups tokens (with the 'gpt4' pattern: every number is whole pairs). */
    digitPairs?: boolean;
  };
}

/** The keys of a mixture source (SourceConfig). */
const SOURCE_KEYS: readonly string[] = ['name', 'builtin', 'paths', 'field', 'weight'];

export function validateMixture(c: MixtureConfig, file = 'mixture config'): void {
  if (!c || !Array.isArray(c.sources) || c.sources.length === 0) throw new GptforgeError('needs a non-empty "sources" list', { file, field: 'sources' });
  const names = new Set<string>();
  let total = 0;
  c.sources.forEach((s, i) => {
    const where = { file, field: `sources[${i}]${s?.name ? ` (${s.name})` : ''}` };
    // a misspelt key ("wieght") would otherwise read as a missing one
    const unknown = s && typeof s === 'object' ? Object.keys(s).filter((k) => !SOURCE_KEYS.includes(k)) : [];
    const near = unknown.length > 0 ? closestKey(unknown[0], SOURCE_KEYS) : undefined;
    if (unknown.length > 0) throw new GptforgeError(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}${near ? `; did you mean "${near}"?` : ''} (a source has: ${SOURCE_KEYS.join(', ')})`, { ...where, field: `${where.field}.${unknown[0]}` });
    if (!s || typeof s.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(s.name)) throw new GptforgeError('each source needs a "name" of letters, digits, _ . -', where);
    if (names.has(s.name)) throw new GptforgeError(`duplicate source name "${s.name}"`, where);
    names.add(s.name);
    if (typeof s.weight !== 'number' || !Number.isFinite(s.weight) || s.weight < 0) throw new GptforgeError(`weight must be a number ≥ 0, got ${JSON.stringify(s.weight)}`, { ...where, field: `${where.field}.weight` });
    if ((s.builtin === undefined) === (s.paths === undefined)) throw new GptforgeError('needs exactly one of "builtin" (an embedded corpus) or "paths" (your files)', where);
    if (s.builtin !== undefined && !BUILTIN_SOURCES[s.builtin]) throw new GptforgeError(`unknown built-in corpus "${s.builtin}" (one of: ${Object.keys(BUILTIN_SOURCES).join(', ')})`, { ...where, field: `${where.field}.builtin` });
    if (s.paths !== undefined && (!Array.isArray(s.paths) || s.paths.length === 0 || s.paths.some((p) => typeof p !== 'string'))) throw new GptforgeError('"paths" must be a non-empty list of files, directories or globs', { ...where, field: `${where.field}.paths` });
    total += s.weight;
  });
  if (!(total > 0)) throw new GptforgeError('the source weights sum to zero', { file, field: 'sources[].weight' });
  if (!Number.isFinite(c.tokenBudget) || c.tokenBudget <= 0) throw new GptforgeError(`tokenBudget must be a positive number, got ${JSON.stringify(c.tokenBudget)}`, { file, field: 'tokenBudget' });
  if (c.valFraction !== undefined && !(c.valFraction > 0 && c.valFraction < 0.5)) throw new GptforgeError('valFraction must be in (0, 0.5)', { file, field: 'valFraction' });
  const t = c.tokenizer;
  if (t !== undefined) {
    if (!Number.isInteger(t.vocabSize) || t.vocabSize < 256) throw new GptforgeError(`vocabSize must be an integer ≥ 256, got ${JSON.stringify(t.vocabSize)}`, { file, field: 'tokenizer.vocabSize' });
    if (t.pattern !== undefined && typeof t.pattern !== 'string') throw new GptforgeError('pattern must be a pattern name or a regex string', { file, field: 'tokenizer.pattern' });
    if (t.digitPairs !== undefined && typeof t.digitPairs !== 'boolean') throw new GptforgeError(`digitPairs must be true or false, got ${JSON.stringify(t.digitPairs)}`, { file, field: 'tokenizer.digitPairs' });
  }
}

/** `~` and `~/…` to the home directory (a shell expands them on a command line, JSON does not). */
export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') || p.startsWith('~\\') ? join(homedir(), p.slice(2)) : p;
}

/** Whether `p` (a file, directory or glob, relative to the working directory unless absolute) names anything. */
function pathFinds(p: string): boolean {
  return isDynamicPattern(p) ? globSync(p, { onlyFiles: true, dot: true, expandDirectories: false }).length > 0 : existsSync(p);
}

/**
 * A mixture file's source `paths` as the readers take them: `~` expanded; a relative path that
 * names nothing from the working directory is taken from the mixture file's directory instead
 * (as a preset's `mixture` is resolved from the preset file), as an absolute path. A path found
 * in neither place is kept as written, or with `strict` (data prepare, before reading anything)
 * refused naming both absolute paths, the file and the field.
 * @throws GptforgeError `<file>, field "sources[i].paths[j]": no file, directory or glob match at …`.
 */
export function resolveSourcePaths(c: MixtureConfig, file: string, opts: { strict?: boolean } = {}): MixtureConfig {
  const base = dirname(resolve(file));
  const sources = c.sources.map((s, i) => {
    if (s.paths === undefined) return s;
    const paths = s.paths.map((raw, j) => {
      const p = expandHome(raw);
      if (isAbsolute(p)) {
        if (!pathFinds(p)) throw new GptforgeError(`no file, directory or glob match at ${p}`, { file, field: `sources[${i}].paths[${j}]` });
        return p;
      }
      if (pathFinds(p)) return p; // from the working directory, as written (keeps its data hash)
      const beside = join(base, p);
      if (pathFinds(beside)) return beside;
      if (!opts.strict) return p; // refused by `data prepare` (a file a later step writes may not exist yet)
      throw new GptforgeError(`no file, directory or glob match at ${resolve(p)} (the working directory) or ${beside} (beside the mixture file)`, { file, field: `sources[${i}].paths[${j}]` });
    });
    return { ...s, paths };
  });
  return { ...c, sources };
}

export function loadMixtureConfig(path: string): MixtureConfig {
  // a syntax error names its line and column (parseJsonFile); an encoding error is readTextFile's
  const c = parseJsonFile(readTextFile(path, 'mixture config'), path) as MixtureConfig;
  validateMixture(c, path);
  return resolveSourcePaths(c, path);
}

export interface SourceStats {
  name: string;
  weight: number;
  trainTokens: number;
  /** Token count (incl. BOS/EOS) of every train document, in file order. */
  docTokens: number[];
}

/**
 * The training document order for one cycle over the budget: each source's documents are
 * shuffled per epoch and taken until the source has its share of the budget; picks from
 * all sources are then interleaved by their position within their own share, so every
 * stretch of training sees the mixture's proportions. Deterministic for (seed, cycle).
 */
export interface Pick {
  source: number;
  doc: number;
}

export function mixtureOrder(sources: readonly SourceStats[], tokenBudget: number, seed: number, cycle: number): Pick[] {
  const totalW = sources.reduce((s, x) => s + x.weight, 0);
  const timed: { t: number; source: number; doc: number }[] = [];
  sources.forEach((src, si) => {
    const target = (tokenBudget * src.weight) / totalW;
    if (target <= 0 || src.docTokens.length === 0) return;
    let taken = 0;
    for (let epoch = 0; taken < target; epoch++) {
      const perm = new Rng(hashSeed(seed, cycle, si, epoch)).permutation(src.docTokens.length);
      for (const d of perm) {
        if (taken >= target) break;
        const n = src.docTokens[d];
        timed.push({ t: (taken + n / 2) / target, source: si, doc: d });
        taken += n;
      }
    }
  });
  timed.sort((a, b) => a.t - b.t || a.source - b.source);
  return timed.map(({ source, doc }) => ({ source, doc }));
}
