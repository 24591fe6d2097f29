import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../src/model/safetensors.js';
import { GptforgeError } from '../../src/util/errors.js';
import { tempDir } from './fixtures.js';

test('a truncated safetensors file → error naming the file and the byte offsets', () => {
  const dir = tempDir();
  const full = join(dir, 'model.safetensors');
  writeSafetensors(
    full,
    new Map([
      ['a', { shape: [4, 4], data: new Float32Array(16).fill(1) }],
      ['b', { shape: [8], data: new Float32Array(8) }],
    ]),
  );
  const bytes = readFileSync(full);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const cases: [number, RegExp][] = [
    [5, /header length needs bytes 0\.\.8, but the file ends at byte 5/],
    [8 + Math.floor(headerLen / 2), new RegExp(`header occupies bytes 8\\.\\.${8 + headerLen}, but the file ends at byte ${8 + Math.floor(headerLen / 2)}`)],
    [bytes.length - 3, new RegExp(`tensor "b" occupies bytes ${8 + headerLen + 64}\\.\\.${8 + headerLen + 96}, but the file ends at byte ${bytes.length - 3}`)],
  ];
  for (const [cut, re] of cases) {
    const p = join(dir, `cut-${cut}.safetensors`);
    writeFileSync(p, bytes.subarray(0, cut));
    assert.throws(
      () => readSafetensors(p),
      (e: unknown) => e instanceof GptforgeError && e.message.includes(p) && re.test(e.message),
      `cut at ${cut}`,
    );
  }
  assert.equal(readSafetensors(full).tensors.size, 2);
});
