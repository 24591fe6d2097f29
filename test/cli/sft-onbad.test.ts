import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyRun } from '../run/fixture.js';
import { CLI } from './fixture.js';

/**
 * The preset's SFT mixture says "onBad": "skip" and one line of its file is longer than a
 * training row (seqLen 48 + 1 tokens): `gptforge sft` skips it with a warning naming file and
 * line. (It used to stop on it: the flag's default, error, replaced the mixture's setting.)
 */
test('sft: the mixture\'s onBad "skip" skips an over-long conversation with a counted warning naming file and line; --on-bad error still refuses it; a misplaced onBad is named', { timeout: 180_000 }, () => {
  const runDir = tinyRun();
  try {
    const file = join(runDir, 'convs.jsonl');
    const short = {
      messages: [
        { role: 'user', content: 'Who are you?' },
        { role: 'assistant', content: 'I am Forge.' },
      ],
    };
    const long = {
      messages: [
        { role: 'user', content: 'What is your name? '.repeat(30) },
        { role: 'assistant', content: 'My name is Forge.' },
      ],
    };
    writeFileSync(file, [short, short, long, short].map((c) => JSON.stringify(c)).join('\n') + '\n');
    const presetFile = join(runDir, 'preset.json');
    const preset = JSON.parse(readFileSync(presetFile, 'utf8')) as { sft: Record<string, unknown> & { mixture: unknown } };
    const mixture = { sources: [{ path: file, weight: 1 }], examples: 16, testPerTask: 1 };
    const write = (sft: Record<string, unknown>): void => writeFileSync(presetFile, JSON.stringify({ ...preset, sft: { ...preset.sft, ...sft } }));
    const sft = (...args: string[]) => spawnSync(process.execPath, [CLI, 'sft', '--run', runDir, '--fresh', '--max-steps', '1', '--quiet', ...args], { encoding: 'utf8', env: { ...process.env, GPTFORGE_THREADS: '1' } });

    write({ mixture: { ...mixture, onBad: 'skip' } });
    const skip = sft();
    assert.equal(skip.status, 0, skip.stderr);
    assert.match(skip.stderr, /sft: warning: skipped 1 conversation: malformed, or longer than a training row of 49 tokens \(seqLen 48 \+ 1\)/);
    assert.match(skip.stderr, /convs\.jsonl:3, field "messages": conversation is \d+ tokens, longer than a training row of 49 — skipped/);
    // the flag still decides when given
    const strict = sft('--on-bad', 'error');
    assert.equal(strict.status, 1);
    assert.match(strict.stderr, /^gptforge: .*convs\.jsonl:3, field "messages": conversation is \d+ tokens, longer than a training row of 49$/m);
    // onBad beside the mixture, or on a source, is not where it is read: refused by name, not ignored
    write({ mixture, onBad: 'skip' });
    const beside = sft();
    assert.equal(beside.status, 1);
    assert.match(beside.stderr, /preset\.json, field "sft\.onBad": onBad is a field of the SFT mixture/);
    write({ mixture: { ...mixture, sources: [{ path: file, weight: 1, onBad: 'skip' }] } });
    const onSource = sft();
    assert.equal(onSource.status, 1);
    assert.match(onSource.stderr, /field "sft\.mixture\.sources\[0\]\.onBad": unknown key "onBad" .*onBad is set for the whole mixture/);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
