import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundLength, type BoundedLanguage } from '../../src/infer/constrain/lengthbound.js';
import { regexToExpr } from '../../src/infer/constrain/regex.js';

/** Whether the bounded automaton accepts `s` (code point by code point). */
function runs(lang: BoundedLanguage, s: string): boolean {
  if (lang.empty) return false;
  let at = lang.start;
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    const ed = lang.states[at].edges.find((e) => e.ranges.some(([lo, hi]) => lo <= cp && cp <= hi));
    if (ed === undefined) return false;
    at = ed.to;
  }
  return lang.states[at].accept;
}

/** Every string over `alphabet` of length 0 … n. */
function* strings(alphabet: string, n: number): Generator<string> {
  let level = [''];
  yield '';
  for (let len = 1; len <= n; len++) {
    const next: string[] = [];
    for (const p of level) for (const c of alphabet) next.push(p + c);
    yield* next;
    level = next;
  }
}

test('boundLength: exactly the strings of the regex whose length lies in [min, max] (all strings over the alphabet up to length 7)', () => {
  const patterns = ['a(b|cd)*e?', '(ab|a)*c{1,3}', '[a-c]{2,4}(d|e)*', 'a*', '(a|bc)+d?(e{2})?', '[^a]b*'];
  const windows: [number, number][] = [
    [0, Infinity],
    [0, 0],
    [1, 3],
    [3, 3],
    [2, 5],
    [4, Infinity],
    [6, 6],
    [8, Infinity],
  ];
  for (const p of patterns) {
    const re = new RegExp(`^(?:${p})$`, 'u');
    for (const [min, max] of windows) {
      const lang = boundLength(regexToExpr(p), min, max);
      let accepted = 0;
      for (const s of strings('abcde', 7)) {
        const want = re.test(s) && [...s].length >= min && [...s].length <= max;
        assert.equal(runs(lang, s), want, `${p} {${min},${max}}: ${JSON.stringify(s)}`);
        if (want) accepted++;
      }
      // a window no string of length ≤ 7 fits may still be satisfiable by longer ones; empty means none at all
      if (accepted > 0) assert.ok(!lang.empty, `${p} {${min},${max}}: empty`);
      // every state can still reach acceptance (so a prefix the matcher allows can always finish)
      if (!lang.empty) {
        const live = lang.states.map((s) => s.accept);
        for (let changed = true; changed; ) {
          changed = false;
          lang.states.forEach((s, i) => {
            if (!live[i] && s.edges.some((e) => live[e.to])) live[i] = changed = true;
          });
        }
        assert.ok(live.every(Boolean), `${p} {${min},${max}}: a dead state kept`);
      }
    }
  }
});

test('boundLength: an unsatisfiable window is empty; a multi-byte class counts one per code point', () => {
  assert.equal(boundLength(regexToExpr('abc'), 4, 10).empty, true);
  assert.equal(boundLength(regexToExpr('a{5}'), 0, 4).empty, true);
  const lang = boundLength(regexToExpr('[é中😀]+'), 2, 2);
  assert.ok(runs(lang, '中😀'));
  assert.ok(!runs(lang, '😀'));
  assert.ok(!runs(lang, 'ééé'));
});

test('boundLength: a window every string of the format fits adds no states (the count is dropped where it cannot matter)', () => {
  const free = boundLength(regexToExpr('(ab|c){1,3}x?'), 0, Infinity).states.length;
  assert.equal(boundLength(regexToExpr('(ab|c){1,3}x?'), 1, 7).states.length, free);
  assert.ok(boundLength(regexToExpr('(ab|c){1,3}x?'), 1, 6).states.length > free, 'a binding maxLength must count');
});
