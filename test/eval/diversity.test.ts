import { test } from 'node:test';
import assert from 'node:assert/strict';
import { words, distinctN, selfBleu, meanEntropy, entropyOf, diversityReport, listItems, listItemStats } from '../../src/eval/diversity.js';
import { barChartSVG } from '../../src/eval/chart.js';

const close = (a: number, b: number, tol = 1e-6, msg?: string): void => assert.ok(Math.abs(a - b) <= tol, msg ?? `${a} ≉ ${b}`);

test('words: lower-cased letter/digit runs with inner apostrophes', () => {
  assert.deepEqual(words("Don't PANIC: it's 42 o’clock, 'really'!"), ["don't", 'panic', "it's", '42', "o'clock", 'really']);
  assert.deepEqual(words('  ...  '), []);
  assert.deepEqual(words('Éclair naïve'), ['éclair', 'naïve']);
});

test('distinct-n on a tiny sample set', () => {
  const s = ['The cat sat.', 'the cat ran'];
  // unigrams: the cat sat the cat ran → 4 unique / 6
  close(distinctN(s, 1), 4 / 6);
  // bigrams: "the cat" "cat sat" "the cat" "cat ran" → 3 unique / 4 (none across the sample boundary)
  close(distinctN(s, 2), 3 / 4);
  // trigrams: "the cat sat" "the cat ran" → 2 / 2
  close(distinctN(s, 3), 1);
  assert.equal(distinctN(['a b'], 3), 0, 'no n-grams at all → 0');
  assert.equal(distinctN([], 1), 0);
  assert.throws(() => distinctN(s, 0));
});

test('self-BLEU: identical → 1, unrelated → low, fewer than 2 → NaN', () => {
  const same = Array(5).fill('the quick brown fox jumps over the lazy dog') as string[];
  close(selfBleu(same), 1, 1e-12);
  const unrelated = ['the quick brown fox jumps over a lazy dog', 'stock markets fell sharply on monday morning', 'please remember to water the garden plants', 'my favourite number is seven hundred and twelve'];
  const u = selfBleu(unrelated);
  assert.ok(u >= 0 && u < 0.2, `unrelated self-BLEU ${u}`);
  assert.ok(Number.isNaN(selfBleu(['only one'])));
  assert.ok(Number.isNaN(selfBleu([])));
  // more repetition → higher self-BLEU
  assert.ok(selfBleu([...unrelated, unrelated[0], unrelated[0]]) > u);
});

test('self-BLEU matches a hand computation on 3 samples', () => {
  /*
   * A = "the cat sat on the mat" (6 words), B = "the cat sat on a mat" (6), C = "a dog ran" (3).
   * BLEU-4, uniform weights ¼, clipped counts, smoothing method 1 (a zero count becomes ε = 0.1
   * over the same denominator, which is at least 1), brevity penalty vs the closest ref length.
   *
   * A vs {B, C}: 1-grams the×2 (clipped to 1, B has one), cat sat on mat → 5/6
   *              2-grams the·cat cat·sat sat·on ✓, on·the the·mat ✗ → 3/5
   *              3-grams the·cat·sat cat·sat·on ✓ of 4 → 2/4;  4-grams the·cat·sat·on ✓ of 3 → 1/3
   *              c = 6, closest r = 6 → BP = 1;  BLEU = (5/6·3/5·1/2·1/3)^¼ = (1/12)^¼ ≈ 0.537284
   * B vs {A, C}: 1-grams the cat sat on mat (A), a (C) → 6/6;  2-grams 3/5 (on·a, a·mat ✗)
   *              3-grams 2/4;  4-grams 1/3;  BP = 1;  BLEU = (1·3/5·1/2·1/3)^¼ = (1/10)^¼ ≈ 0.562341
   * C vs {A, B}: 1-grams a ✓ (B), dog ran ✗ → 1/3;  2-grams 0/2 → 0.1/2;  3-grams 0/1 → 0.1/1
   *              4-grams: none, 0/max(1,0) → 0.1/1;  c = 3, r = 6 → BP = e^(1−6/3) = e^−1
   *              BLEU = e^−1 · (1/3·0.05·0.1·0.1)^¼ = e^−1 · (1/6000)^¼ ≈ 0.367879 · 0.113622 ≈ 0.041799
   * self-BLEU = (0.537284 + 0.562341 + 0.041799) / 3 ≈ 0.380475
   */
  const a = Math.pow(1 / 12, 0.25);
  const b = Math.pow(1 / 10, 0.25);
  const c = Math.exp(-1) * Math.pow(1 / 6000, 0.25);
  const expected = (a + b + c) / 3;
  close(expected, 0.380475, 1e-6);
  close(selfBleu(['The cat sat on the mat.', 'the cat sat on a mat', 'A dog ran!']), expected, 1e-12);
  // BLEU-2 of the same: A (5/6·3/5)^½, B (1·3/5)^½, C e^−1·(1/3·0.05)^½
  const e2 = (Math.sqrt(0.5) + Math.sqrt(0.6) + Math.exp(-1) * Math.sqrt(1 / 60)) / 3;
  close(selfBleu(['the cat sat on the mat', 'the cat sat on a mat', 'a dog ran'], 2), e2, 1e-12);
});

