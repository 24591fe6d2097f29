import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { mobyDick } from './corpus.js';

const CLI = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'src', 'cli', 'main.js');
const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'tokenizer', ...args], { encoding: 'utf8' });

test('tokenizer CLI: --pattern \\p{L}+ keeps what it does not match; --special error|allow|plain; info counts a DeepSeek-V3-shaped file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-tokcli-'));
  try {
    const corpus = join(dir, 'c.txt');
    writeFileSync(corpus, 'hi there, 42! ' + mobyDick().slice(0, 30_000));
    const tokFile = join(dir, 'tok.json');
    const tr = run(['train', '--input', corpus, '--vocab-size', '400', '--pattern', '\\p{L}+', '--out', tokFile]);
    assert.equal(tr.status, 0, tr.stderr);
    const enc = run(['encode', '--tokenizer', tokFile, '--text', 'hi there, 42!']);
    assert.equal(enc.status, 0, enc.stderr);
    const dec = run(['decode', '--tokenizer', tokFile, '--ids', enc.stdout.trim()]);
    assert.equal(dec.stdout, 'hi there, 42!\n');
    // info names the pre-split pattern and whether llama.cpp (GGUF) can split like it
    assert.match(run(['info', '--tokenizer', tokFile]).stdout, /^pre-split pattern: custom regex \(GGUF export refuses it/m);
    const digits = join(dir, 'digits.json');
    assert.equal(run(['train', '--input', corpus, '--vocab-size', '300', '--pattern', 'gpt4-digits', '--out', digits]).status, 0);
    assert.match(run(['info', '--tokenizer', digits]).stdout, /^pre-split pattern: gpt4-digits \(GGUF: llama\.cpp pre-type "qwen2"\)$/m);

    // special-token text: refused by default with the flag named, plain or allowed on request
    const s = 'say <|bos|> now';
    const refused = run(['encode', '--tokenizer', tokFile, '--text', s]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /special token <\|bos\|> at offset 4.*--special plain/);
    const tok = Tokenizer.load(tokFile);
    const plain = run(['encode', '--tokenizer', tokFile, '--text', s, '--special', 'plain']);
    assert.equal(plain.status, 0, plain.stderr);
    assert.deepEqual(plain.stdout.trim().split(' ').map(Number), tok.encodeOrdinary(s));
    const allowed = run(['encode', '--tokenizer', tokFile, '--text', s, '--special', 'allow']);
    assert.deepEqual(allowed.stdout.trim().split(' ').map(Number), tok.encode(s, { allowedSpecial: 'all' }));
    assert.ok(allowed.stdout.trim().split(' ').map(Number).includes(tok.specialId('<|bos|>')));
    assert.match(run(['encode', '--tokenizer', tokFile, '--text', s, '--special', 'maybe']).stderr, /--special: expects error, allow or plain, got "maybe"/);

    // a DeepSeek-V3-shaped pre-tokenizer: "hello world" was 0 tokens (text dropped)
    const j = JSON.parse(readFileSync(tokFile, 'utf8'));
    j.pre_tokenizer = {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\p{N}{1,3}' }, behavior: 'Isolated', invert: false },
        { type: 'Split', pattern: { Regex: '[一-龥\u3040-ゟ゠-ヿ]+' }, behavior: 'Isolated', invert: false },
        { type: 'Split', pattern: { Regex: '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+' }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    const ds = join(dir, 'deepseek.json');
    writeFileSync(ds, JSON.stringify(j));
    const info = run(['info', '--tokenizer', ds, '--text', 'hello world']);
    assert.equal(info.status, 0, info.stderr);
    const n = Number(/\((\d+) tokens for 11 bytes\)/.exec(info.stdout)?.[1]);
    assert.ok(n >= 2, info.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizer train on a text too small for --vocab-size says that merging stopped early and why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-tokcli-small-'));
  try {
    const corpus = join(dir, 'c.txt');
    writeFileSync(corpus, 'the cat sat on the mat. '.repeat(5));
    const tr = run(['train', '--input', corpus, '--vocab-size', '300', '--out', join(dir, 'tok.json')]);
    assert.equal(tr.status, 0, tr.stderr);
    const got = Number(/vocabulary (\d+)/.exec(tr.stdout)?.[1]);
    assert.ok(got < 300, tr.stdout);
    assert.match(tr.stderr, new RegExp(`note: merging stopped at a vocabulary of ${got}, below --vocab-size 300: every word .* is already a single token`));
    // a text with room for every merge gets no note
    writeFileSync(corpus, mobyDick().slice(0, 30_000));
    const big = run(['train', '--input', corpus, '--vocab-size', '300', '--out', join(dir, 'tok2.json')]);
    assert.doesNotMatch(big.stderr, /merging stopped/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
