import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossCurveSVG, mark, terminalChart } from '../../src/eval/plot.js';

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

test('every series of a chart is told apart: SVG strokes (colour, dash) and terminal markers are distinct for 30 series', () => {
  const many = Array.from({ length: 30 }, (_, i) => ({ name: `task ${i}`, points: [[0, i] as [number, number], [1, i + 1] as [number, number]] }));
  const svg = lossCurveSVG(many, { title: 'SFT loss' });
  // the legend's swatches: one <line … stroke="…" stroke-width="3"[ stroke-dasharray="…"]/> per series
  const swatches = [...svg.matchAll(/<line [^>]*stroke="(#[0-9a-f]+)" stroke-width="3"(?: stroke-dasharray="([^"]+)")?\/>/g)].map((m) => `${m[1]}|${m[2] ?? ''}`);
  assert.equal(swatches.length, 30);
  assert.equal(new Set(swatches).size, 30, 'no two legend entries look alike');
  const legend = terminalChart(many).split('\n').at(-1)!;
  const marks = legend.split('   ').map((e) => e.split(' ')[0]);
  assert.equal(marks.length, 30);
  assert.equal(new Set(marks).size, 30);
  assert.equal(mark(0), '█');
});
