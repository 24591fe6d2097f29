import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJSONL, readTextFile, readTextLines } from '../../src/data/jsonl.js';
import { readSource } from '../../src/data/sources.js';
import { readConversationsJSONL } from '../../src/data/chat.js';
import { readPreferencesJSONL } from '../../src/data/preferences.js';
import { loadMixtureConfig } from '../../src/data/mixture.js';
import { tempDir } from '../util/tmp.js';

/** JSONL files as people's tools write them (issue #26 item 3): one reader, every input. */
const dir = tempDir('gf-jsonl-');
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
let n = 0;
function file(bytes: Buffer | string, ext = '.jsonl'): string {
  const f = join(dir, `f${n++}${ext}`);
  writeFileSync(f, bytes);
  return f;
}
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const withBom = (s: string): Buffer => Buffer.concat([BOM, utf8(s)]);
const utf16le = (s: string): Buffer => Buffer.from(s, 'utf16le');
const utf16be = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf16le');
  for (let i = 0; i < b.length; i += 2) [b[i], b[i + 1]] = [b[i + 1], b[i]];
  return b;
};
const texts = (f: string): string[] => readJSONL(f, 'test', (o) => (o as { text: string }).text).items;

test('a UTF-8 BOM, LF/CRLF/CR line ends, blank lines, a last line without newline and JSON escapes all read', () => {
  const want = ['héllo', 'wörld 😀', 'line\nbreak'];
  const body = ['{"text": "héllo"}', '{"text": "w\\u00f6rld \\ud83d\\ude00"}', '{"text": "line\\nbreak"}'];
  for (const [name, bytes] of [
    ['LF', utf8(body.join('\n') + '\n')],
    ['BOM + LF', withBom(body.join('\n') + '\n')],
    ['BOM + CRLF', withBom(body.join('\r\n') + '\r\n')],
    ['CR only', utf8(body.join('\r'))],
    ['blank lines, no final newline', withBom(`\r\n${body[0]}\r\n\r\n  \r\n${body[1]}\n\n${body[2]}`)],
  ] as const) {
    assert.deepEqual(texts(file(bytes)), want, name);
  }
  // line numbers count every line end convention (errors point at the right line)
  const f = file(withBom('{"text":"a"}\r\n\r{"text":"b"}\n{oops}\n'));
  assert.throws(
    () => texts(f),
    (e: Error) => e.message.startsWith(`${f}:4: not valid JSON`),
  );
  assert.deepEqual(
    readTextLines(file(withBom('a\r\n\rb\nc')), 'x').map((l) => [l.line, l.text]),
    [
      [1, 'a'],
      [3, 'b'],
      [4, 'c'],
    ],
  );
  // a file concatenated from BOM files has a BOM starting a later line too
  assert.deepEqual(texts(file(Buffer.concat([withBom('{"text":"a"}\n'), withBom('{"text":"b"}\n')]))), ['a', 'b']);
  // a text file keeps its text exactly, minus the BOM
  assert.equal(readTextFile(file(withBom('plain\r\ntext\n'), '.txt')), 'plain\r\ntext\n');
});

