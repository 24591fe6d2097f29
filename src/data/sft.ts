import { Rng, streamSeed } from '../engine/rng.js';
import { checkOnBad } from './jsonl.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { closestKey } from '../util/closest.js';
import type { KeyTree } from '../util/key-tree.js';
import { readConversation, readConversationsJSONL, renderConversation, type OnBad, type RenderedConversation } from './chat.js';
import type { Conversation } from './conversation.js';
import { taskByName } from './synthetic/tasks.js';
import { validateWriterProfile, WRITER_ERRORS, writeDemonstrations, type WriterError, type WriterProfile } from './writers.js';

/**
 * The SFT data: a mixture of synthetic task families and the user's own conversation files,
 * rendered once (chat.ts) and packed into (B, T) rows for training.
 *
 *   sources: [{ "task": "arithmetic", "weight": 2 }, { "path": "my.jsonl", "weight": 1 }]
 *
 * `examples` training conversations are drawn in proportion to the weights (a task generates
 * them from its train split; a file's conversations are repeated or subsampled to its share).
 * Every task also contributes `testPerTask` held-out conversations for the validation loss.
 */
export interface SftSourceConfig {
  /** A synthetic task family (see src/data/synthetic/tasks.ts) … */
  task?: string;
  /** … or a conversations JSONL file … */
  path?: string;
  /** … or conversations in memory (the library's `runSft({ conversations })`); read like a file's lines (readConversation: OpenAI's text parts and tool calls converted, then validated). */
  conversations?: readonly Conversation[];
  weight: number;
  /** Name in tables (default: the task name or the file name). */
  name?: string;
  /**
   * A file's (or `conversations`') lines come in groups of this many consecutive conversations
   * that train in one batch: drawn (repeated or subsampled) as whole groups, and laid out by the
   * loader on consecutive rows of one batch (PackedLoader). For contrastive pairs — one block
   * asked two ways, answered and refused (bench/rag-copy-corpus.ts `--contrast`, 2) — so one
   * gradient step sees both replies, not one of them here and the other thousands of steps away.
   * Default 1 (every conversation on its own, shuffled). Every line must be usable: a skipped
   * one would shift every later group, so it is an error.
   */
  groupSize?: number;
}

/** The keys of an SFT mixture source (SftSourceConfig). */
const SFT_SOURCE_KEYS: readonly string[] = ['task', 'path', 'conversations', 'weight', 'name', 'groupSize'];

export interface SftMixtureConfig extends Partial<WriterProfile> {
  sources: SftSourceConfig[];
  /** Training conversations in all (default 20,000). */
  examples?: number;
  /** Held-out conversations per task family for the validation loss (default 64). */
  testPerTask?: number;
  seed?: number;
  /** What to do with a bad line in a user file (default error). */
  onBad?: OnBad;
  /**
   * Share of a user file's (or in-memory) conversations held out for the validation loss, as the
   * tasks' `testPerTask` (default 0.1: at least one, at most `testPerTask`, and only from a source
   * of 10 or more conversations; 0 trains on all).
   */
  valFraction?: number;
}

/**
 * The keys a preset's `sft.mixture` section may hold (with the writers' profile,
 * src/data/writers.ts), checked by the compiler against SftMixtureConfig; the sources and the
 * writers' error weights are checked as the mixture loads.
 */
export const SFT_MIXTURE_KEYS: KeyTree<SftMixtureConfig> = { sources: null, examples: null, testPerTask: null, seed: null, onBad: null, valFraction: null, writerErrorRate: null, writerErrors: null };

export interface SftItem extends RenderedConversation {
  source: string;
  /** The group it trains with (SftSourceConfig.groupSize > 1), unique over the dataset; undefined when on its own. */
  group?: number;
}

