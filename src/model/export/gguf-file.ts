import { readFileSync } from 'node:fs';
import { atomicWriteChunks } from '../../util/atomic.js';
import { GptforgeError } from '../../util/errors.js';
import { QK4_0, dequantizeQ4_0, quantizeQ4_0 } from '../quantize.js';
import { QK8_0, dequantizeQ8_0, floatToHalf, halfToFloat, quantizeQ8_0 } from './ggml-quants.js';

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
 * quantize_row_q8_0_ref, computed in float32 as it does) and Q4_0 (2): blocks of 32 as
 * { fp16 d; u8 qs[16] } with d = max/−8 (the signed value of largest magnitude), x = (q − 8)·d,
 * element j in the low nibble of byte j and element j + 16 in its high nibble
 * (quantize_row_q4_0_ref; src/model/quantize.ts). 1-D tensors (norms, biases) stay F32, as
 * llama.cpp's own converter keeps them; a matrix whose rows are not a multiple of 32 stays F32
 * under Q8_0 and Q4_0.
 */

export type GgufType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';
/** ggml_type: GGML_TYPE_F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8 (ggml.h). */
const TYPE_ID: Record<GgufType, number> = { F32: 0, F16: 1, Q8_0: 8, Q4_0: 2 };
/** llama_ftype: LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7 (llama.h). */
export const FILE_TYPE: Record<GgufType, number> = { F32: 0, F16: 1, Q8_0: 7, Q4_0: 2 };
const ALIGN = 32;

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

export type GgufValue = { type: 'u32'; value: number } | { type: 'i32'; value: number } | { type: 'f32'; value: number } | { type: 'bool'; value: boolean } | { type: 'string'; value: string } | { type: 'string[]'; value: string[] } | { type: 'i32[]'; value: number[] };

export interface GgufTensor {
  name: string;
  /** ggml order: ne[0] is the contiguous (row) dimension. */
  dims: number[];
  type: GgufType;
  /** Row-major data, ne[0] fastest; length = product of dims. */
  data: Float32Array;
}

function tensorBytes(t: GgufTensor): Uint8Array {
  if (t.type === 'F32') return new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  if (t.type === 'F16') {
    const out = new Uint8Array(t.data.length * 2);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < t.data.length; i++) dv.setUint16(2 * i, floatToHalf(t.data[i]), true);
    return out;
  }
  return t.type === 'Q4_0' ? quantizeQ4_0(t.data) : quantizeQ8_0(t.data);
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
    if (t.type === 'Q4_0' && t.dims[0] % QK4_0 !== 0) throw new Error(`GGUF tensor ${t.name}: Q4_0 rows must be a multiple of ${QK4_0}, got ${t.dims[0]}`);
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
  /** A tensor's values as float32 (F32, F16, Q8_0 and Q4_0). */
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
      case V.UINT8:
        return buf.readUInt8(at);
      case V.INT8:
        return buf.readInt8(at);
      case V.UINT16:
        return buf.readUInt16LE(at);
      case V.INT16:
        return buf.readInt16LE(at);
      case V.UINT32:
        return buf.readUInt32LE(at);
      case V.INT32:
        return buf.readInt32LE(at);
      case V.FLOAT32:
        return buf.readFloatLE(at);
      case V.BOOL:
        return buf.readUInt8(at) !== 0;
      case V.UINT64:
        return Number(buf.readBigUInt64LE(at));
      case V.INT64:
        return Number(buf.readBigInt64LE(at));
      default:
        return buf.readDoubleLE(at);
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
    if (t.type === 2) return (n / QK4_0) * 18;
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
      return t.type === 2 ? dequantizeQ4_0(bytes, n) : dequantizeQ8_0(bytes, n);
    },
  };
}
