import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteChunks } from '../../util/atomic.js';
import { GptforgeError } from '../../util/errors.js';
import { Tokenizer } from '../../tokenizer/tokenizer.js';
import { patternName } from '../../tokenizer/patterns.js';
import type { GPTConfig } from '../config.js';
import type { LoadedCheckpoint } from '../checkpoint.js';
import { assertExportable, ourQkvColumn, transpose } from './layout.js';
import { chatTemplate } from './chat-template.js';

/**
 * GGUF (ggml's model file, version 3), written by our own code: the spec is
 * ggml/docs/gguf.md and the reader of record is llama.cpp's gguf.cpp.
 *
 * File: "GGUF" | u32 version=3 | u64 tensor count | u64 kv count | kv pairs | tensor infos |
 * padding to `general.alignment` (32) | tensor data, each tensor at an aligned offset.
 * Strings are u64 length + UTF-8 bytes; a tensor info is name, u32 n_dims, u64 ne[n_dims]
 * (ne[0] the contiguous dimension), u32 ggml type, u64 offset from the data section start.
 *
 * Types written: F32 (0), F16 (1, IEEE half, round to nearest even like ggml's
 * GGML_FP32_TO_FP16) and Q8_0 (8): blocks of 32 weights along ne[0], each
 * { fp16 d; int8 qs[32] } with d = max|x|/127 and qs = roundf(x/d) (ggml-quants.c
 * quantize_row_q8_0_ref, computed in float32 as it does). 1-D tensors (norms, biases)
 * stay F32, as llama.cpp's own converter keeps them; a matrix whose rows are not a
 * multiple of 32 stays F32 under Q8_0.
 */

export type GgufType = 'F32' | 'F16' | 'Q8_0';
const TYPE_ID: Record<GgufType, number> = { F32: 0, F16: 1, Q8_0: 8 };
/** llama_ftype: LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7 (llama.h). */
const FILE_TYPE: Record<GgufType, number> = { F32: 0, F16: 1, Q8_0: 7 };
const ALIGN = 32;
const QK8_0 = 32;

/** GGUF metadata value types (gguf.h enum gguf_type). */
const enum V {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: string[] }
  | { type: 'i32[]'; value: number[] };

export interface GgufTensor {
  name: string;
  /** ggml order: ne[0] is the contiguous (row) dimension. */
  dims: number[];
  type: GgufType;
  /** Row-major data, ne[0] fastest; length = product of dims. */
  data: Float32Array;
}

/* ---------- numeric encodings ---------- */

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** float → IEEE 754 half bits, round to nearest even (overflow → ±Inf, NaN kept). */
export function floatToHalf(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is the correct rounding
  return sign | h;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

/** C's roundf: halves away from zero (Math.round rounds −2.5 to −2). */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Quantize one row-major tensor (length a multiple of 32) to Q8_0 blocks: 34 bytes per 32 weights. */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % QK8_0 !== 0) throw new Error(`Q8_0 needs a multiple of ${QK8_0} values, got ${x.length}`);
  const nb = x.length / QK8_0;
  const out = new Uint8Array(nb * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[b * QK8_0 + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    dv.setUint16(b * 34, floatToHalf(d), true);
    for (let j = 0; j < QK8_0; j++) dv.setInt8(b * 34 + 2 + j, roundf(Math.fround(x[b * QK8_0 + j] * id)));
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / QK8_0);
    out[i] = halfToFloat(dv.getUint16(b * 34, true)) * dv.getInt8(b * 34 + 2 + (i % QK8_0));
  }
  return out;
}

function tensorBytes(t: GgufTensor): Uint8Array {
  if (t.type === 'F32') return new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  if (t.type === 'F16') {
    const out = new Uint8Array(t.data.length * 2);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < t.data.length; i++) dv.setUint16(2 * i, floatToHalf(t.data[i]), true);
    return out;
  }
  return quantizeQ8_0(t.data);
}

/* ---------- writer ---------- */

