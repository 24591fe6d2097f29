import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossCurveSVG, terminalChart } from '../../src/eval/plot.js';

test('loss-curve SVG is well formed, names every series, and survives one point and NaN', () => {
  const svg = lossCurveSVG(
    [
      {
        name: 'train <all>',
        points: [
          [1, 4.2],
          [2, 3.9],
          [3, NaN],
          [4, 3.1],
        ],
      },
      { name: 'books', points: [[4, 3.4]] },
    ],
    { title: 'pretraining loss', xLabel: 'step', yLabel: 'nats' },
  );
  assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
  // tags balance: every opened element is closed or self-closed
  const opens = (svg.match(/<(svg|text)\b/g) ?? []).length;
  const closes = (svg.match(/<\/(svg|text)>/g) ?? []).length;
  assert.equal(opens, closes);
  assert.ok(svg.includes('train &lt;all&gt;') && svg.includes('books'));
  assert.ok(!svg.includes('NaN'));
  assert.match(svg, /<circle /, 'a single-point series is drawn as a dot');
});

test('terminal chart has the requested size and a legend', () => {
  const chart = terminalChart([{ name: 'train', points: Array.from({ length: 50 }, (_, i) => [i, 5 - i / 20] as [number, number]) }], { width: 40, height: 8 });
  const lines = chart.split('\n');
  assert.equal(lines.filter((l) => l.includes('│')).length, 8);
  assert.ok(lines.some((l) => l.includes('train')));
});
