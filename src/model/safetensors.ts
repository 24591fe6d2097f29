import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { atomicWriteChunks } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { halfToFloat } from './export/ggml-quants.js';

/**
 * The safetensors format (Hugging Face): 8-byte little-endian header length N, N bytes of
 * JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
 * then the raw little-endian tensor bytes. We write F32 only and read F32/F16/BF16.
 */
export interface NamedTensor {
  shape: readonly number[];
  data: Float32Array;
}

/** Write `tensors` (F32, shapes as given) and string `metadata` to `path` as one safetensors file, atomically (a crash leaves the old file or the new one). */
export function writeSafetensors(path: string, tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (allowed by the spec).
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  const chunks: Uint8Array[] = [len, headerBytes];
  for (const name of names) {
    const d = tensors.get(name)!.data;
    chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  atomicWriteChunks(path, chunks);
}

/** A safetensors file read into memory: its tensors as F32 (F16/BF16 widened) and its `__metadata__`. */
export interface SafetensorsFile {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

/**
 * Read a safetensors file (F32, F16 or BF16 tensors; widened to F32).
 * @throws GptforgeError naming the file when it cannot be read as safetensors (cannot open, truncated or corrupt header, …).
 */
export function readSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    // the errno code kept (ENOENT: a checkpoint rotated away while read, which its reader retries; EACCES: not)
    throw Object.assign(new GptforgeError(`cannot open: ${(e as Error).message}`, { file: path }), { code: (e as NodeJS.ErrnoException).code, cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new GptforgeError(`truncated safetensors file: the header length needs bytes 0..8, but the file ends at byte ${size}`, { file: path });
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE());
    if (n <= 0 || 8 + n > size) throw new GptforgeError(`${n > 0 ? 'truncated' : 'corrupt'} safetensors file: the header occupies bytes 8..${8 + n}, but the file ends at byte ${size}`, { file: path });
    const hb = Buffer.alloc(n);
    readSync(fd, hb, 0, n, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(hb.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new GptforgeError('corrupt safetensors header (not JSON)', { file: path });
    }
    const dataStart = 8 + n;
    const tensors = new Map<string, NamedTensor>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = v as Record<string, string>;
        continue;
      }
      const info = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      if (!info || !Array.isArray(info.shape) || !Array.isArray(info.data_offsets)) throw new GptforgeError(`tensor "${name}" has no shape/data_offsets`, { file: path, field: name });
      const [begin, end] = info.data_offsets;
      if (dataStart + end > size) throw new GptforgeError(`truncated safetensors file: tensor "${name}" occupies bytes ${dataStart + begin}..${dataStart + end}, but the file ends at byte ${size}`, { file: path, field: name });
      const count = info.shape.reduce((a, b) => a * b, 1);
      const raw = Buffer.alloc(end - begin);
      readSync(fd, raw, 0, end - begin, dataStart + begin);
      const data = new Float32Array(count);
      if (info.dtype === 'F32') {
        if (raw.length !== count * 4) throw new GptforgeError(`tensor "${name}" byte size ${raw.length} does not match shape [${info.shape.join(', ')}]`, { file: path, field: name });
        new Uint8Array(data.buffer).set(raw);
      } else if (info.dtype === 'F16' || info.dtype === 'BF16') {
        if (raw.length !== count * 2) throw new GptforgeError(`tensor "${name}" byte size ${raw.length} does not match shape [${info.shape.join(', ')}]`, { file: path, field: name });
        for (let i = 0; i < count; i++) data[i] = info.dtype === 'F16' ? halfToFloat(raw.readUInt16LE(2 * i)) : bf16ToFloat(raw.readUInt16LE(2 * i));
      } else {
        throw new GptforgeError(`tensor "${name}" has unsupported dtype ${String(info.dtype)}`, { file: path, field: name });
      }
      tensors.set(name, { shape: info.shape, data });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

function bf16ToFloat(h: number): number {
  const b = new Float32Array(1);
  new Uint32Array(b.buffer)[0] = h << 16;
  return b[0];
}
