import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './fixture.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('tokenizer train and data prepare read a JSONL file with a UTF-8 BOM and CRLF lines; a UTF-16 file is refused by name', { timeout: 120_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-bom-'));
  try {
    const records = Array.from({ length: 200 }, (_, i) => JSON.stringify({ text: `Record ${i}: the whale and the sea, number ${i * 7}. Call me Ishmael; some years ago, never mind how long.` }));
    const bom = join(root, 'notes.jsonl');
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(records.join('\r\n') + '\r\n')]));
    const tok = run(['tokenizer', 'train', '--input', bom, '--vocab-size', '300', '--out', join(root, 'tok.json')]);
    assert.equal(tok.status, 0, tok.stderr);
    assert.ok(existsSync(join(root, 'tok.json')));

    const mixture = join(root, 'mixture.json');
    writeFileSync(mixture, JSON.stringify({ sources: [{ name: 'notes', paths: [bom], weight: 1 }], tokenBudget: 5000, valFraction: 0.1, tokenizer: { vocabSize: 300 } }));
    const prep = run(['data', 'prepare', '--config', mixture, '--out', join(root, 'data'), '--tokenizer', join(root, 'tok.json'), '--quiet']);
    assert.equal(prep.status, 0, prep.stderr);
    assert.match(prep.stdout, /notes/);

    const utf16 = join(root, 'wide.jsonl');
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(records.join('\r\n'), 'utf16le')]));
    writeFileSync(join(root, 'mixture16.json'), JSON.stringify({ sources: [{ name: 'notes', paths: [utf16], weight: 1 }], tokenBudget: 5000 }));
    const t16 = run(['tokenizer', 'train', '--input', utf16, '--vocab-size', '300', '--out', join(root, 'tok2.json')]);
    assert.equal(t16.status, 1);
    assert.equal(t16.stderr.trim(), `gptforge: ${utf16}: input is UTF-16 LE (it starts with the byte-order mark FF FE); save it as UTF-8`);
    const p16 = run(['data', 'prepare', '--config', join(root, 'mixture16.json'), '--out', join(root, 'data2'), '--tokenizer', join(root, 'tok.json'), '--quiet']);
    assert.equal(p16.status, 1);
    assert.match(p16.stderr, new RegExp(`${utf16.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: source "notes" is UTF-16 LE .*save it as UTF-8`));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