test('entropy: uniform = ln V, one-hot ≈ 0, temperature, stability', () => {
  close(entropyOf(new Float32Array(50)), Math.log(50), 1e-12);
  close(entropyOf([3, 3, 3, 3], 0.7), Math.log(4), 1e-12);
  const peaked = new Float32Array(1000);
  peaked[17] = 100;
  const hp = entropyOf(peaked); // ≈ 999·e^−100·101 ≈ 4e-39
  assert.ok(hp >= 0 && hp < 1e-30, `${hp}`);
  // softmax([0, ln 3]) = [¼, ¾]: H = −(¼ ln ¼ + ¾ ln ¾)
  close(entropyOf([0, Math.log(3)]), -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)), 1e-12);
  // T = 2 halves the logits: p ∝ [1, √3]
  const p = 1 / (1 + Math.sqrt(3));
  close(entropyOf([0, Math.log(3)], 2), -(p * Math.log(p) + (1 - p) * Math.log(1 - p)), 1e-12);
  // temperature: higher T → flatter → more entropy, tending to ln V; T ≤ 0 is greedy → 0
  const l = [2, 1, 0, -1];
  assert.ok(entropyOf(l, 0.5) < entropyOf(l, 1) && entropyOf(l, 1) < entropyOf(l, 2));
  close(entropyOf(l, 1e6), Math.log(4), 1e-5);
  assert.equal(entropyOf(l, 0), 0);
  // no overflow for huge logits; masked (−∞) tokens carry no mass
  close(entropyOf([1000, 1000, -Infinity]), Math.log(2), 1e-12);
  close(entropyOf([1e308, 1e308]), Math.log(2), 1e-12);
  assert.ok(Number.isNaN(entropyOf([])));
  assert.ok(Number.isNaN(entropyOf([1, NaN])));
  // meanEntropy averages, skipping non-finite entries
  close(meanEntropy([1, 2, NaN, 3, Infinity]), 2, 1e-12);
  assert.ok(Number.isNaN(meanEntropy([])));
  close(meanEntropy(Array(100000).fill(0.1) as number[]), 0.1, 1e-15);
});

test('diversityReport', () => {
  const r = diversityReport(['Hello there.', 'hello, there', 'general kenobi'], [0.5, 1.5]);
  assert.equal(r.samples, 3);
  assert.equal(r.uniqueSamples, 2, 'case and punctuation ignored');
  close(r.distinct1, 4 / 6);
  close(r.distinct2, 2 / 3);
  close(r.meanEntropy, 1);
  assert.ok(r.selfBleu > 0 && r.selfBleu < 1);
});

test('listItems splits on commas, newlines and "and"', () => {
  assert.deepEqual(listItems('Cat, dog,  Elephant and zebra.\nGiraffe, dog, and a sea lion'), ['cat', 'dog', 'elephant', 'zebra', 'giraffe', 'a sea lion']);
  assert.deepEqual(listItems('1. Lion\n2) Tiger\n- Bear\n\n* Panda;'), ['lion', 'tiger', 'bear', 'panda']);
  assert.deepEqual(listItems('Sandy anderson'), ['sandy anderson'], '"and" only as a whole word');
  assert.deepEqual(listItems(' , \n and '), []);
  const st = listItemStats(['cat, dog, cat', 'dog and owl', '']);
  assert.deepEqual(st.perSample, [2, 2, 0]);
  assert.equal(st.distinct, 3);
  assert.deepEqual(st.items, ['cat', 'dog', 'owl']);
});

/** Checks that every element opened is closed in order (self-closing allowed); returns the element count. */
function balanced(svg: string): number {
  const stack: string[] = [];
  let n = 0;
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)\b[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    if (close) assert.equal(stack.pop(), name, `unbalanced </${name}>`);
    else if (!self) stack.push(name);
    n++;
  }
  assert.deepEqual(stack, []);
  return n;
}

