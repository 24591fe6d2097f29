import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from './fixture.js';
import { tinyRun } from '../run/fixture.js';

/** `sft --lora --base-precision` writes an adapter checkpoint, `merge` a full one; bad specs are refused in one line. */
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

test('sft --lora … --base-precision q4_0, then merge; bad --lora / --base-precision refused by field', () => {
  const runDir = tinyRun();
  try {
    const data = join(runDir, 'convs.jsonl');
    writeFileSync(
      data,
      JSON.stringify({
        messages: [
          { role: 'user', content: 'Who are you?' },
          { role: 'assistant', content: 'I am Forge.' },
        ],
      }) + '\n',
    );
    const base = ['sft', '--run', runDir, '--only-data', '--data', data, '--max-steps', '2', '--fresh', '--quiet'];
    const ok = run([...base, '--lora', 'r=4,alpha=8,targets=qkv,down', '--base-precision', 'q4_0']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(existsSync(join(runDir, 'sft', 'step-0000002', 'adapter_model.safetensors')));
    const m = run(['merge', '--run', runDir]);
    assert.equal(m.status, 0, m.stderr);
    assert.ok(existsSync(join(runDir, 'sft-merged', 'step-0000002', 'model.safetensors')));
    const noLora = run([...base, '--base-precision', 'q8_0']);
    assert.equal(noLora.status, 1);
    assert.match(noLora.stderr, /a q8_0 base cannot be trained — quantized weights are frozen/);
    const badTarget = run([...base, '--lora', 'r=4,targets=gate']);
    assert.match(badTarget.stderr, /^gptforge: --lora targets: unknown target module "gate"; this model has: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj/m);
    // every bad spec names --lora and the spec's field, once
    for (const [spec, line] of [
      ['r=0', '--lora r: must be a whole number ≥ 1, got "0"'],
      ['r=4,dropout=1', '--lora dropout: must be in [0, 1), got "1"'],
      ['r=4,alfa=16', '--lora: unknown field "alfa"; fields: r, alpha, dropout, targets, rslora, seed, tokens'],
      ['r=4,tokens=top:x', '--lora tokens: "top:x" is not a token id, special, all, none, top:k (k a whole number) or a special token of this tokenizer'],
    ]) {
      const bad = run([...base, '--lora', spec]);
      assert.equal(bad.status, 1, spec);
      assert.ok(bad.stderr.startsWith(`gptforge: ${line}`), `${spec}: ${bad.stderr}`);
    }
    const badPrecision = run([...base, '--lora', 'r=4', '--base-precision', 'nf4']);
    assert.match(badPrecision.stderr, /--base-precision: unknown precision "nf4"; valid: f32, q8_0, q4_0/);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
