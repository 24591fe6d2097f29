import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GptforgeError } from '../util/errors.js';
import { mixtureOrder, type Pick } from './mixture.js';
import { readDataIndex, type DataIndex } from './prepare.js';

/**
 * (B, T) batches from prepared shards. Documents already carry <|bos|> … <|eos|>.
 *
 * - "concat" (the talk's picture): documents in mixture order are laid end to end and cut
 *   into rows of T+1 tokens; inputs are row[0..T), targets row[1..T]; a stream's next row
 *   starts where this one's inputs ended, so no token is lost and there is no padding.
 *   Each cycle's token stream is split into S contiguous regions ("streams", by default one
 *   per row of a batch; each starts at a document start where one falls inside it) and
 *   row b of a batch continues stream (k + b) mod S: a batch reads S places spread over
 *   the whole mixture at once, so the mixture's proportions hold within each batch (one
 *   stream per row, as nanochat; nanoGPT gets the same from random windows). With S = 1
 *   the rows are consecutive: a batch of 16 × 256 tokens was then 4,096 consecutive
 *   tokens, mostly one document of one source, and the logged loss jumped as whole batches
 *   switched between code, dictionary and prose. The pretraining CLI sets S = batch ×
 *   gradAccum, so a step reads the same rows however it is split into micro-batches.
 * - "bestfit" (nanochat): every row starts at a document start; rows are filled with the
 *   largest upcoming document that still fits (from a small look-ahead buffer); when none
 *   fits, the shortest is cropped to fill the row and its remainder dropped.
 *
 * The position (`state()`) is plain JSON and part of the training checkpoint: a resumed run
 * gets exactly the batches an uninterrupted one would.
 */
export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
}

export interface LoaderOptions {
  batchSize: number;
  seqLen: number;
  mode?: 'concat' | 'bestfit';
  /** concat: parallel streams the rows rotate over (default batchSize; 1 = consecutive rows). */
  streams?: number;
}

/** Where concat's streams are: [cycle, token position in that cycle's stream] per stream, and the stream of the next row. */
export interface ConcatState {
  mode: 'concat';
  streams: number;
  cursors: [number, number][];
  next: number;
}

/** Where bestfit is: the cursor in the mixture order and the look-ahead buffer as [cycle, pick] pairs. */
export interface BestFitState {
  mode: 'bestfit';
  cycle: number;
  pick: number;
  buffer: [number, number][];
}

export type LoaderState = ConcatState | BestFitState;

/** A cycle's mixture order with its token layout: prefix[i] = tokens before pick i; starts[s] = where stream s's region begins (starts[S] = the cycle's length). */
interface CycleLayout {
  order: Pick[];
  prefix: Float64Array;
  starts: number[];
}

interface SourceTokens {
  tokens: Uint16Array | Uint32Array;
  offsets: Uint32Array;
}

function loadSplit(dir: string, index: DataIndex, name: string, split: 'train' | 'val'): SourceTokens {
  const bin = join(dir, `${name}.${split}.bin`);
  const idx = join(dir, `${name}.${split}.idx`);
  let raw: Buffer;
  let off: Buffer;
  try {
    raw = readFileSync(bin);
    off = readFileSync(idx);
  } catch (e) {
    throw new GptforgeError(`missing shard: ${(e as Error).message}; re-run "gptforge data prepare"`, { file: bin });
  }
  const bytesPer = index.dtype === 'uint16' ? 2 : 4;
  const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const tokens = index.dtype === 'uint16' ? new Uint16Array(ab) : new Uint32Array(ab);
  const offsets = new Uint32Array(off.buffer.slice(off.byteOffset, off.byteOffset + off.byteLength));
  if (raw.byteLength % bytesPer !== 0 || offsets[offsets.length - 1] !== tokens.length) throw new GptforgeError('shard and its offsets disagree (truncated file?); re-run "gptforge data prepare"', { file: bin });
  return { tokens, offsets };
}

const LOOKAHEAD = 32;

export class BatchLoader {
  readonly sources: string[];
  readonly index: DataIndex;
  private readonly data: SourceTokens[];
  private readonly B: number;
  private readonly T: number;
  private readonly mode: 'concat' | 'bestfit';
  private readonly S: number;
  private bf: BestFitState = { mode: 'bestfit', cycle: 0, pick: 0, buffer: [] };
  private cs: ConcatState;
  /** Tokens handed out per source (for tests and the epochs check). */
  readonly tokensPerSource: number[];

  private constructor(dir: string, opts: LoaderOptions) {
    this.index = readDataIndex(dir);
    this.sources = this.index.sources.map((s) => s.name);
    this.data = this.sources.map((s) => loadSplit(dir, this.index, s, 'train'));
    this.B = opts.batchSize;
    this.T = opts.seqLen;
    this.mode = opts.mode ?? 'concat';
    this.S = opts.streams ?? opts.batchSize;
    this.tokensPerSource = this.sources.map(() => 0);
    this.cs = { mode: 'concat', streams: this.S, cursors: [], next: 0 };
    if (this.mode === 'concat') {
      const starts = this.layout(0).starts;
      this.cs.cursors = Array.from({ length: this.S }, (_, s) => [0, starts[s]] as [number, number]);
    }
  }

