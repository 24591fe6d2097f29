import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport, loadCases, locateJsonSchemaBench, runCases } from './jsonschemabench.js';
import { testTokenizer } from './helpers.js';

// JSONSchemaBench (MaskBench instances) on a fixed sample — every 150th case of each
// collection — when the data is present; the full table: `npm run bench:constrain -- --coverage`.
const loc = locateJsonSchemaBench();
if (!('dir' in loc)) console.log(`# JSONSchemaBench test not run: ${loc.missing}`);

test('JSONSchemaBench sample: invalid instances all refused, valid ones accepted, coverage reported', { skip: 'dir' in loc ? false : loc.missing }, () => {
  if (!('dir' in loc)) return;
  const cases = loadCases(loc.dir, (_, i) => i % 150 === 0);
  const res = runCases(cases, testTokenizer());
  console.log(formatReport(res.reports));
  const sum = (f: (r: (typeof res.reports)[number]) => number): number => res.reports.reduce((a, r) => a + f(r), 0);
  const compiled = sum((r) => r.compiled);
  assert.ok(compiled >= 0.6 * cases.length, `coverage ${compiled}/${cases.length}`);
  // soundness: a schema we compile never lets an invalid instance through
  assert.equal(
    sum((r) => r.invalidRejected),
    sum((r) => r.invalidTotal),
    res.reports.flatMap((r) => r.disagreements).join('\n'),
  );
  // valid instances: refused only through the documented tightenings (property order, canonical escapes)
  assert.ok(sum((r) => r.validAccepted) >= 0.95 * sum((r) => r.validTotal), res.reports.flatMap((r) => r.disagreements).join('\n'));
});