test('bar chart SVG: balanced, labelled, escaped, no NaN', () => {
  const svg = barChartSVG(
    [
      {
        label: 'task accuracy',
        values: [
          { series: 'base', value: 0.12 },
          { series: 'SFT', value: 0.55 },
          { series: 'RL <PPO & co>', value: 0.71 },
        ],
      },
      {
        label: 'tools & calc',
        values: [
          { series: 'SFT', value: NaN },
          { series: 'base', value: 0.031 },
        ],
      },
      { label: 'distinct-2', values: [{ series: 'RL <PPO & co>', value: 0.2 }] },
    ],
    { title: 'Base vs SFT vs RL <eval>', yLabel: 'score', percent: true },
  );
  assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
  assert.ok(balanced(svg) > 10);
  for (const s of ['base', 'SFT', 'RL &lt;PPO &amp; co&gt;', 'task accuracy', 'tools &amp; calc', 'distinct-2', 'Base vs SFT vs RL &lt;eval&gt;', 'score']) {
    assert.ok(svg.includes(`>${s}<`), `missing ${s}`);
  }
  assert.ok(!/<[^a-zA-Z/?!]|&(?!amp;|lt;|gt;|quot;)/.test(svg), 'raw < or & in text');
  assert.ok(!svg.includes('NaN') && !svg.includes('Infinity') && !svg.includes('undefined'));
  assert.ok(svg.includes('>71%<') && svg.includes('>3.1%<') && svg.includes('n/a'));
  // the same series has the same colour in every group
  const fills = [...svg.matchAll(/<rect [^>]*fill="(#[0-9a-f]{6})"><title>([^<]*?) —/g)].map((m) => [m[2], m[1]]);
  const bySeries = new Map<string, Set<string>>();
  for (const [s, f] of fills) bySeries.set(s, (bySeries.get(s) ?? new Set()).add(f));
  assert.equal(bySeries.size, 3);
  for (const set of bySeries.values()) assert.equal(set.size, 1);
  assert.equal(new Set([...bySeries.values()].map((s) => [...s][0])).size, 3);

  // degenerate inputs still give a finite, well-formed chart
  const degenerate = [
    [],
    [{ label: 'x', values: [{ series: 'a', value: NaN }] }],
    [
      {
        label: 'neg',
        values: [
          { series: 'a', value: -2.5 },
          { series: 'b', value: 40 },
        ],
      },
    ],
  ];
  for (const [i, g] of degenerate.entries()) {
    const s = barChartSVG(g, { title: 't', yMax: i === 2 ? 10 : undefined });
    balanced(s);
    assert.ok(!s.includes('NaN') && !s.includes('Infinity'));
  }
  const fixed = barChartSVG(
    [
      {
        label: 'loss',
        values: [
          { series: 'a', value: 3.7 },
          { series: 'b', value: 12 },
        ],
      },
    ],
    { title: 'clip', yMax: 5 },
  );
  assert.ok(fixed.includes('>12<') && fixed.includes('>5<'), 'clipped bar keeps its true label; axis tops at yMax');
});

test('bar chart SVG: value labels wider than their bars (100% side by side) are set along the bar, so no two overlap', () => {
  const groups = Array.from({ length: 8 }, (_, g) => ({ label: `task ${g}`, values: ['base', 'SFT', 'RL', 'DPO'].map((series, i) => ({ series, value: i === 0 ? 0.5 : 1 })) }));
  const svg = barChartSVG(groups, { title: 'accuracy', percent: true, yMax: 1 });
  const labels = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)"( transform="rotate\(-90[^"]*")?[^>]*font-size="([\d.]+)"[^>]*>([\d.]+%)<\/text>/g)].map((m) => ({ x: +m[1], y: +m[2], rotated: m[3] !== undefined, size: +m[4], text: m[5] }));
  assert.equal(labels.length, 32);
  assert.ok(
    labels.filter((l) => l.text === '100%').every((l) => l.rotated),
    'each 100% label is vertical',
  );
  // horizontal labels on one line must not touch: centre distance ≥ their half widths
  const flat = labels.filter((l) => !l.rotated).sort((a, b) => a.x - b.x);
  for (let i = 1; i < flat.length; i++) if (Math.abs(flat[i].y - flat[i - 1].y) < flat[i].size) assert.ok(flat[i].x - flat[i - 1].x >= 0.3 * flat[i].size * (flat[i].text.length + flat[i - 1].text.length), `${flat[i - 1].text} and ${flat[i].text} overlap`);
  // a wide chart keeps the labels horizontal
  assert.ok(!barChartSVG(groups.slice(0, 2), { title: 'accuracy', percent: true, yMax: 1 }).includes('rotate('));
});