class ByteWriter {
  private chunks: Uint8Array[] = [];
  length = 0;
  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  private num(bytes: number, set: (dv: DataView) => void): void {
    const b = new Uint8Array(bytes);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u32(v: number): void {
    this.num(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): void {
    this.num(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: number): void {
    this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  f32(v: number): void {
    this.num(4, (d) => d.setFloat32(0, v, true));
  }
  u8(v: number): void {
    this.push(Uint8Array.of(v));
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Uint8Array): void {
    this.push(b);
  }
  pad(align: number): void {
    const n = (align - (this.length % align)) % align;
    if (n > 0) this.push(new Uint8Array(n));
  }
  parts(): Uint8Array[] {
    return this.chunks;
  }
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      w.u32(V.UINT32);
      w.u32(v.value);
      break;
    case 'i32':
      w.u32(V.INT32);
      w.i32(v.value);
      break;
    case 'f32':
      w.u32(V.FLOAT32);
      w.f32(v.value);
      break;
    case 'bool':
      w.u32(V.BOOL);
      w.u8(v.value ? 1 : 0);
      break;
    case 'string':
      w.u32(V.STRING);
      w.str(v.value);
      break;
    case 'string[]':
      w.u32(V.ARRAY);
      w.u32(V.STRING);
      w.u64(v.value.length);
      for (const s of v.value) w.str(s);
      break;
    case 'i32[]':
      w.u32(V.ARRAY);
      w.u32(V.INT32);
      w.u64(v.value.length);
      for (const x of v.value) w.i32(x);
      break;
  }
}

/** Write a GGUF v3 file atomically. Metadata keys are written in the order given. */
export function writeGguf(path: string, kv: ReadonlyArray<[string, GgufValue]>, tensors: readonly GgufTensor[]): void {
  const head = new ByteWriter();
  head.bytes(Buffer.from('GGUF', 'ascii'));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(kv.length + 1);
  head.str('general.alignment');
  writeValue(head, { type: 'u32', value: ALIGN });
  for (const [k, v] of kv) {
    head.str(k);
    writeValue(head, v);
  }
  const data = new ByteWriter();
  const blobs: Uint8Array[] = [];
  for (const t of tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`GGUF tensor ${t.name}: dims [${t.dims.join(', ')}] hold ${n} values, data has ${t.data.length}`);
    if (t.type === 'Q8_0' && t.dims[0] % QK8_0 !== 0) throw new Error(`GGUF tensor ${t.name}: Q8_0 rows must be a multiple of ${QK8_0}, got ${t.dims[0]}`);
    data.pad(ALIGN);
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(TYPE_ID[t.type]);
    head.u64(data.length);
    const b = tensorBytes(t);
    blobs.push(b);
    data.bytes(b);
  }
  head.pad(ALIGN);
  data.pad(ALIGN);
  atomicWriteChunks(path, [...head.parts(), ...data.parts()]);
}

/* ---------- reader (verification, and clear errors for truncated files) ---------- */

export interface GgufFile {
  version: number;
  metadata: Map<string, unknown>;
  tensors: { name: string; dims: number[]; type: number; offset: number }[];
  /** Absolute byte offset of the data section. */
  dataStart: number;
  /** A tensor's values as float32 (F32, F16 and Q8_0). */
  read(name: string): Float32Array;
}

/**
 * Read a GGUF file's header and check every tensor lies inside the file. A truncated or
 * corrupt file → GptforgeError naming the file and the byte offset where it falls short.
 */
export function readGguf(path: string): GgufFile {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new GptforgeError(`cannot open: ${(e as Error).message}`, { file: path });
  }
  let off = 0;
  const need = (n: number, what: string): void => {
    if (off + n > buf.length) throw new GptforgeError(`truncated GGUF: ${what} needs ${n} bytes at byte offset ${off}, but the file ends at byte ${buf.length}`, { file: path });
  };
  const u32 = (what: string): number => {
    need(4, what);
    const v = buf.readUInt32LE(off);
    off += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8, what);
    const v = buf.readBigUInt64LE(off);
    off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GptforgeError(`corrupt GGUF: ${what} = ${v} at byte offset ${off - 8}`, { file: path });
    return Number(v);
  };
  const str = (what: string): string => {
    const n = u64(`${what} length`);
    need(n, what);
    const s = buf.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const scalar = (type: number, what: string): unknown => {
    const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
    if (type === V.STRING) return str(what);
    const size = sizes[type];
    if (size === undefined) throw new GptforgeError(`corrupt GGUF: unknown value type ${type} for ${what} at byte offset ${off - 4}`, { file: path });
    need(size, what);
    const at = off;
    off += size;
    switch (type) {
      case V.UINT8: return buf.readUInt8(at);
      case V.INT8: return buf.readInt8(at);
      case V.UINT16: return buf.readUInt16LE(at);
      case V.INT16: return buf.readInt16LE(at);
      case V.UINT32: return buf.readUInt32LE(at);
      case V.INT32: return buf.readInt32LE(at);
      case V.FLOAT32: return buf.readFloatLE(at);
      case V.BOOL: return buf.readUInt8(at) !== 0;
      case V.UINT64: return Number(buf.readBigUInt64LE(at));
      case V.INT64: return Number(buf.readBigInt64LE(at));
      default: return buf.readDoubleLE(at);
    }
  };
  need(4, 'magic');
  if (buf.toString('ascii', 0, 4) !== 'GGUF') throw new GptforgeError('not a GGUF file (magic is not "GGUF")', { file: path });
  off = 4;
  const version = u32('version');
  if (version !== 2 && version !== 3) throw new GptforgeError(`unsupported GGUF version ${version}`, { file: path });
  const nTensors = u64('tensor count');
  const nKv = u64('metadata count');
  const metadata = new Map<string, unknown>();
  for (let i = 0; i < nKv; i++) {
    const key = str(`metadata key ${i}`);
    const type = u32(`type of ${key}`);
    if (type === V.ARRAY) {
      const et = u32(`element type of ${key}`);
      const n = u64(`length of ${key}`);
      const arr: unknown[] = [];
      for (let j = 0; j < n; j++) arr.push(scalar(et, `${key}[${j}]`));
      metadata.set(key, arr);
    } else metadata.set(key, scalar(type, key));
  }
  const tensors: GgufFile['tensors'] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str(`tensor ${i} name`);
    const nd = u32(`dims of ${name}`);
    const dims: number[] = [];
    for (let d = 0; d < nd; d++) dims.push(u64(`dim ${d} of ${name}`));
    const type = u32(`type of ${name}`);
    const offset = u64(`offset of ${name}`);
    tensors.push({ name, dims, type, offset });
  }
  const align = Number(metadata.get('general.alignment') ?? ALIGN);
  const dataStart = Math.ceil(off / align) * align;
  const nbytes = (t: GgufFile['tensors'][number]): number => {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (t.type === 0) return 4 * n;
    if (t.type === 1) return 2 * n;
    if (t.type === 8) return (n / QK8_0) * 34;
    throw new GptforgeError(`tensor "${t.name}" has ggml type ${t.type}, which gptforge does not read`, { file: path });
  };
  for (const t of tensors) {
    const end = dataStart + t.offset + nbytes(t);
    if (end > buf.length) throw new GptforgeError(`truncated GGUF: tensor "${t.name}" occupies bytes ${dataStart + t.offset}..${end}, but the file ends at byte ${buf.length}`, { file: path });
  }
  return {
    version,
    metadata,
    tensors,
    dataStart,
    read(name: string): Float32Array {
      const t = tensors.find((x) => x.name === name);
      if (!t) throw new GptforgeError(`no tensor "${name}"`, { file: path });
      const n = t.dims.reduce((a, b) => a * b, 1);
      const at = dataStart + t.offset;
      const bytes = buf.subarray(at, at + nbytes(t));
      if (t.type === 0) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      if (t.type === 1) return Float32Array.from({ length: n }, (_, i) => halfToFloat(bytes.readUInt16LE(2 * i)));
      return dequantizeQ8_0(bytes, n);
    },
  };
}

