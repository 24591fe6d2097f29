import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promptStream } from '../../src/cli/chat-run.js';
import { tinyRun } from '../run/fixture.js';
import { CLI } from './fixture.js';

// fixes46 #3: with stdin piped, the "you>" prompts went to stdout, between the replies
test('chat with stdin piped: stdout holds the replies alone (no "you>", no "assistant>", no banner); banner and notices on stderr', () => {
  const runDir = tinyRun();
  try {
    const r = spawnSync(process.execPath, [CLI, 'chat', '--run', runDir, '--max-tokens', '3', '--temperature', '0', '--no-tools'], { input: 'hi\n/reset\nhello\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /you>|assistant>|chatting with|new conversation/, JSON.stringify(r.stdout));
    // two questions, two replies, each ended by its newline (a reply may hold newlines of its own: at least two)
    assert.ok(r.stdout.endsWith('\n') && r.stdout.split('\n').length - 1 >= 2, JSON.stringify(r.stdout));
    assert.match(r.stderr, /^chatting with .*\/quit; reading stdin line by line\)?$/m);
    assert.match(r.stderr, /\(new conversation\)/);
    assert.doesNotMatch(r.stderr, /you>/, 'no prompt on stderr either: nobody is typing');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('promptStream: prompts on stdout at a terminal, on stderr when only stdout is piped, none when stdin is piped', () => {
  const out = { isTTY: true, name: 'out' };
  const err = { isTTY: true, name: 'err' };
  assert.equal(promptStream({ isTTY: true }, out, err), out);
  assert.equal(promptStream({ isTTY: true }, { ...out, isTTY: false }, err), err);
  assert.equal(promptStream({ isTTY: false }, out, err), undefined);
  assert.equal(promptStream({}, out, err), undefined, 'a pipe has no isTTY at all');
});

test('chat --help says it reads stdin line by line when piped, replies alone on stdout', () => {
  const r = spawnSync(process.execPath, [CLI, 'chat', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.replace(/\s+/g, ' '), /With stdin piped it reads stdin line by line, one question a line .* stdout holds only the replies/);
});
