import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { MetricsLog } from '../../src/train/metrics.js';
import { launchChromium } from './browser.js';
import { type WebServer, webServer } from './fixtures.js';

/**
 * The pages on a phone-width screen (400 px): nothing is wider than the screen, so the page
 * never scrolls sideways (web/style.css's narrow-screen rules); on a desktop-width screen the
 * chat keeps its three columns.
 */
let web: WebServer;
let browser: Browser;

before(async () => {
  web = await webServer();
  // curves to draw on the dashboard (its charts were 440 px at the least)
  const log = new MetricsLog(web.dir);
  for (let step = 1; step <= 5; step++) log.append({ stage: 'sft', step, loss: 3 - step / 10, learning_rate: 3e-4, grad_norm: 1 });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await web?.close();
});

/** What each page shows once it has rendered. */
const PAGES: [string, string][] = [
  ['chat', '.chat .messages'],
  ['dashboard', '.chart[data-title="Loss"]'],
  ['rank', '.page.rank'],
  ['compare', '.page.compare'],
];

test('web: at 400 px wide no page is wider than the screen (no sideways scrolling)', async () => {
  const page = await browser.newPage({ viewport: { width: 400, height: 800 } });
  try {
    for (const [hash, ready] of PAGES) {
      await page.goto(`${web.base}/#${hash}`);
      await page.waitForSelector(ready, { timeout: 60_000 });
      const [scroll, inner] = (await page.evaluate('[document.scrollingElement.scrollWidth, window.innerWidth]')) as [number, number];
      assert.ok(scroll <= inner, `#${hash}: the page is ${scroll} px wide on a ${inner} px screen`);
    }
    // the chat's columns are stacked: one track
    const tracks = (await page.evaluate(`(location.hash = '#chat', new Promise((r) => setTimeout(r, 0))).then(() => getComputedStyle(document.querySelector('.chat')).gridTemplateColumns.split(' ').length)`)) as number;
    assert.equal(tracks, 1);
  } finally {
    await page.close();
  }
});

test('web: at 1280 px wide the chat keeps its three columns', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  try {
    await page.goto(`${web.base}/#chat`);
    await page.waitForSelector('.chat .messages', { timeout: 60_000 });
    const tracks = (await page.evaluate(`getComputedStyle(document.querySelector('.chat')).gridTemplateColumns.split(' ').length`)) as number;
    assert.equal(tracks, 3);
  } finally {
    await page.close();
  }
});