/** A chart's value labels and bars as boxes, a label's width estimated as 0.7 em per character
 * (digits are 0.55–0.64 em in common sans fonts, "%" 0.85–0.95). */
function chartBoxes(svg: string): { labels: { text: string; cx: number; x0: number; x1: number; y0: number; y1: number }[]; bars: { x0: number; x1: number; y0: number; y1: number }[] } {
  const labels = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)"( transform="rotate\(-90[^"]*")?(?: text-anchor="(\w+)")?[^>]*font-size="([\d.]+)"[^>]*>(-?[\d.]+%?|n\/a)<\/text>/g)].map((m) => {
    const [x, y, size, text] = [+m[1], +m[2], +m[5], m[6]];
    const w = 0.7 * size * text.length;
    if (m[3] === undefined) return { text, cx: x, x0: x - w / 2, x1: x + w / 2, y0: y - 0.8 * size, y1: y + 0.2 * size };
    return { text, cx: x, x0: x - size / 2, x1: x + size / 2, y0: m[4] === 'start' ? y - w : y, y1: m[4] === 'start' ? y : y + w };
  });
  const bars = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="#[0-9a-f]{6}"><title>/g)].map((m) => ({ x0: +m[1], x1: +m[1] + +m[3], y0: +m[2], y1: +m[2] + +m[4] }));
  return { labels, bars };
}

test('bar chart SVG: on a dense chart (narrow bars, 99% beside 67%, self-BLEU near 2%) no value label overlaps another or a neighbouring bar', () => {
  const models = ['base', 'SFT', 'RLHF (PPO)', 'best-of-4', 'DPO', 'GRPO', 'oracle best-of-4', 'RLHF (REINFORCE)'];
  const pick = (vals: number[]) => models.map((series, i) => ({ series, value: vals[i % vals.length] }));
  const charts = [
    [
      { label: 'win rate vs SFT', values: pick([0.34, 0.59, 0.73, 0.79, 0.71, 0.65, 0.99, 0.67]) },
      { label: 'task accuracy', values: pick([0, 0.1, 0.11, 0.2, 0.063, 0.99, 0.67, 0.99]) },
      { label: 'distinct-2', values: pick([0.99, 0.92, 0.92, 0.67, 0.94, 0.99, 0.67, 0.9]) },
      { label: 'self-BLEU', values: pick([0.017, 0.074, 0.022, 0.074, 0.081, 0.15, 0.022, 0.031]) },
    ],
    Array.from({ length: 6 }, (_, g) => ({ label: `e_w = ${g / 10}`, values: pick([0.99, 0.67, 0.5, 0.022, 1, 0.675, 0.333, 0.98].map((v, i) => ((i + g) % 3 === 0 ? v : 1 - v))) })),
    // five series: bars about 16 px wide, where a three-character label at 8 px is about as wide as its bar
    Array.from({ length: 6 }, (_, g) => ({ label: `family ${g}`, values: ['base', 'SFT', 'PPO', 'DPO', 'GRPO'].map((series, i) => ({ series, value: [0.99, 0.98, 0.97, 0.67, 0.66][(i + g) % 5] })) })),
  ];
  for (const [ci, groups] of charts.entries()) {
    const svg = barChartSVG(groups, { title: 'dense', percent: true, yMax: 1 });
    balanced(svg);
    const { labels, bars } = chartBoxes(svg);
    assert.equal(
      bars.length,
      groups.reduce((n, g) => n + g.values.length, 0),
    );
    for (let i = 0; i < labels.length; i++) {
      const a = labels[i];
      for (const b of labels.slice(i + 1)) assert.ok(!(a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1), `chart ${ci}: labels ${a.text} and ${b.text} overlap`);
      // another bar: one whose span does not hold the label's centre
      for (const r of bars) if (!(r.x0 <= a.cx && a.cx <= r.x1)) assert.ok(!(a.x0 < r.x1 && r.x0 < a.x1 && a.y0 < r.y1 && r.y0 < a.y1), `chart ${ci}: label ${a.text} runs into a neighbouring bar`);
    }
    // thinning is the last resort: most bars keep their label (every bar keeps its <title>)
    assert.ok(labels.length >= 0.75 * bars.length, `chart ${ci}: only ${labels.length} of ${bars.length} labels`);
  }
});
