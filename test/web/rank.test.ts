import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page, Request } from 'playwright-core';
import { readPreferencesJSONL, type Completion } from '../../src/data/preferences.js';
import { formatCompletion } from '../../src/run/label.js';
import { GptforgeServer, loadRunModels, registerWeb } from '../../src/server/index.js';
import { scriptedModel, tinyRun } from '../server/fixture.js';
import { launchChromium } from './browser.js';

/**
 * Rank and Compare in a real browser on a tiny run (randomly initialised base, sft and rm):
 * a ranking made with the labeler's keys lands in <run>/rankings.jsonl in the format
 * `gptforge rm` reads; the comparison shows each model's reply with a reward score.
 */
let dir: string;
let server: GptforgeServer;
let base: string;
let browser: Browser;
let page: Page;

before(async () => {
  dir = tinyRun().dir;
  server = new GptforgeServer();
  await registerWeb(server, { runDir: dir });
  server.setModels(loadRunModels(dir));
  base = await server.listen(0, '127.0.0.1');
  browser = await launchChromium();
  page = await browser.newPage();
});
after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('rank: K replies ranked with keys (a tie included) become a line of rankings.jsonl that the reward stage reads', async () => {
  await page.goto(base + '/#rank');
  await page.waitForSelector('#rank-progress');
  const before = await page.locator('#rank-progress').innerText();
  assert.match(before, /^0 of \d+ prompts/);
  // what happens next is said: nothing ranked yet, rm trains on simulated comparisons
  assert.match(await page.locator('#rank-next').innerText(), /^No rankings saved yet: until there are, rm trains on simulated comparisons/);
  const prompt = await page.inputValue('#rank-prompt');
  assert.ok(prompt.length > 0, 'the next unranked prompt is offered');
  await page.selectOption('#rank-k', '3');
  await page.fill('#rank-max-tokens', '16');
  await page.click('#rank-sample');
  await page.waitForSelector('.cand[data-cand="2"]', { timeout: 20_000 });
  // "3 = 1": the third reply best, the first tied with it, the second (implied) last
  await page.keyboard.press('3');
  await page.keyboard.press('=');
  await page.keyboard.press('1');
  const shown = await page.locator('.cand .text').allInnerTexts();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#rank-msg');
  assert.match(await page.locator('#rank-msg').innerText(), /saved: 3 = 1 > 2/);
  const file = join(dir, 'rankings.jsonl');
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 1);
  assert.equal(lines[0].prompt, prompt);
  assert.deepEqual(lines[0].tiers, [0, 0, 1]);
  assert.equal(lines[0].completions.length, 3);
  // the completions are stored best first: the page showed them in that order after the picks
  assert.deepEqual(
    lines[0].completions.map((c: Completion) => formatCompletion(c)),
    shown.map((t) => t.trim()),
  );
  const read = readPreferencesJSONL(file);
  assert.equal(read.rankings.length, 1);
  // resumed: the ranked prompt is done, the next one is offered
  await page.waitForFunction((p) => (globalThis as any).document.querySelector('#rank-prompt')?.value !== p, prompt);
  assert.match(await page.locator('#rank-progress').innerText(), /^1 of \d+ prompts/);
  // newcomer (fixes39): the rankings reach the reward model, and the page says so
  assert.equal(await page.locator('#rank-next').innerText(), 'Start rm on the dashboard trains on these 1 ranking (as gptforge rm does; --no-run-rankings for the simulated comparisons instead).');
});