export interface SftSourceReport {
  name: string;
  weight: number;
  conversations: number;
  tokens: number;
  skipped: number;
  /** A file's (or in-memory) source: its distinct conversations the `conversations` drawn come from (repeated or subsampled to its share). */
  distinct?: number;
  /** Conversations held out for the validation loss (tasks: `testPerTask` test-split ones). */
  heldOut?: number;
  /** Demonstrations the simulated writers spoilt, by mistake (task sources with writerErrorRate > 0; src/data/writers.ts). */
  writerErrors?: Record<WriterError, number>;
}

export interface SftDataset {
  train: SftItem[];
  /** Held-out rendered conversations per source (tasks: their test split; a user file: `valFraction` of it). */
  val: Map<string, SftItem[]>;
  report: SftSourceReport[];
  /** Each conversation of a file or of `conversations` skipped with onBad 'skip': its location (file:line, field) and reason. */
  skips: string[];
  /** What kept lines of a file hold that training ignores (unknown keys, unknown tools), each naming file, line and field. */
  warnings: string[];
}

function sourceName(s: SftSourceConfig): string {
  if (s.name !== undefined) return s.name;
  if (s.task !== undefined) return s.task;
  return s.path !== undefined ? s.path.replace(/^.*\//, '').replace(/\.jsonl$/, '') : 'conversations';
}

/**
 * A user source's held-out split, as the SFT stage makes it (one rule for training and
 * `export --format trl`): a seeded `valFraction` share of the source's units (conversations, or
 * whole groups of `groupSize` so a contrast pair is never split), at least 1 and at most
 * `testPerTask` conversations; none below 10 units, with valFraction 0, or when the source is not
 * whole groups (buildSftDataset then refuses it by field). Order within each split is the file's.
 * @param items the source's usable conversations, in file order.
 * @param o.sourceIndex the source's index in the mixture (its own seeded stream).
 */
export function heldOutSplit<T>(items: readonly T[], o: { groupSize?: number; valFraction: number; testPerTask: number; seed: number; sourceIndex: number }): { train: T[]; held: T[] } {
  const g = o.groupSize ?? 1;
  if (g > 1 && items.length % g !== 0) return { train: [...items], held: [] };
  const units = items.length / g;
  const n = units < 10 ? 0 : Math.min(Math.floor(o.testPerTask / g), Math.max(1, Math.round(o.valFraction * units)));
  if (n === 0 || o.valFraction === 0) return { train: [...items], held: [] };
  const perm = new Rng(streamSeed(o.seed, 1000 + o.sourceIndex)).permutation(units);
  const out = new Set(perm.slice(0, n));
  const held = (i: number): boolean => out.has(Math.floor(i / g));
  return { train: items.filter((_, i) => !held(i)), held: items.filter((_, i) => held(i)) };
}

/** A conversation as training reads it, with its rendering (tokens and loss mask). */
export interface SftExample {
  conversation: Conversation;
  rendered: RenderedConversation;
}

/**
 * One SFT source as training reads it, before its conversations are drawn to the mixture's
 * share: what `buildSftDataset` trains on and holds out, and what `export --format trl` writes.
 */
export interface SftSourceData {
  name: string;
  /** The source's config, its index in the mixture, and the field naming it (`sft.mixture.sources[2]`). */
  config: SftSourceConfig;
  index: number;
  field: string;
  /** Conversations its weight asks for (`examples` × weight / Σ weights, at least 1). */
  share: number;
  /**
   * A task: its generated share (the simulated writers' mistakes applied), less any longer than
   * a row. A file or in-memory source: its usable conversations, less the held-out ones, in
   * file order, each once (`buildSftDataset` repeats or subsamples them to `share`).
   */
  train: SftExample[];
  /** Held out for the validation loss: a task's test split (no longer than a row), a user source's `valFraction` share. */
  held: SftExample[];
  /** True for a file or in-memory source: `train` is drawn to `share`. */
  drawn: boolean;
  /** Conversations skipped: bad or too long (onBad 'skip'), or a task's longer than a row. */
  skipped: number;
  /** The skipped lines' locations and reasons (file and in-memory sources). */
  dropped: string[];
  /** Where the source's conversations are: its file, or the in-memory field. */
  where: { file: string };
  writerErrors?: Record<WriterError, number>;
}

/**
 * Read every SFT source as training reads it: checks the mixture (keys, weights, onBad,
 * valFraction, the writers' profile, groupSize), generates the tasks' train and test splits,
 * reads and validates files (rows of `maxTokens` tokens at most: longer is an error or, with
 * onBad 'skip', a skip) and in-memory conversations, applies the simulated writers, and holds
 * out each user source's `valFraction` share (`heldOutSplit`). The one loader for the SFT stage
 * (`buildSftDataset`) and `export --format trl` (src/data/export.ts), so both see the same
 * conversations and the same held-out split.
 * `opts.knownTools`: the tools the caller runs (the run layer passes the built-in registry's
 * names; data/ may not import infer/), so a file's calls to others are warned about.
 * @throws GptforgeError naming the mixture field, or a file's line and field.
 */
export function readSftSources(tok: Tokenizer, cfg: SftMixtureConfig, maxTokens: number, file = 'sft mixture', fieldPrefix = '', opts: { knownTools?: readonly string[] } = {}): { sources: SftSourceData[]; skips: string[]; warnings: string[] } {
  if (!Array.isArray(cfg.sources) || cfg.sources.length === 0) throw new GptforgeError('no SFT sources', { file, field: 'sources' });
  const total = cfg.examples ?? 20000;
  const testPer = cfg.testPerTask ?? 64;
  const seed = cfg.seed ?? 1337;
  const wsum = cfg.sources.reduce((s, x) => s + x.weight, 0);
  const skips: string[] = [];
  const warnings: string[] = [];
  checkOnBad(cfg.onBad, { file, field: 'onBad' });
  const valFraction = cfg.valFraction ?? 0.1;
  if (typeof valFraction !== 'number' || !(valFraction >= 0 && valFraction < 1)) throw new GptforgeError(`valFraction must be a number in [0, 1), got ${JSON.stringify(cfg.valFraction)}`, { file, field: `${fieldPrefix}valFraction` });
  if (cfg.writerErrorRate !== undefined) validateWriterProfile({ writerErrorRate: cfg.writerErrorRate, writerErrors: cfg.writerErrors }, file);
  const example = (c: Conversation): SftExample => ({ conversation: c, rendered: renderConversation(tok, c) });
  const sources = cfg.sources.map((src, si): SftSourceData => {
    const field = `${fieldPrefix}sources[${si}]`;
    // a misspelt key ("wieght") would otherwise read as a missing one
    const unknown = Object.keys(src).filter((k) => !SFT_SOURCE_KEYS.includes(k));
    if (unknown.length > 0) {
      const hint = unknown.includes('onBad') ? '; onBad is set for the whole mixture: "mixture": { "onBad": "skip", "sources": […] }' : '';
      const near = closestKey(unknown[0], SFT_SOURCE_KEYS);
      throw new GptforgeError(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}${near ? `; did you mean "${near}"?` : ''} (a source has: ${SFT_SOURCE_KEYS.join(', ')})${hint}`, { file, field: `${field}.${unknown[0]}` });
    }
    if (!(src.weight > 0)) throw new GptforgeError('weight must be a positive number', { file, field: `${field}.weight` });
    if ([src.task, src.path, src.conversations].filter((x) => x !== undefined).length !== 1) throw new GptforgeError('give exactly one of "task", "path" or "conversations"', { file, field });
    const g = src.groupSize ?? 1;
    if (!(Number.isInteger(g) && g >= 1)) throw new GptforgeError(`groupSize must be a whole number ≥ 1, got ${JSON.stringify(src.groupSize)}`, { file, field: `${field}.groupSize` });
    if (g > 1 && src.task !== undefined) throw new GptforgeError('groupSize is for a file or conversations source (a task generates its conversations one by one)', { file, field: `${field}.groupSize` });
    const name = sourceName(src);
    const share = Math.max(1, Math.round((total * src.weight) / wsum));
    const base = { name, config: src, index: si, field, share };
    // a user source's held-out conversations: a seeded share, kept out of training; with
    // groupSize g > 1 whole groups are held out, so a contrast pair is never split between the
    // splits (a source that is not whole groups is left as is: buildSftDataset refuses it by field)
    const split = <T>(kept: readonly T[]) => heldOutSplit(kept, { groupSize: g, valFraction, testPerTask: testPer, seed, sourceIndex: si });
    if (src.task !== undefined) {
      const task = taskByName(src.task, { file, field: `${field}.task` });
      const examples = task.generate('train', share, streamSeed(seed, si));
      let convs: Conversation[];
      let writerErrors: Record<WriterError, number> | undefined;
      if (cfg.writerErrorRate) {
        // imperfect demonstration writers (issue #24); the held-out conversations stay perfect
        const w = writeDemonstrations(examples, task, { writerErrorRate: cfg.writerErrorRate, writerErrors: cfg.writerErrors }, streamSeed(seed, si));
        convs = w.conversations;
        writerErrors = w.report.errors;
      } else convs = examples.map((e) => e.conversation);
      const rendered = convs.map(example);
      // synthetic answers are short; only a tiny context drops any
      const train = rendered.filter((x) => x.rendered.ids.length <= maxTokens);
      const held = task
        .generate('test', testPer, seed + 1)
        .map((e) => example(e.conversation))
        .filter((x) => x.rendered.ids.length <= maxTokens);
      return { ...base, train, held, drawn: false, skipped: rendered.length - train.length, dropped: [], where: { file }, ...(writerErrors ? { writerErrors } : {}) };
    }
    if (src.conversations !== undefined) {
      const kept: SftExample[] = [];
      const dropped: string[] = [];
      src.conversations.forEach((c, i) => {
        // in memory there is no file or line: the location is the source and the index
        const where = { file: `${field}.conversations[${i}]` };
        try {
          // the file loader's rule: OpenAI's text parts and tool calls converted, then validated
          const x = example(readConversation(c, where, { forTraining: true }).conv);
          if (x.rendered.ids.length > maxTokens) throw new GptforgeError(`conversation is ${x.rendered.ids.length} tokens, longer than a training row of ${maxTokens}`, { ...where, field: 'messages' });
          kept.push(x);
        } catch (e) {
          if (cfg.onBad !== 'skip' || !(e instanceof GptforgeError)) throw e;
          dropped.push(e.message);
        }
      });
      skips.push(...dropped);
      if (kept.length === 0) throw new GptforgeError('no usable conversations', { file, field: `${field}.conversations` });
      const { train, held } = split(kept);
      return { ...base, train, held, drawn: true, skipped: dropped.length, dropped, where: { file: `${field}.conversations` } };
    }
    const r = readConversationsJSONL(src.path!, { onBad: cfg.onBad, forTraining: true, tokenizer: tok, maxTokens, knownTools: opts.knownTools });
    warnings.push(...r.warnings);
    skips.push(...r.skipped.map((x) => x.reason));
    if (r.conversations.length === 0) throw new GptforgeError('no usable conversations', { file: src.path });
    const { train, held } = split(r.conversations.map(example));
    return { ...base, train, held, drawn: true, skipped: r.skipped.length, dropped: r.skipped.map((x) => `line ${x.line}: ${x.reason}`), where: { file: src.path! } };
  });
  return { sources, skips, warnings };
}

/**
 * Render and mix the SFT sources (read by `readSftSources`: its errors, skips and warnings).
 * maxTokens: a training row (seqLen + 1); longer conversations are an error or, with onBad 'skip', a skip listed in `skips`.
 * `opts.knownTools`: the tools the caller runs, so a file's calls to others are warned about.
 */
export function buildSftDataset(tok: Tokenizer, cfg: SftMixtureConfig, maxTokens: number, file = 'sft mixture', fieldPrefix = '', opts: { knownTools?: readonly string[] } = {}): SftDataset {
  const { sources, skips, warnings } = readSftSources(tok, cfg, maxTokens, file, fieldPrefix, opts);
  const seed = cfg.seed ?? 1337;
  const wsum = cfg.sources.reduce((s, x) => s + x.weight, 0);
  const train: SftItem[] = [];
  const val = new Map<string, SftItem[]>();
  const report: SftSourceReport[] = [];
  let nextGroup = 0;
  for (const src of sources) {
    const { name, share, field } = src;
    const g = src.config.groupSize ?? 1;
    if (src.held.length > 0)
      val.set(
        name,
        src.held.map((x) => ({ ...x.rendered, source: name })),
      );
    /** The kept conversations drawn to the share: whole groups of g when grouped (a skipped line would shift every later group: refused). */
    const draw = (kept: SftExample[], rng: Rng): SftExample[] => {
      if (g === 1) return resample(kept, share, rng);
      if (src.dropped.length > 0) throw new GptforgeError(`groupSize ${g} needs every conversation usable, but one was skipped (${src.dropped[0]}): it would shift every later group`, { ...src.where, field: `${field}.groupSize` });
      if (kept.length % g !== 0) throw new GptforgeError(`${kept.length} conversations are not whole groups of ${g}`, { ...src.where, field: `${field}.groupSize` });
      const groups = Array.from({ length: kept.length / g }, (_, i) => kept.slice(i * g, (i + 1) * g));
      return resample(groups, Math.max(1, Math.round(share / g)), rng).flat();
    };
    const items = src.drawn ? draw(src.train, new Rng(seed + src.index)) : src.train;
    let tokens = 0;
    for (const [i, x] of items.entries()) {
      if (g > 1 && i % g === 0) nextGroup++;
      train.push({ ...x.rendered, source: name, ...(g > 1 ? { group: nextGroup } : {}) });
      tokens += x.rendered.ids.length;
    }
    const heldOut = src.held.length;
    report.push({ name, weight: src.config.weight / wsum, conversations: items.length, tokens, skipped: src.skipped, ...(src.drawn ? { distinct: src.train.length } : {}), ...(heldOut > 0 ? { heldOut } : {}), ...(src.writerErrors ? { writerErrors: src.writerErrors } : {}) });
  }
  return { train, val, report, skips, warnings };
}

/** n items drawn from `items`: whole copies first, then a seeded sample without replacement for the rest. */
function resample<T>(items: readonly T[], n: number, rng: Rng): T[] {
  const out: T[] = [];
  while (out.length + items.length <= n) out.push(...items);
  const rest = rng.permutation(items.length).slice(0, n - out.length);
  for (const i of rest) out.push(items[i]);
  return out;
}

/**
 * A markdown-ish table of the SFT mixture for the terminal: per source its weight, the
 * conversations drawn for training, those held out, tokens and skips; under it, for each file
 * source, how many distinct conversations its draws repeat ("mine: 72 conversations, drawn 4000×").
 */
export function sftTable(report: readonly SftSourceReport[]): string {
  const rows = report.map((r) => `${r.name.padEnd(14)} ${(100 * r.weight).toFixed(1).padStart(6)}%  ${String(r.conversations).padStart(7)}  ${String(r.heldOut ?? 0).padStart(8)}  ${String(r.tokens).padStart(9)}  ${String(r.skipped).padStart(7)}`);
  const notes = report
    .filter((r) => r.distinct !== undefined)
    .map(
      (r) =>
        `  ${r.name}: ${r.distinct} conversation${r.distinct === 1 ? '' : 's'}, drawn ${r.conversations}×${r.distinct! >= r.conversations ? ' (a sample)' : r.distinct === 1 ? '' : ` (each about ${(r.conversations / r.distinct!).toFixed(1)} times)`}${r.heldOut ? `; ${r.heldOut} more held out for the validation loss` : '; none held out (fewer than 10, or valFraction 0): no validation curve for it'}`,
    );
  return [`${'source'.padEnd(14)} ${'weight'.padStart(7)}  ${'drawn'.padStart(7)}  ${'held out'.padStart(8)}  ${'tokens'.padStart(9)}  ${'skipped'.padStart(7)}`, ...rows, ...notes].join('\n');
}

/** One line on the simulated writers' mistakes in the mixture, or undefined when they made none. */
export function writerSummary(report: readonly SftSourceReport[], rate: number | undefined): string | undefined {
  const withWriters = report.filter((r) => r.writerErrors);
  if (!rate || withWriters.length === 0) return undefined;
  const by = WRITER_ERRORS.map((e) => [e, withWriters.reduce((s, r) => s + r.writerErrors![e], 0)] as const);
  const spoilt = by.reduce((s, [, n]) => s + n, 0);
  const total = withWriters.reduce((s, r) => s + r.conversations, 0);
  return `writers: e_w ${rate}: ${spoilt} of ${total} task demonstrations spoilt (${by.map(([e, n]) => `${e} ${n}`).join(', ')})`;
}

export interface PackedBatch {
  inputs: Int32Array;
  /** −1 (ignored) where the mask is 0 or the row is padding. */
  targets: Int32Array;
  /** Tokens that carry loss. */
  lossTokens: number;
}

export interface PackedLoaderState {
  epoch: number;
  row: number;
  /** Grouped items only: the batch row this epoch's first row fell on (rows per epoch need not be a multiple of B). */
  offset?: number;
}

/**
 * Packs conversations into rows of T+1 tokens, best fit: each row takes the longest
 * conversation from a look-ahead window (in this epoch's shuffled order) that still fits,
 * until none does; the rest is <|pad|>, masked out. Every row starts at a conversation's
 * <|bos|>. Rows are laid out per epoch from a seeded shuffle, so the position {epoch, row}
 * is the whole state: a resumed run sees the same batches.
 *
 * Items with a `group` (SftItem.group: SftSourceConfig.groupSize) are shuffled as whole groups
 * and each member starts its own row, on consecutive rows of one batch: when a group would
 * straddle a batch's end, rows of ungrouped items (or, with none waiting, an empty row) fill
 * the batch first. The rest of a member's row is filled best-fit with ungrouped items. Without
 * groups the layout is as before, row for row.
 */
export class PackedLoader {
  private rows: number[][] = [];
  private st: PackedLoaderState = { epoch: 0, row: 0 };
  private readonly grouped: boolean;

  constructor(
    private readonly items: readonly RenderedConversation[],
    /** Rows per batch. */
    readonly B: number,
    /** Tokens per row (inputs; each row holds T + 1 with its last target). */
    readonly T: number,
    private readonly padId: number,
    private readonly seed = 1337,
    /** false: one pass in the given order (validation). */
    private readonly shuffle = true,
  ) {
    if (items.length === 0) throw new GptforgeError('no conversations to pack');
    for (const it of items) if (it.ids.length > T + 1) throw new Error(`PackedLoader: a conversation of ${it.ids.length} tokens does not fit a row of ${T + 1}`);
    this.grouped = items.some((it) => (it as { group?: number }).group !== undefined);
    this.layout(0);
  }

  /** Rows in one epoch (a full pass over the conversations). */
  get rowsPerEpoch(): number {
    return this.rows.length;
  }

  private layout(epoch: number, offset = 0): void {
    if (this.grouped) return this.layoutGroups(epoch, offset);
    const order = this.shuffle ? new Rng(this.seed + 104729 * epoch).permutation(this.items.length) : this.items.map((_, i) => i);
    const WINDOW = 64;
    const pending: number[] = [];
    let next = 0;
    const rows: number[][] = [];
    while (next < order.length || pending.length > 0) {
      while (pending.length < WINDOW && next < order.length) pending.push(order[next++]);
      const row: number[] = [];
      this.fillBestFit(pending, row, this.T + 1);
      rows.push(row);
    }
    this.rows = rows;
  }

  /**
   * Best fit: moves the longest waiting item that still fits in `space` tokens from `pending` to
   * `row`, again and again until none fits. Both layouts fill their rows with it.
   */
  private fillBestFit(pending: number[], row: number[], space: number): void {
    for (;;) {
      let best = -1;
      for (let j = 0; j < pending.length; j++) {
        const len = this.items[pending[j]].ids.length;
        if (len <= space && (best < 0 || len > this.items[pending[best]].ids.length)) best = j;
      }
      if (best < 0) return;
      const it = pending.splice(best, 1)[0];
      row.push(it);
      space -= this.items[it].ids.length;
    }
  }

  /** The grouped layout (see the class comment); `offset`: the batch row this epoch's first row falls on. */
  private layoutGroups(epoch: number, offset: number): void {
    const WINDOW = 64;
    const units: number[][] = [];
    const at = new Map<number, number>();
    this.items.forEach((it, i) => {
      const g = (it as { group?: number }).group;
      if (g === undefined) units.push([i]);
      else if (at.has(g)) units[at.get(g)!].push(i);
      else {
        at.set(g, units.length);
        units.push([i]);
      }
    });
    const order = this.shuffle ? new Rng(this.seed + 104729 * epoch).permutation(units.length) : units.map((_, i) => i);
    const isGroup = (u: number[]): boolean => (this.items[u[0]] as { group?: number }).group !== undefined;
    const pending: number[] = [];
    const rows: number[][] = [];
    /** One row: `first` (when given), then the longest waiting ungrouped items that still fit. */
    const fill = (first?: number): void => {
      let space = this.T + 1;
      const row: number[] = [];
      if (first !== undefined) {
        row.push(first);
        space -= this.items[first].ids.length;
      }
      this.fillBestFit(pending, row, space);
      rows.push(row);
    };
    for (const u of order.map((i) => units[i])) {
      if (!isGroup(u)) {
        pending.push(u[0]);
        if (pending.length >= WINDOW) fill();
        continue;
      }
      // the group's rows in one batch: fill the current batch first when they would straddle its end
      if (u.length <= this.B) while (((offset + rows.length) % this.B) + u.length > this.B) fill();
      for (const i of u) fill(i);
    }
    while (pending.length > 0) fill();
    this.rows = rows;
  }

  next(): PackedBatch {
    const { B, T } = this;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T).fill(-1);
    let lossTokens = 0;
    const rowIds = new Int32Array(T + 1);
    const rowMask = new Uint8Array(T + 1);
    for (let b = 0; b < B; b++) {
      if (this.st.row >= this.rows.length && !this.shuffle) {
        // a validation pass ends with empty (all-padding) rows rather than wrapping around
        for (let t = 0; t < T; t++) inputs[b * T + t] = this.padId;
        continue;
      }
      if (this.st.row >= this.rows.length) {
        // a grouped layout aligns its groups to batches: the new epoch starts at batch row b
        this.st = { epoch: this.st.epoch + 1, row: 0, ...(this.grouped ? { offset: b } : {}) };
        this.layout(this.st.epoch, b);
      }
      rowIds.fill(this.padId);
      rowMask.fill(0);
      let p = 0;
      for (const it of this.rows[this.st.row]) {
        const { ids, mask } = this.items[it];
        for (let i = 0; i < ids.length; i++, p++) {
          rowIds[p] = ids[i];
          rowMask[p] = mask[i];
        }
      }
      this.st.row++;
      for (let t = 0; t < T; t++) {
        inputs[b * T + t] = rowIds[t];
        if (rowMask[t + 1]) {
          targets[b * T + t] = rowIds[t + 1];
          lossTokens++;
        }
      }
    }
    return { inputs, targets, lossTokens };
  }

  state(): PackedLoaderState {
    return { ...this.st };
  }

  restore(s: unknown): void {
    const st = s as PackedLoaderState;
    if (typeof st?.epoch !== 'number' || typeof st.row !== 'number') throw new GptforgeError('bad SFT loader state in trainer_state.json');
    const offset = this.grouped && typeof st.offset === 'number' ? st.offset : 0;
    if (st.epoch !== this.st.epoch || offset !== (this.st.offset ?? 0)) this.layout(st.epoch, offset);
    this.st = { epoch: st.epoch, row: st.row, ...(this.grouped ? { offset } : {}) };
  }
}