/* ---------- checkpoint → llama.cpp model ---------- */

/**
 * Our pre-split patterns → the llama.cpp `tokenizer.ggml.pre` whose regex is the same
 * (src/llama-vocab.cpp, llm_tokenizer_bpe; case-insensitive contractions written out as
 * our patterns do). Chosen for identical splitting *and* BPE: "llama-bpe" would also match
 * cl100k's regex but turns on ignore_merges (a whole pre-token found in the vocabulary is
 * taken as is), which is not BPE; "chatglm-bpe" has the same regex without it.
 * Our default `gpt4` (cl100k with \p{N}{1,2}, nanochat's) has no llama.cpp pre type.
 */
export const LLAMA_CPP_PRE: Readonly<Record<string, string>> = {
  cl100k: 'chatglm-bpe',
  'gpt4-digits': 'qwen2',
  gpt2: 'gpt-2',
};

export function llamaCppPreFor(pattern: string, file: string): string {
  const name = patternName(pattern);
  const pre = name !== undefined ? LLAMA_CPP_PRE[name] : undefined;
  if (!pre) {
    throw new GptforgeError(
      `the tokenizer's pre-split pattern ${name ? `"${name}"` : JSON.stringify(pattern)} is not one llama.cpp implements, so llama.cpp would split text differently and give other ids; GGUF needs one of: ${Object.keys(LLAMA_CPP_PRE).join(', ')} (train the tokenizer with --pattern gpt4-digits)`,
      { file, field: 'pre_tokenizer' },
    );
  }
  return pre;
}

/** llama.cpp token types (llama.h llama_token_type): NORMAL 1, CONTROL 3, UNUSED 5. */
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_UNUSED = 5;

