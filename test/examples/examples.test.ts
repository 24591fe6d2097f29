import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChatEngine, MetricsLog, defaultTools, loadModel } from '../../src/index.js';
import { tinyRun } from '../run/fixture.js';

/**
 * The two examples in examples/ run as a user runs them (node dist/examples/<name>.js <run>),
 * against a run built here in a second: a BPE tokenizer, a random 1-layer GPT saved as the
 * run's base and SFT checkpoints, and a preset whose sft section is small. Only the library's
 * public entry point (src/index.ts) is used.
 */
const EXAMPLES = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'examples');

function runExample(name: string, args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(EXAMPLES, `${name}.js`), ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${name} exited ${r.status}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

test('examples: stream-chat streams the reply ChatEngine.reply gives for the same seed; finetune trains on in-memory conversations and lowers their loss', { timeout: 300_000 }, () => {
  const runDir = tinyRun();
  try {
    // stream-chat: the streamed deltas concatenate to the non-streamed reply of the same seed
    const { stdout, stderr } = runExample('stream-chat', [runDir, 'Who are you?', '5']);
    assert.match(stderr, /model: .*sft/); // newest of rl → sft → base
    const m = /^assistant> ([\s\S]*)\n\[finish: (\w+), (\d+) tokens\]\n$/.exec(stdout);
    assert.ok(m, `unexpected output: ${JSON.stringify(stdout)}`);
    const { model, tok } = loadModel(runDir, 'sft');
    const want = new ChatEngine(model, tok).reply({ messages: [{ role: 'user', content: 'Who are you?' }] }, { seed: 5, tools: defaultTools(), maxTokens: 64, temperature: 0.7 });
    assert.equal(m[1].trim(), want.text); // reply() trims the visible text
    assert.ok(want.text.length > 0);
    assert.equal(Number(m[3]), want.ids.length);

    // finetune: 30 steps on four conversations; the loss falls, the stage has its own checkpoints and metrics
    const out = runExample('finetune', [runDir]).stdout;
    const losses = [...out.matchAll(/^step (\d+) loss ([\d.]+)$/gm)].map((x) => Number(x[2]));
    assert.equal(losses.length, 30, out);
    const head = (losses[0] + losses[1] + losses[2]) / 3;
    const tail = (losses[27] + losses[28] + losses[29]) / 3;
    assert.ok(tail < 0.8 * head, `loss did not fall: ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    assert.match(out, /done at step 30; checkpoint .*sft-forge/);
    assert.match(out, /^assistant> /m);
    assert.equal(new MetricsLog(runDir).read('sft-forge').filter((r) => typeof r.loss === 'number').length, 30);
    assert.equal(new MetricsLog(runDir).read('sft').length, 0); // the run's own SFT history is untouched
    assert.ok(JSON.parse(readFileSync(join(runDir, 'sft-forge', 'latest.json'), 'utf8')).step === 30);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
