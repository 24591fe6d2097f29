import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.js';
import { webServer, type WebServer } from './fixtures.js';

/**
 * The dashboard's curve bookkeeping (web/dashboard.js), in the browser that runs it: a chart's
 * curve merged by step and updated from the records appended since its last update only (a
 * fast run appends hundreds a second), and a long curve drawn sampled.
 */
let web: WebServer;
let browser: Browser;
let page: Page;

before(async () => {
  web = await webServer();
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(web.base + '/');
});
after(async () => {
  await browser?.close();
  await web?.close();
});

/** Run `body` (a function of the dashboard module, as source text) in the page. */
const inPage = <T>(body: string): Promise<T> => page.evaluate(`import('/web/dashboard.js').then(${body})`) as Promise<T>;

test('Curve: merged by step, appended records read once, a new array starts over, out-of-order steps sorted', async () => {
  const r = await inPage<Record<string, unknown>>(`(m) => {
    const rows = [{ stage: 'sft', step: 1, loss: 4 }, { stage: 'sft', step: 2, loss: 3, learning_rate: 1e-3 }];
    const c = new m.Curve(['loss', 'val/loss']).update(rows);
    const first = { xs: [...c.xs], present: c.present(), loss: [...c.cols.get('loss')] };
    // an eval record of step 2 merges into step 2; a record without a step and one without the keys are left out
    rows.push({ stage: 'sft', step: 2, 'val/loss': 3.5 }, { stage: 'sft', loss: 9 }, { stage: 'sft', step: 3, grad_norm: 1 }, { stage: 'sft', step: 4, loss: 2 });
    c.update(rows);
    const second = { xs: [...c.xs], present: c.present(), loss: [...c.cols.get('loss')], val: [...c.cols.get('val/loss')], read: c.n };
    // the records already read are not read again: changing one in place changes nothing
    rows[0].loss = 100;
    c.update(rows);
    const again = c.cols.get('loss')[0];
    // a step older than the last one is sorted in
    rows.push({ stage: 'sft', step: 0, loss: 5 });
    c.update(rows);
    const sorted = { xs: [...c.xs], loss: [...c.cols.get('loss')] };
    // another array (a reset of the stream) starts over
    c.update([{ stage: 'sft', step: 7, 'val/loss': 1 }]);
    const reset = { xs: [...c.xs], present: c.present() };
    return { first, second, again, sorted, reset };
  }`);
  assert.deepEqual(r, {
    first: { xs: [1, 2], present: ['loss'], loss: [4, 3] },
    second: { xs: [1, 2, 4], present: ['loss', 'val/loss'], loss: [4, 3, 2], val: [null, 3.5, null], read: 6 },
    again: 4,
    sorted: { xs: [0, 1, 2, 4], loss: [5, 4, 3, 2] },
    reset: { xs: [7], present: ['val/loss'] },
  });
});

test('drawnIndices: a curve longer than MAX_DRAWN is drawn every k-th step, its last always', async () => {
  const r = await inPage<Record<string, unknown>>(`(m) => {
    const long = m.drawnIndices(10, 4);
    const exact = m.drawnIndices(9, 3);
    return { short: m.drawnIndices(m.MAX_DRAWN), long, exact, max: m.MAX_DRAWN, big: m.drawnIndices(100000).idx.length };
  }`);
  assert.deepEqual(r.short, { stride: 1, idx: null });
  assert.deepEqual(r.long, { stride: 3, idx: [0, 3, 6, 9] });
  assert.deepEqual(r.exact, { stride: 3, idx: [0, 3, 6, 8] });
  assert.ok((r.big as number) <= (r.max as number) + 1, `${r.big} points drawn of 100000`);
});

test('percentTick: MFU, logged as a fraction, reads as a percentage on its axis', async () => {
  assert.deepEqual(await inPage<string[]>(`(m) => [0.42, 0.0123, 1, 0, null].map(m.percentTick)`), ['42%', '1.23%', '100%', '0%', '']);
});