interface GgufVocab {
  tokens: string[];
  types: number[];
  merges: string[];
}

function vocabFromTokenizerJSON(text: string, vocabSize: number, file: string): GgufVocab {
  const j = JSON.parse(text) as { gptforge?: { tiktoken?: boolean; mode?: string }; model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] }; added_tokens: { id: number; content: string }[] };
  if (j.model?.type !== 'BPE') throw new GptforgeError(`GGUF export needs a byte-level BPE tokenizer, this one is ${JSON.stringify(j.model?.type)}`, { file, field: 'model.type' });
  if (j.gptforge?.tiktoken) throw new GptforgeError('a tokenizer loaded from a tiktoken rank file ranks merges by token id, llama.cpp by list position; not exported to GGUF', { file, field: 'gptforge.tiktoken' });
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [s, id] of Object.entries(j.model.vocab)) {
    tokens[id] = s;
    types[id] = TOKEN_NORMAL;
  }
  for (const t of j.added_tokens ?? []) {
    tokens[t.id] = t.content;
    types[t.id] = TOKEN_CONTROL;
  }
  if (tokens.length > vocabSize) throw new GptforgeError(`tokenizer has ${tokens.length} tokens, the model only ${vocabSize}`, { file });
  // llama.cpp needs one entry per model row: rows no token uses become named unused tokens
  for (let i = 0; i < vocabSize; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `<|gptforge_unused_${i}|>`;
      types[i] = TOKEN_UNUSED;
    }
  }
  const merges = j.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  return { tokens, types, merges };
}

export interface GgufExportResult {
  arch: 'gpt2' | 'gptneox';
  pre: string;
  tensors: number;
  bytes: number;
}

/**
 * Write a checkpoint as a llama.cpp GGUF model: architecture "gpt2" for learned positions,
 * "gptneox" (use_parallel_residual false, rope over the whole head, NEOX rope order —
 * q/k rows permuted, layout.ts) for rotary. Linear weights become ggml's [out][in] rows.
 */