test('what cannot be read is refused naming the file and the encoding, not "line 1: not valid JSON"', () => {
  const rec = '{"text": "hello"}\n{"text": "world"}\n';
  const cases: [Buffer, RegExp][] = [
    [Buffer.concat([Buffer.from([0xff, 0xfe]), utf16le(rec)]), /is UTF-16 LE \(it starts with the byte-order mark FF FE\); save it as UTF-8$/],
    [Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(rec)]), /is UTF-16 BE \(it starts with the byte-order mark FE FF\); save it as UTF-8$/],
    [utf16le(rec), /looks like UTF-16 LE without a byte-order mark .*; save it as UTF-8$/],
    [utf16be(rec), /looks like UTF-16 BE without a byte-order mark .*; save it as UTF-8$/],
    [Buffer.from([0xff, 0xfe, 0, 0, 0x7b, 0, 0, 0]), /is UTF-32 LE/],
  ];
  for (const [bytes, re] of cases) {
    const f = file(bytes);
    assert.throws(
      () => texts(f),
      (e: Error) => e.message.startsWith(`${f}: test `) && re.test(e.message) && !/not valid JSON/.test(e.message),
      String(re),
    );
    // the same for text sources and the skip mode (an undecodable file is never "skipped lines")
    assert.throws(() => readJSONL(f, 'test', (o) => o, 'skip'), re);
  }
  // Latin-1 "café" on line 2, byte offset 31: named with its line and offset
  const latin1 = Buffer.concat([utf8('{"text": "hello"}\n{"text": "caf'), Buffer.from([0xe9]), utf8('"}\n')]);
  const f = file(latin1);
  assert.throws(
    () => texts(f),
    (e: Error) => e.message === `${f}:2: test is not valid UTF-8: bad byte sequence at byte offset 31 (E9 22 7D 0A…); is it Latin-1 or Windows-1252? save it as UTF-8`,
  );
  // a lone NUL in otherwise ASCII text
  const g = file(utf8('{"text": "a"}\n{"text": "b\u0000"}\n'));
  assert.throws(
    () => texts(g),
    (e: Error) => e.message === `${g}:2: test has a NUL byte at byte offset 25 (line 2): not a UTF-8 text file`,
  );
  // a binary saved as .txt is called binary, not UTF-16 (newcomer24 #9): by its signature, else
  // by NULs on both byte parities and control bytes (an x86 object's code and tables)
  const elf = Buffer.alloc(4096);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  for (let i = 64; i < elf.length; i += 3) elf[i] = (i * 7) & 0xff;
  assert.throws(() => readTextFile(file(elf, '.txt')), /file is a binary file \(an ELF executable or library\), not text$/);
  const blob = Buffer.from(elf.subarray(4));
  assert.throws(() => readTextFile(file(blob, '.txt')), /file looks like a binary file, not text \(\d+ NUL and \d+ other control bytes in its first 4092\)$/);
  // well-formedness per Unicode Table 3-7: overlong, surrogate, truncated at end of file
  for (const [bad, at] of [
    [[0x41, 0xc0, 0x80], 1],
    [[0x41, 0x42, 0xed, 0xa0, 0x80], 2],
    [[0x41, 0xf0, 0x9f, 0x98], 1],
    [[0xe0, 0x80, 0x80], 0],
  ] as const) {
    const h = file(Buffer.from(bad), '.txt');
    assert.throws(
      () => readTextFile(h),
      (e: Error) => e.message.includes(`byte offset ${at} `),
      bad.join(' '),
    );
  }
});

test('a BOM file reads the same through every JSONL input: data sources, conversations (sft --data), rankings and pairs, mixture configs', () => {
  const lines = ['{"text": "Call me Ishmael."}', '{"text": "Some years ago."}'];
  const plain = file(lines.join('\n') + '\n');
  const bom = file(withBom(lines.join('\r\n') + '\r\n'));
  const docs = (f: string) => [...readSource({ name: 'novel', paths: [f], weight: 1 })].map((d) => [d.text, d.line]);
  assert.deepEqual(docs(bom), [
    ['Call me Ishmael.', 1],
    ['Some years ago.', 2],
  ]);
  assert.deepEqual(docs(bom), docs(plain));
  const txt = file(withBom('Call me Ishmael.\r\n'), '.txt');
  assert.deepEqual(
    [...readSource({ name: 'novel', paths: [txt], weight: 1 })].map((d) => d.text),
    ['Call me Ishmael.\r\n'],
  );
  const utf16 = file(Buffer.concat([Buffer.from([0xff, 0xfe]), utf16le(lines.join('\n'))]));
  assert.throws(
    () => [...readSource({ name: 'novel', paths: [utf16], weight: 1 })],
    (e: Error) => e.message === `${utf16}: source "novel" is UTF-16 LE (it starts with the byte-order mark FF FE); save it as UTF-8`,
  );

  const conv = '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}';
  const convs = readConversationsJSONL(file(withBom(`${conv}\r\n${conv}\r\n`)), { forTraining: true });
  assert.equal(convs.conversations.length, 2);
  assert.equal(convs.conversations[0].messages[1].content, 'Hello!');

  const prefs = readPreferencesJSONL(file(withBom('{"prompt": "2+2?", "completions": ["4", "5"]}\r\n{"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"}\r\n'))).rankings;
  assert.deepEqual(
    prefs.map((r) => [r.prompt, r.completions]),
    [
      ['2+2?', ['4', '5']],
      ['Capital of France?', ['Paris', 'Lyon']],
    ],
  );

  const mix = loadMixtureConfig(file(withBom(JSON.stringify({ sources: [{ name: 'novel', paths: [bom], weight: 1 }], tokenBudget: 1000 })), '.json'));
  assert.equal(mix.sources[0].name, 'novel');
});