test('rank: replies ordered by dragging, a tie ticked, are saved in that order', async () => {
  await page.goto(base + '/#rank');
  await page.waitForSelector('#rank-progress');
  await page.fill('#rank-prompt', 'Say hello.');
  await page.selectOption('#rank-k', '3');
  await page.fill('#rank-max-tokens', '12');
  await page.click('#rank-sample');
  await page.waitForSelector('.cand[data-cand="2"]', { timeout: 20_000 });
  const texts = await page.locator('.cand .text').allInnerTexts();
  // drag the third reply to the top: order 3, 1, 2; then 1 ties with 3
  await page.locator('.cand[data-cand="2"]').dragTo(page.locator('.cand[data-cand="0"]'));
  assert.deepEqual(await page.locator('.cand').evaluateAll((els) => els.map((e) => (e as any).dataset.cand)), ['2', '0', '1']);
  await page.locator('.tie input').first().check();
  await page.click('#rank-save');
  await page.waitForSelector('#rank-msg');
  assert.match(await page.locator('#rank-msg').innerText(), /saved: 3 = 1 > 2/);
  const lines = readFileSync(join(dir, 'rankings.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const line = lines.find((l) => l.prompt === 'Say hello.');
  assert.ok(line, 'the ranking is in the file');
  assert.deepEqual(line.tiers, [0, 0, 1]);
  assert.deepEqual(
    line.completions.map((c: Completion) => formatCompletion(c)),
    [texts[2], texts[0], texts[1]].map((t) => t.trim()),
  );
});

test("rank: the page writes under the rankings file's lock only while writing, and a labeler holding it refuses the page", async () => {
  const file = join(dir, 'rankings.jsonl');
  assert.ok(!existsSync(`${file}.lock`), 'no lock is left behind after a write');
  const sample = async () => {
    const r = await fetch(`${base}/web/api/rank/sample`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi', k: 2, max_tokens: 8 }) });
    assert.equal(r.status, 200);
    return ((await r.json()) as { id: string }).id;
  };
  const id = await sample();
  // max_tokens is bounded by the model's context (64 here), as in chat and the techniques
  const tooMany = await fetch(`${base}/web/api/rank/sample`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi', k: 2, max_tokens: 4096 }) });
  assert.equal(tooMany.status, 400);
  assert.match(((await tooMany.json()) as { error: { message: string } }).error.message, /'max_tokens' must be between 1 and 64, got 4096/);
  // another live process (our parent) labels the file
  writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.ppid, command: 'gptforge label --run x', host: hostname(), started: new Date().toISOString() }));
  const refused = await fetch(`${base}/web/api/rank/skip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
  assert.equal(refused.status, 409);
  assert.match(((await refused.json()) as { error: { message: string } }).error.message, new RegExp(`PID ${process.ppid} \\(gptforge label`));
  rmSync(`${file}.lock`);
  const ok = await fetch(`${base}/web/api/rank/skip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
  assert.equal(ok.status, 200);
  assert.match(readFileSync(`${file}.skipped.jsonl`, 'utf8'), /"prompt":"hi"/);
});

test('compare: base (fake conversation), SFT side by side, each with a reward-model score', async () => {
  await page.goto(base + '/#compare');
  await page.waitForSelector('.col[data-model="sft"]');
  await page.fill('#compare-prompt', 'Hello there');
  await page.fill('#compare-max-tokens', '8'); // the fixture's reward model reads 64 tokens
  await page.click('#compare-run');
  await page.waitForSelector('.col[data-model="base"] .score', { timeout: 20_000 });
  await page.waitForSelector('.col[data-model="sft"] .score');
  const scores = await page.locator('.score').allInnerTexts();
  assert.equal(scores.length, 2);
  for (const s of scores) assert.ok(Number.isFinite(Number(s.replace('★ ', ''))), s);
});

test('compare: scores that differ past 3 decimals show enough digits to tell apart, a tie is said; unticked stages are left out', async () => {
  // the reward model's scores, scripted by the page's route: the order of the requests gives them
  let next: number[] = [];
  await page.route('**/v1/rewards', (route) => route.fulfill({ contentType: 'application/json', body: JSON.stringify({ object: 'list', data: [{ object: 'reward', index: 0, score: next.shift() }] }) }));
  try {
    await page.goto(base + '/#compare');
    await page.waitForSelector('.col[data-model="sft"]');
    await page.fill('#compare-prompt', 'Hello there');
    await page.fill('#compare-max-tokens', '8');
    const shown = async (): Promise<string[]> => {
      await page.click('#compare-run');
      await page.waitForFunction("document.querySelectorAll('.score').length === document.querySelectorAll('.col').length", null, { timeout: 20_000 });
      return page.locator('.score').allInnerTexts();
    };
    next = [0.39576, 0.39564];
    assert.deepEqual((await shown()).sort(), ['0.3956', '★ 0.3958']);
    next = [0.5, 0.5];
    assert.deepEqual(await shown(), ['★ 0.500 (tie)', '★ 0.500 (tie)']);
    // base unticked: only sft is asked and shown
    await page.uncheck('.stages-picker input[data-stage="base"]');
    const asked: string[] = [];
    const log = (r: Request): void => {
      if (r.method() === 'POST' && /\/v1\/(chat\/)?completions$/.test(r.url())) asked.push((r.postDataJSON() as { model: string }).model);
    };
    page.on('request', log);
    next = [0.25];
    assert.deepEqual(await shown(), ['★ 0.250']);
    page.off('request', log);
    assert.deepEqual(asked, ['sft']);
    assert.equal(await page.locator('.col[data-model="base"]').count(), 0);
    await page.check('.stages-picker input[data-stage="base"]');
  } finally {
    await page.unroute('**/v1/rewards');
  }
});

/** A second web server on the run's directory serving `models` (a changed model list), closed after `body`. */
async function withServer(models: ReturnType<typeof loadRunModels>, body: (url: string) => Promise<void>): Promise<void> {
  const other = new GptforgeServer();
  await registerWeb(other, { runDir: dir });
  other.setModels(models);
  const url = await other.listen(0, '127.0.0.1');
  try {
    await body(url);
  } finally {
    await other.close();
  }
}

test('compare: a reward model served under another name (kind "reward", not id rm) still scores, by its id', async () => {
  const models = loadRunModels(dir);
  const rm = models.get('rm')!;
  models.delete('rm');
  models.set('verifier', { ...rm, id: 'verifier' });
  await withServer(models, async (url) => {
    await page.goto(url + '/#compare');
    await page.waitForSelector('.col[data-model="sft"]');
    await page.fill('#compare-prompt', 'Hello there');
    await page.fill('#compare-max-tokens', '8');
    await page.click('#compare-run');
    await page.waitForSelector('.col[data-model="sft"] .score', { timeout: 20_000 });
    const s = await page.locator('.col[data-model="sft"] .score').innerText();
    assert.ok(Number.isFinite(Number(s.replace('★ ', ''))), s);
  });
});

test("compare: a chat model's server calculator calls (a whole reply's builtin_tool_calls) show in its reply, before the text", async () => {
  const models = loadRunModels(dir);
  const sft = models.get('sft')!;
  models.set('scripted', { ...scriptedModel(sft.tok), id: 'scripted' });
  await withServer(models, async (url) => {
    await page.goto(url + '/#compare');
    await page.waitForSelector('.col[data-model="scripted"]');
    await page.fill('#compare-prompt', 'calc please');
    await page.fill('#compare-max-tokens', '24');
    const req = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions') && (r.postDataJSON() as { model: string }).model === 'scripted');
    await page.click('#compare-run');
    assert.equal((await req).postDataJSON().stream, undefined);
    await page.waitForSelector('.col[data-model="scripted"] .reply .builtin-call', { timeout: 20_000 });
    assert.equal(await page.locator('.col[data-model="scripted"] .reply').innerText(), '[calculator: 12*3 → 36] It says: 36.');
    // a reply without calls shows none
    assert.equal(await page.locator('.col[data-model="base"] .builtin-call').count(), 0);
  });
});

test('a server started with --api-key: the page first points at the "API key" link, not the raw 401 text', async () => {
  const locked = new GptforgeServer({ apiKeys: ['sesame'] });
  await registerWeb(locked, { runDir: dir });
  locked.setModels(loadRunModels(dir));
  const url = await locked.listen(0, '127.0.0.1');
  try {
    await page.goto(url + '/#compare');
    await page.waitForSelector('.error', { timeout: 20_000 });
    const text = await page.locator('.error').first().innerText();
    assert.match(text, /^This server needs an API key: click "API key" at the top of the page/);
  } finally {
    await locked.close();
  }
});