export function checkpointToGguf(ck: LoadedCheckpoint, path: string, opts: { type?: GgufType; name?: string } = {}): GgufExportResult {
  const type = opts.type ?? 'F32';
  const c: GPTConfig = ck.meta.model;
  const cfgFile = join(ck.dir, 'config.json');
  assertExportable(c, cfgFile);
  if (ck.tokenizerJSON === null) throw new GptforgeError('the checkpoint has no tokenizer.json; GGUF carries the tokenizer', { file: ck.dir });
  const tokFile = join(ck.dir, 'tokenizer.json');
  const tok = Tokenizer.fromJSON(ck.tokenizerJSON, tokFile);
  const pre = llamaCppPreFor(tok.pattern, tokFile);
  const vocab = vocabFromTokenizerJSON(ck.tokenizerJSON, c.vocabSize, tokFile);
  const arch = c.position === 'rope' ? 'gptneox' : 'gpt2';
  const { nEmbd: C, nHead, mlpHidden: H, vocabSize: Vs } = c;
  const D = C / nHead;
  const w = ck.weights;
  const get = (n: string): Float32Array => {
    const d = w.get(n);
    if (!d) throw new GptforgeError(`missing tensor "${n}"`, { file: join(ck.dir, 'model.safetensors') });
    return d;
  };
  const opt = (n: string, size: number): Float32Array => w.get(n) ?? new Float32Array(size);
  const tensors: GgufTensor[] = [];
  const mat = (name: string, dims: [number, number], data: Float32Array): void => {
    const t: GgufType = type === 'Q8_0' && dims[0] % QK8_0 !== 0 ? 'F32' : type;
    tensors.push({ name, dims, type: t, data });
  };
  const vec = (name: string, data: Float32Array): void => {
    tensors.push({ name, dims: [data.length], type: 'F32', data });
  };
  mat('token_embd.weight', [C, Vs], get('transformer.wte.weight'));
  if (arch === 'gpt2') mat('position_embd.weight', [C, c.blockSize], get('transformer.wpe.weight'));
  for (let l = 0; l < c.nLayer; l++) {
    const p = `transformer.h.${l}`;
    const b = `blk.${l}`;
    vec(`${b}.attn_norm.weight`, get(`${p}.ln_1.weight`));
    vec(`${b}.attn_norm.bias`, opt(`${p}.ln_1.bias`, C));
    // fused qkv rows [q heads | k heads | v heads]; rotary q/k rows in NEOX (rotate-half) order
    const aw = get(`${p}.attn.c_attn.weight`);
    const ab = opt(`${p}.attn.c_attn.bias`, 3 * C);
    const qkv = new Float32Array(3 * C * C);
    const qkvB = new Float32Array(3 * C);
    for (let part = 0; part < 3; part++) {
      for (let h = 0; h < nHead; h++) {
        for (let j = 0; j < D; j++) {
          const row = part * C + h * D + j;
          const col = ourQkvColumn(part, h, j, C, D, arch === 'gptneox');
          for (let i = 0; i < C; i++) qkv[row * C + i] = aw[i * 3 * C + col];
          qkvB[row] = ab[col];
        }
      }
    }
    mat(`${b}.attn_qkv.weight`, [C, 3 * C], qkv);
    vec(`${b}.attn_qkv.bias`, qkvB);
    mat(`${b}.attn_output.weight`, [C, C], transpose(get(`${p}.attn.c_proj.weight`), C, C));
    vec(`${b}.attn_output.bias`, opt(`${p}.attn.c_proj.bias`, C));
    vec(`${b}.ffn_norm.weight`, get(`${p}.ln_2.weight`));
    vec(`${b}.ffn_norm.bias`, opt(`${p}.ln_2.bias`, C));
    mat(`${b}.ffn_up.weight`, [C, H], transpose(get(`${p}.mlp.c_fc.weight`), C, H));
    vec(`${b}.ffn_up.bias`, opt(`${p}.mlp.c_fc.bias`, H));
    mat(`${b}.ffn_down.weight`, [H, C], transpose(get(`${p}.mlp.c_proj.weight`), H, C));
    vec(`${b}.ffn_down.bias`, opt(`${p}.mlp.c_proj.bias`, C));
  }
  vec('output_norm.weight', get('transformer.ln_f.weight'));
  vec('output_norm.bias', opt('transformer.ln_f.bias', C));
  // gptneox requires output.weight; gpt2 falls back to the token embedding when it is absent
  if (!c.tieEmbeddings) mat('output.weight', [C, Vs], get('lm_head.weight'));
  else if (arch === 'gptneox') mat('output.weight', [C, Vs], get('transformer.wte.weight'));

  const sp = tok.specialTokens;
  const kv: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: opts.name ?? `gptforge-${ck.meta.stage}` }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[type] }],
    [`${arch}.context_length`, { type: 'u32', value: c.blockSize }],
    [`${arch}.embedding_length`, { type: 'u32', value: C }],
    [`${arch}.feed_forward_length`, { type: 'u32', value: H }],
    [`${arch}.block_count`, { type: 'u32', value: c.nLayer }],
    [`${arch}.attention.head_count`, { type: 'u32', value: nHead }],
    [`${arch}.attention.layer_norm_epsilon`, { type: 'f32', value: 1e-5 }],
  ];
  if (arch === 'gptneox') {
    kv.push([`${arch}.rope.dimension_count`, { type: 'u32', value: D }]);
    kv.push([`${arch}.rope.freq_base`, { type: 'f32', value: 10000 }]);
    kv.push([`${arch}.use_parallel_residual`, { type: 'bool', value: false }]);
  }
  kv.push(['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }]);
  kv.push(['tokenizer.ggml.pre', { type: 'string', value: pre }]);
  kv.push(['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }]);
  kv.push(['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.types }]);
  kv.push(['tokenizer.ggml.merges', { type: 'string[]', value: vocab.merges }]);
  const idOf = (s: string): number | undefined => sp.get(s);
  const bos = idOf('<|bos|>');
  const eos = idOf('<|assistant_end|>') ?? idOf('<|eos|>');
  const pad = idOf('<|pad|>');
  if (bos !== undefined) kv.push(['tokenizer.ggml.bos_token_id', { type: 'u32', value: bos }]);
  if (eos !== undefined) kv.push(['tokenizer.ggml.eos_token_id', { type: 'u32', value: eos }]);
  // <|assistant_end|> ends a turn. llama.cpp recognises end-of-generation tokens by their text
  // (llama-vocab.cpp), not ours, so it adds eos to that set itself and logs a harmless warning.
  if (eos !== undefined) kv.push(['tokenizer.ggml.eot_token_id', { type: 'u32', value: eos }]);
  if (pad !== undefined) kv.push(['tokenizer.ggml.padding_token_id', { type: 'u32', value: pad }]);
  kv.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }]);
  kv.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }]);
  if (sp.has('<|user_start|>') && sp.has('<|assistant_start|>')) kv.push(['tokenizer.chat_template', { type: 'string', value: chatTemplate() }]);
  writeGguf(path, kv, tensors);
  return { arch, pre, tensors: tensors.length, bytes: readFileSync(path).length };
}
