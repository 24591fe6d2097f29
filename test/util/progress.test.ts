import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress } from '../../src/util/progress.js';

/** A pipe-like stream that keeps what the bar writes. */
function sink(): { stream: NodeJS.WriteStream; lines: string[] } {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WriteStream;
  return { stream, lines };
}

test("Progress: a resumed stage's rate counts only this run's steps (a finished stage re-run showed 192.7k step/s)", async () => {
  const { stream, lines } = sink();
  const bar = new Progress({ label: 'sft', total: 30, unit: 'step', stream, initial: 30 });
  await new Promise((r) => setTimeout(r, 20));
  bar.update(30);
  bar.finish();
  assert.match(lines.join(''), /100% 30\/30 0 step\/s/);

  const fresh = sink();
  const b2 = new Progress({ label: 'sft', total: 10, unit: 'step', stream: fresh.stream, initial: 6 });
  await new Promise((r) => setTimeout(r, 50));
  b2.update(10);
  // 4 steps in ≥ 50 ms: at most 80 step/s, not the 200 that counting all 10 would give
  const rate = Number(/ ([\d.]+) step\/s/.exec(fresh.lines.join(''))?.[1]);
  assert.ok(rate > 0 && rate <= 80, `rate ${rate}`);
});

test('Progress: the total shown is never below the position (a stage resumed past a smaller --max-steps read "160/2", newcomer32)', () => {
  const { stream, lines } = sink();
  const bar = new Progress({ label: 'sft', total: 2, unit: 'step', stream, initial: 160 });
  bar.update(160);
  bar.finish();
  const out = lines.join('');
  assert.match(out, /100% 160\/160 /);
  assert.ok(!out.includes('160/2'), out);
});
