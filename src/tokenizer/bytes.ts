/**
 * GPT-2's byte ↔ unicode map: Hugging Face's ByteLevel BPE writes each byte as a printable
 * character in tokenizer.json (space → "Ġ", newline → "Ċ", …). We use it only for that file.
 */
function buildByteToUnicode(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

const BYTE_TO_UNICODE: readonly string[] = buildByteToUnicode();
const UNICODE_TO_BYTE = new Map<string, number>(BYTE_TO_UNICODE.map((c, b) => [c, b]));

export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_UNICODE[b];
  return s;
}

/** Inverse of bytesToByteLevel; null when a character is not in the map. */
export function byteLevelToBytes(s: string): Uint8Array | null {
  const out: number[] = [];
  for (const ch of s) {
    const b = UNICODE_TO_BYTE.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return Uint8Array.from(out);
}

/** Bytes as a latin1 string: a cheap exact Map key for byte sequences. */
export function bytesKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** Length of the longest prefix of bytes that ends on a UTF-8 character boundary. */
export function completeUtf8Prefix(bytes: Uint8Array, len: number): number {
  // look back at most 3 bytes for an unfinished multi-byte sequence
  for (let back = 1; back <= Math.min(3, len); back++) {
    const b = bytes[len - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? len - back : len;
  }
  return len;
}