  static open(dataDir: string, opts: LoaderOptions): BatchLoader {
    if (!(opts.batchSize > 0 && opts.seqLen > 0)) throw new GptforgeError('batch size and sequence length must be positive');
    if (opts.streams !== undefined && !(Number.isInteger(opts.streams) && opts.streams >= 1)) throw new GptforgeError(`streams must be a positive integer, got ${opts.streams}`);
    return new BatchLoader(dataDir, opts);
  }

  private readonly orders = new Map<number, Pick[]>();
  private readonly layouts = new Map<number, CycleLayout>();

  /** A cycle's order, token prefix sums and stream regions (the three most recent cycles are cached). */
  private layout(cycle: number): CycleLayout {
    const hit = this.layouts.get(cycle);
    if (hit) return hit;
    const order = this.orderFor(cycle);
    const prefix = new Float64Array(order.length + 1);
    for (let i = 0; i < order.length; i++) {
      const o = this.data[order[i].source].offsets;
      prefix[i + 1] = prefix[i] + (o[order[i].doc + 1] - o[order[i].doc]);
    }
    const L = prefix[order.length];
    if (L < this.S) throw new GptforgeError(`the mixture's cycle has ${L} tokens, fewer than the loader's ${this.S} streams`);
    // region s starts at the first document start at or after s·L/S, unless that would leave it empty
    const starts: number[] = [];
    for (let s = 0; s < this.S; s++) {
      const even = Math.floor((s * L) / this.S);
      const nextEven = Math.floor(((s + 1) * L) / this.S);
      const i = lowerBound(prefix, even);
      starts.push(i < prefix.length && prefix[i] < nextEven ? prefix[i] : even);
    }
    starts.push(L);
    if (this.layouts.size >= 3) this.layouts.delete(Math.min(...this.layouts.keys()));
    const lay = { order, prefix, starts };
    this.layouts.set(cycle, lay);
    return lay;
  }

  /** The mixture order of a cycle (the three most recent cycles are cached). */
  private orderFor(cycle: number): Pick[] {
    const hit = this.orders.get(cycle);
    if (hit) return hit;
    const stats = this.index.sources.map((s, i) => {
      const offs = this.data[i].offsets;
      const docTokens: number[] = [];
      for (let d = 0; d + 1 < offs.length; d++) docTokens.push(offs[d + 1] - offs[d]);
      return { name: s.name, weight: s.weight, trainTokens: s.train.tokens, docTokens };
    });
    const order = mixtureOrder(stats, this.index.tokenBudget, this.index.seed, cycle);
    if (order.length === 0) throw new GptforgeError('the mixture selects no documents (all weights zero?)');
    if (this.orders.size >= 3) this.orders.delete(Math.min(...this.orders.keys()));
    this.orders.set(cycle, order);
    return order;
  }

  private docAt(cycle: number, pick: number): { source: number; start: number; len: number } {
    const p = this.orderFor(cycle)[pick];
    const o = this.data[p.source].offsets;
    return { source: p.source, start: o[p.doc], len: o[p.doc + 1] - o[p.doc] };
  }

  private nextPick(cycle: number, pick: number): [number, number] {
    return pick + 1 < this.orderFor(cycle).length ? [cycle, pick + 1] : [cycle + 1, 0];
  }

  /** bestfit: take the document under the cursor and move the cursor to the next one. */
  private advancePick(): [number, number] {
    const cur: [number, number] = [this.bf.cycle, this.bf.pick];
    [this.bf.cycle, this.bf.pick] = this.nextPick(this.bf.cycle, this.bf.pick);
    return cur;
  }

  next(): Batch {
    const { B, T } = this;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const row = new Int32Array(T + 1);
    for (let b = 0; b < B; b++) {
      if (this.mode === 'concat') this.fillConcat(row);
      else this.fillBestFit(row);
      inputs.set(row.subarray(0, T), b * T);
      targets.set(row.subarray(1, T + 1), b * T);
    }
    return { inputs, targets };
  }

  /**
   * Copy T+1 tokens from the next stream's cursor, then advance that cursor by T: the last
   * target is the stream's next first input. A stream that reaches the end of its region
   * continues with its region of the next cycle.
   */
  private fillConcat(row: Int32Array): void {
    const s = this.cs.next;
    this.cs.next = (s + 1) % this.S;
    const cur = this.cs.cursors[s];
    const [c, p] = this.walk(s, cur[0], cur[1], row.length - 1, row, 0, true);
    this.walk(s, c, p, 1, row, row.length - 1, false);
    this.cs.cursors[s] = [c, p];
  }

