import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI } from './fixture.js';
import { ToolTrace } from '../../src/cli/chat-run.js';

test('chat --help: --show-tools (the default) shows no "(default: true)" beside --no-show-tools', () => {
  const r = spawnSync(process.execPath, [CLI, 'chat', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // the two options' entries, wrapped lines joined
  const m = /\n\s*--show-tools\s([\s\S]*?)\n\s*--no-show-tools\s([\s\S]*?)\n\s*--/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const [show, noShow] = [m[1], m[2]].map((s) => s.replace(/\s+/g, ' '));
  assert.match(show, /\(the default\)/);
  assert.doesNotMatch(show + noShow, /default: true/);
});

test('chat: the calculator trace on stderr ends its line (piped), and adds none on the terminal stdout shares', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { isTTY, chunks, write: (s: string) => chunks.push(s) > 0 };
  };
  const piped = sink(false);
  const t = new ToolTrace(piped, { isTTY: false });
  t.note('calculator: 12*3', '36');
  t.end();
  assert.equal(piped.chunks.join(''), '[calculator: 12*3 → 36] \n');
  t.end(); // no trace this reply: no empty line
  assert.equal(piped.chunks.join(''), '[calculator: 12*3 → 36] \n');
  const tty = sink(true);
  const u = new ToolTrace(tty, { isTTY: true });
  u.note('calculator: 2+2', '4');
  u.end();
  assert.equal(tty.chunks.join(''), '[calculator: 2+2 → 4] ');
});

test('chat --help and rag --help give --max-tokens for the tiny preset (24 beside 48-token chunks in 128 tokens, as docs/rag.md), and --chunk-size says how tokens are counted', () => {
  const help = (...args: string[]): string => {
    const r = spawnSync(process.execPath, [CLI, ...args, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.replace(/\s+/g, ' ');
  };
  assert.match(help('chat'), /--rag <db>.*24 for the tiny preset's 128/);
  assert.match(help('rag'), /--rag kb\.db --max-tokens 24 .*128-token context: index with --chunk-size 48/);
  assert.match(help('rag', 'index'), /--chunk-size <n> most tokens per chunk, counted by --model's or --tokenizer's tokenizer, else as ≈4 characters a token/);
});
