import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GptforgeError } from '../util/errors.js';
import { mixtureOrder, type Pick } from './mixture.js';
import { readDataIndex, type DataIndex } from './prepare.js';

/**
 * (B, T) batches from prepared shards. Documents already carry <|bos|> … <|eos|>.
 *
 * - "concat" (the talk's picture): documents in mixture order are laid end to end and cut
 *   into rows of T+1 tokens; inputs are row[0..T), targets row[1..T]; the next row starts
 *   where this one's inputs ended, so no token is lost and there is no padding.
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
}

export interface LoaderState {
  mode: 'concat' | 'bestfit';
  cycle: number;
  pick: number;
  /** concat: token offset inside the current document. */
  offset: number;
  /** bestfit: look-ahead buffer as [cycle, pick] pairs. */
  buffer: [number, number][];
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
  private st: LoaderState;
  /** Tokens handed out per source (for tests and the epochs check). */
  readonly tokensPerSource: number[];

  private constructor(dir: string, opts: LoaderOptions) {
    this.index = readDataIndex(dir);
    this.sources = this.index.sources.map((s) => s.name);
    this.data = this.sources.map((s) => loadSplit(dir, this.index, s, 'train'));
    this.B = opts.batchSize;
    this.T = opts.seqLen;
    this.mode = opts.mode ?? 'concat';
    this.st = { mode: this.mode, cycle: 0, pick: 0, offset: 0, buffer: [] };
    this.tokensPerSource = this.sources.map(() => 0);
  }

  static open(dataDir: string, opts: LoaderOptions): BatchLoader {
    if (!(opts.batchSize > 0 && opts.seqLen > 0)) throw new GptforgeError('batch size and sequence length must be positive');
    return new BatchLoader(dataDir, opts);
  }

  private readonly orders = new Map<number, Pick[]>();

  /** The mixture order of a cycle (the two most recent cycles are cached). */
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
    if (this.orders.size >= 2) this.orders.delete(Math.min(...this.orders.keys()));
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

  /** Take the document under the cursor and move the cursor to the next one. */
  private advancePick(): [number, number] {
    const cur: [number, number] = [this.st.cycle, this.st.pick];
    [this.st.cycle, this.st.pick] = this.nextPick(this.st.cycle, this.st.pick);
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

  /** Copy T+1 tokens from the cursor, then advance it by T: the last target is the next row's first input. */
  private fillConcat(row: Int32Array): void {
    let [c, p, off] = [this.st.cycle, this.st.pick, this.st.offset];
    let filled = 0;
    while (filled < row.length) {
      const d = this.docAt(c, p);
      const take = Math.min(row.length - filled, d.len - off);
      const src = this.data[d.source].tokens;
      for (let i = 0; i < take; i++) row[filled + i] = src[d.start + off + i];
      filled += take;
      off += take;
      if (off === d.len) {
        [c, p] = this.nextPick(c, p);
        off = 0;
      }
    }
    let n = row.length - 1;
    while (n > 0) {
      const d = this.docAt(this.st.cycle, this.st.pick);
      const step = Math.min(n, d.len - this.st.offset);
      this.st.offset += step;
      this.tokensPerSource[d.source] += step;
      n -= step;
      if (this.st.offset === d.len) {
        this.st.offset = 0;
        this.advancePick();
      }
    }
  }

  private fillBestFit(row: Int32Array): void {
    let filled = 0;
    const buf = this.st.buffer;
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
    return { ...this.st, buffer: this.st.buffer.map((x) => [x[0], x[1]] as [number, number]) };
  }

  restore(s: unknown): void {
    const st = s as LoaderState;
    if (!st || st.mode !== this.mode || !Number.isInteger(st.cycle) || !Number.isInteger(st.pick)) throw new GptforgeError('the saved data position does not match this loader (different mode or data?)');
    this.st = { ...st, buffer: st.buffer.map((x) => [x[0], x[1]] as [number, number]) };
  }
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
