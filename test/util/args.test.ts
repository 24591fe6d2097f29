import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../../src/util/args.js';

test('parseArgs: flags, aliases, negation, arrays, unknown option error', () => {
  const specs = {
    out: { kind: 'string' as const, help: '', alias: 'o' },
    steps: { kind: 'number' as const, help: '', default: 10 },
    quiet: { kind: 'boolean' as const, help: '', default: true },
    input: { kind: 'strings' as const, help: '' },
  };
  const a = parseArgs(['-o', 'x.json', '--steps=5', '--no-quiet', '--input', 'a', '--input', 'b', 'pos'], specs, 't');
  assert.equal(a.flags.out, 'x.json');
  assert.equal(a.flags.steps, 5);
  assert.equal(a.flags.quiet, false);
  assert.deepEqual(a.flags.input, ['a', 'b']);
  assert.deepEqual(a.positionals, ['pos']);
  assert.throws(() => parseArgs(['--nope'], specs, 't'), /unknown option --nope/);
  assert.throws(() => parseArgs(['--steps', 'abc'], specs, 't'), /expects a number/);
});
