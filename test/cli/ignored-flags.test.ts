import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './fixture.js';

/** A flag that would be ignored (or a value that means nothing) is refused by name, before any model or store is opened. */
test('--nprobe 0, --whitespace without --json-schema and --base-name without --format peft are refused', { timeout: 60_000 }, () => {
  const missing = join(tmpdir(), 'gf-no-such-run');
  for (const [args, want] of [
    [['rag', 'query', '--db', join(missing, 'x.db'), '--nprobe', '0', 'hello'], /^gptforge: --nprobe: expects a whole number ≥ 1, got "0"$/m],
    [['sample', '--run', missing, '-p', 'hi', '--whitespace', 'compact'], /^gptforge: --whitespace shapes the JSON of --json-schema/m],
    [['export', '--run', missing, '--format', 'hf', '--out', join(missing, 'hf'), '--base-name', 'you/base'], /^gptforge: --base-name names the base of a PEFT adapter: it needs --format peft \(not hf\)$/m],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
});