  /** Move n tokens along stream s from (cycle, pos), copying them into out[at..] and (if count) adding them to tokensPerSource. */
  private walk(s: number, cycle: number, pos: number, n: number, out: Int32Array, at: number, count: boolean): [number, number] {
    while (n > 0) {
      const lay = this.layout(cycle);
      const end = lay.starts[s + 1];
      if (pos >= end) {
        cycle++;
        pos = this.layout(cycle).starts[s];
        continue;
      }
      // the pick holding pos: the last i with prefix[i] ≤ pos
      const i = lowerBound(lay.prefix, pos + 1) - 1;
      const pick = lay.order[i];
      const docStart = this.data[pick.source].offsets[pick.doc];
      const off = pos - lay.prefix[i];
      const take = Math.min(n, lay.prefix[i + 1] - pos, end - pos);
      const src = this.data[pick.source].tokens;
      for (let j = 0; j < take; j++) out[at + j] = src[docStart + off + j];
      if (count) this.tokensPerSource[pick.source] += take;
      at += take;
      pos += take;
      n -= take;
    }
    return [cycle, pos];
  }

  private fillBestFit(row: Int32Array): void {
    let filled = 0;
    const buf = this.bf.buffer;
    while (filled < row.length) {
      while (buf.length < LOOKAHEAD) buf.push(this.advancePick());
      const space = row.length - filled;
      let best = -1;
      let bestLen = -1;
      let shortest = 0;
      for (let i = 0; i < buf.length; i++) {
        const d = this.docAt(buf[i][0], buf[i][1]);
        if (d.len <= space && d.len > bestLen) {
          best = i;
          bestLen = d.len;
        }
        if (d.len < this.docAt(buf[shortest][0], buf[shortest][1]).len) shortest = i;
      }
      const pickIdx = best >= 0 ? best : shortest;
      const [c, p] = buf.splice(pickIdx, 1)[0];
      const d = this.docAt(c, p);
      const take = Math.min(space, d.len);
      const src = this.data[d.source].tokens;
      for (let i = 0; i < take; i++) row[filled + i] = src[d.start + i];
      this.tokensPerSource[d.source] += take;
      filled += take;
    }
  }

  state(): LoaderState {
    if (this.mode === 'concat') return { ...this.cs, cursors: this.cs.cursors.map((x) => [x[0], x[1]] as [number, number]) };
    return { ...this.bf, buffer: this.bf.buffer.map((x) => [x[0], x[1]] as [number, number]) };
  }

  restore(s: unknown): void {
    const st = s as { mode?: string; streams?: number; cursors?: [number, number][]; next?: number; cycle?: number; pick?: number; buffer?: [number, number][] } | null;
    const bad = (why: string): GptforgeError => new GptforgeError(`the saved data position does not match this loader: ${why}`, { field: 'task' });
    if (!st || st.mode !== this.mode) throw bad(`it is for the "${st?.mode}" loader, this run uses "${this.mode}"`);
    const pair = (x: unknown): boolean => Array.isArray(x) && x.length === 2 && Number.isInteger(x[0]) && Number.isInteger(x[1]);
    if (this.mode === 'concat') {
      if (!Array.isArray(st.cursors)) throw bad('it was saved by the older one-stream concat loader; start over with --fresh');
      if (st.streams !== this.S || st.cursors.length !== this.S || !st.cursors.every(pair) || !Number.isInteger(st.next)) throw bad(`it has ${st.streams} streams, this run ${this.S} (batch size × gradAccum changed?)`);
      this.cs = { mode: 'concat', streams: this.S, cursors: st.cursors.map((x) => [x[0], x[1]] as [number, number]), next: st.next! };
    } else {
      if (!Number.isInteger(st.cycle) || !Number.isInteger(st.pick) || !Array.isArray(st.buffer) || !st.buffer.every(pair)) throw bad('malformed bestfit position');
      this.bf = { mode: 'bestfit', cycle: st.cycle!, pick: st.pick!, buffer: st.buffer.map((x) => [x[0], x[1]] as [number, number]) };
    }
  }
}

/** The first index i with a[i] ≥ x (a sorted ascending); a.length if none. */
function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sequential batches over one source's validation documents (concat mode, from the start). */
export class ValLoader {
  private pos = 0;
  private readonly tokens: Uint16Array | Uint32Array;

  constructor(
    dir: string,
    index: DataIndex,
    readonly source: string,
    private readonly B: number,
    private readonly T: number,
  ) {
    this.tokens = loadSplit(dir, index, source, 'val').tokens;
    if (this.tokens.length < 2) throw new GptforgeError(`validation split of "${source}" has fewer than 2 tokens`);
  }

  next(): Batch {
    const { B, T } = this;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const n = this.tokens.length;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t <= T; t++) {
        const v = this.tokens[(this.pos + t) % n];
        if (t < T) inputs[b * T + t] = v;
        if (t > 0) targets[b * T + t - 1] = v;
      }
      this.pos = (this.pos + T) % n;
    }
    return { inputs, targets };
  }

  state(): unknown {
    return this.pos;
  }

  restore(s: unknown): void {
    this.pos = Number(s) || 0;
  }
}
