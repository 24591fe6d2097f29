import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI } from './fixture.js';

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
