import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { GptforgeServer, loadRunModels, registerWeb } from '../../src/server/index.js';
import { MetricsLog } from '../../src/train/metrics.js';
import { readLock } from '../../src/util/lock.js';
import { tinyRun } from '../run/fixture.js';
import { launchChromium } from './browser.js';

/**
 * The training dashboard in a real browser: SFT of a tiny run started from the page, its loss
 * curve gaining points from metrics.jsonl over server-sent events while it trains, then
 * stopped from the page (the runner's AbortSignal: it saves a checkpoint).
 */
/**
 * How long to wait, at most, for what the stage's own process does (a node process that loads
 * the model and its data, then trains): its first records, more records, its stop. An upper
 * bound, not an outcome: a 2-core machine under load starts it many times slower than idle
 * (20 s was too little with the machine's load average at 15); the pages' own waits too (a
 * page took over 10 s to render eval.md there).
 */
const STAGE_WAIT_MS = 180_000;

let dir: string;
let server: GptforgeServer;
let base: string;
let browser: Browser;

before(async () => {
  dir = tinyRun();
  // the preset's SFT mixture: our own conversations (its arithmetic task does not fit this vocabulary)
  const conv = join(dir, 'conversations.jsonl');
  const qa = (q: string, a: string) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: q },
        { role: 'assistant', content: a },
      ],
    });
  writeFileSync(conv, [qa('Who are you?', 'I am Forge.'), qa('What is your name?', 'My name is Forge.')].join('\n') + '\n');
  const preset = JSON.parse(readFileSync(join(dir, 'preset.json'), 'utf8'));
  preset.sft.mixture.sources = [{ path: conv, weight: 1 }];
  writeFileSync(join(dir, 'preset.json'), JSON.stringify(preset));
  server = new GptforgeServer();
  await registerWeb(server, { runDir: dir, pollMs: 100 });
  server.setModels(loadRunModels(dir));
  base = await server.listen(0, '127.0.0.1');
  browser = await launchChromium();
});
/**
 * Stop the server's job, if one runs, and wait for it to end: a test that fails while its
 * 100000-step job trains would otherwise leave it running into the next tests (refused starts,
 * a run lock held), which then fail for a reason that is not theirs.
 */
async function stopAnyJob(): Promise<void> {
  const state = async (): Promise<string | undefined> => ((await (await fetch(`${base}/web/api/info`)).json()) as { job: { state: string } | null }).job?.state;
  if ((await state()) !== 'running') return;
  await fetch(`${base}/web/api/jobs/stop`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  while ((await state()) === 'running') await new Promise((r) => setTimeout(r, 100));
}

/** A page whose waits (navigation, clicks) have STAGE_WAIT_MS, not Playwright's 30 s. */
async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(STAGE_WAIT_MS);
  page.setDefaultNavigationTimeout(STAGE_WAIT_MS);
  return page;
}

after(async () => {
  await stopAnyJob().catch(() => undefined);
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('dashboard: start SFT from the page, watch the loss curve gain points live, stop it', async () => {
  const page = await newPage();
  try {
    await startWatchStop(page);
  } finally {
    await page.close();
    await stopAnyJob();
  }
});

async function startWatchStop(page: Page): Promise<void> {
  await page.goto(base + '/#dashboard');
  await page.waitForSelector('.stage[data-stage="sft"] .start-job');
  await page.fill('input[placeholder="preset"]', '100000');
  await page.check('#fresh'); // the fixture's sft checkpoint has no optimizer state to resume from
  // newcomer (fixes39): a fresh start of a trained stage asks first, naming it; declined, nothing starts
  const asked: string[] = [];
  page.once('dialog', (d) => {
    asked.push(d.message());
    void d.dismiss();
  });
  await page.click('.stage[data-stage="sft"] .start-job');
  await page.waitForFunction(() => true);
  assert.match(asked[0] ?? '', /^Fresh start discards the trained sft \(step \d+, \S+step-\d+\): .*Start sft over\?$/);
  assert.equal(((await (await fetch(`${base}/web/api/info`)).json()) as { job: unknown }).job, null, 'declined: no job');
  page.once('dialog', (d) => void d.accept());
  await page.click('.stage[data-stage="sft"] .start-job');
  const points = async (): Promise<number> => Number((await page.locator('.chart[data-title="Loss"]').getAttribute('data-points')) ?? 0);
  await page.waitForSelector('.chart[data-title="Loss"]', { timeout: STAGE_WAIT_MS });
  const first = await points();
  await page.waitForFunction((n) => Number((globalThis as any).document.querySelector('.chart[data-title="Loss"]')?.getAttribute('data-points')) >= n + 5, first, { timeout: STAGE_WAIT_MS });
  const later = await points();
  assert.ok(later >= first + 5, `the curve went from ${first} to ${later} points`);
  // the running stage's card follows the live step the curves' header shows (it stayed at the checkpoint's step)
  const steps = (await page.evaluate(`[document.querySelector('.stage[data-stage="sft"] .state').innerText, document.querySelector('.toolbar .hint').innerText]`)) as string[];
  const live = /^step (\d+)/.exec(steps[1])?.[1];
  assert.ok(live !== undefined && Number(live) >= 5, steps[1]);
  assert.equal(steps[0], `running · step ${live}`);
  // the stage trains in its own process (gptforge sft), which holds the run lock; the page does not call that lock "another process"
  const lock = readLock(join(dir, 'run.lock'));
  assert.ok(lock && lock.pid !== process.pid && /^gptforge sft --run /.test(lock.command), JSON.stringify(lock));
  const info = (await (await fetch(`${base}/web/api/info`)).json()) as { lock: unknown; job: { state: string } };
  assert.equal(info.lock, null);
  assert.equal(info.job.state, 'running');
  // a running job refuses a second one
  const again = await fetch(`${base}/web/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ stage: 'sft' }) });
  assert.equal(again.status, 409);
  // newcomer (web44): Stop says "Stopping…", disabled, until the job's state changes (the stage saves a
  // checkpoint first); the button's states are recorded in the page as they render, so the check
  // does not depend on how long the stop takes
  await page.evaluate(`(() => {
    const card = document.querySelector('.stage[data-stage="sft"]');
    const seen = (window.__buttons = []);
    const note = () => { const b = card.querySelector('button'); const s = b ? b.textContent + (b.disabled ? ':disabled' : '') : ''; if (seen[seen.length - 1] !== s) seen.push(s); };
    note();
    new MutationObserver(note).observe(card, { subtree: true, childList: true, characterData: true, attributes: true });
  })()`);
  await page.click('.stage[data-stage="sft"] .stop-job');
  await page.waitForSelector('.job[data-state="stopped"]', { timeout: STAGE_WAIT_MS });
  await page.waitForSelector('.stage[data-stage="sft"] .start-job', { timeout: STAGE_WAIT_MS });
  const buttons = (await page.evaluate('window.__buttons')) as string[];
  assert.deepEqual([buttons[0], buttons[1], buttons[buttons.length - 1]], ['Stop', 'Stopping…:disabled', 'Start'], buttons.join(' → '));
  const logged = new MetricsLog(dir).read('sft').filter((r) => typeof r.loss === 'number');
  assert.ok(logged.length >= later, `${logged.length} records in metrics.jsonl`);
  assert.ok(logged.length < 100000, 'the stage stopped before its last step');
  // the run lock taken for the job is released when it ends
  assert.ok(!existsSync(join(dir, 'run.lock')));
}

test('dashboard: a job that fails is reported with the error the stage printed, and the run is free again', async () => {
  // the fixture's preset has no dpo section: gptforge dpo exits 1 naming it
  const res = await fetch(`${base}/web/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ stage: 'dpo' }) });
  assert.equal(res.status, 200);
  let job: { state: string; error: string | null; detail: string | null } = { state: 'running', error: null, detail: null };
  for (let i = 0; i < STAGE_WAIT_MS / 100 && job.state === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    job = ((await (await fetch(`${base}/web/api/info`)).json()) as { job: typeof job }).job;
  }
  assert.equal(job.state, 'failed');
  assert.match(job.error ?? '', /gptforge dpo --run .* exited with 1: .*has no "dpo" section/);
  // the detail is the stage's own error line, without the command line around it; the page shows it
  assert.match(job.detail ?? '', /has no "dpo" section/);
  assert.doesNotMatch(job.detail ?? '', /exited with|--run|^gptforge/);
  const page = await newPage();
  await page.goto(base + '/#dashboard');
  const shown = page.locator('.job[data-state="failed"]');
  await shown.waitFor({ timeout: STAGE_WAIT_MS });
  assert.equal(await shown.textContent(), `job: dpo failed — ${job.detail}`);
  assert.equal(await shown.getAttribute('title'), job.error, 'the whole error on hover');
  await page.close();
  assert.ok(!existsSync(join(dir, 'run.lock')));
});

test('dashboard: the curves stage selector uses the cards names (base, not pretrain) and lists only stages that exist', async () => {
  const log = new MetricsLog(dir);
  log.append({ stage: 'pretrain', step: 1, loss: 5 });
  log.append({ stage: 'sft', step: 1, loss: 3 });
  log.append({ stage: 'dpo-x', step: 1, loss: 1 }); // records of a stage whose folder is gone
  const page = await newPage();
  await page.goto(base + '/#dashboard');
  await page.waitForSelector('select option[value="base"]', { state: 'attached' });
  const options = await page.locator('select option').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));
  assert.deepEqual(options, ['base', 'sft']);
  await page.selectOption('select', 'base');
  await page.waitForSelector('.chart[data-title="Loss"][data-points="1"]', { timeout: STAGE_WAIT_MS });
  await page.close();
});

test('dashboard: eval.md is rendered (its tables as tables, raw HTML kept as text) and eval-chart.svg is shown', async () => {
  writeFileSync(join(dir, 'eval.md'), '## Held-out task accuracy\n\n| task family | SFT |\n| --- | ---: |\n| kinds | **25% (2/8)** |\n\n<b id="raw">raw html</b>\n\nChart: eval-chart.svg\n');
  writeFileSync(join(dir, 'eval-chart.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#2563eb"/></svg>');
  const page = await newPage();
  try {
    await page.goto(base + '/#dashboard');
    await page.waitForSelector('.markdown table', { timeout: STAGE_WAIT_MS });
    assert.equal(await page.locator('.markdown h2').innerText(), 'Held-out task accuracy');
    assert.deepEqual(await page.locator('.markdown td').allInnerTexts(), ['kinds', '25% (2/8)']);
    assert.equal(await page.locator('.markdown td strong').innerText(), '25% (2/8)');
    assert.equal(await page.locator('#raw').count(), 0, "the file's HTML stays text");
    const img = page.locator('.eval-chart img');
    await page.waitForFunction("document.querySelector('.eval-chart img')?.naturalWidth > 0", null, { timeout: STAGE_WAIT_MS });
    assert.equal(await img.evaluate((e) => (e as unknown as { naturalWidth: number }).naturalWidth), 120);
    // newcomer (fixes39): eval.md's age is marked against the stages' checkpoints
    assert.match(await page.locator('#eval-age').innerText(), /^eval\.md written \d{4}-\d\d-\d\d \d\d:\d\d UTC, after every stage's newest checkpoint\.$/);
    const old = new Date('2020-01-02T03:04:00Z');
    utimesSync(join(dir, 'eval.md'), old, old);
    await page.reload();
    await page.waitForSelector('#eval-age.error', { timeout: STAGE_WAIT_MS });
    assert.match(await page.locator('#eval-age').innerText(), /^eval\.md \(written 2020-01-02 03:04 UTC\) is older than (.*, )?sft \(step \d+, \d{4}-\d\d-\d\d \d\d:\d\d UTC\).*: run gptforge eval to refresh\.$/);
  } finally {
    await page.close();
    rmSync(join(dir, 'eval.md'));
    rmSync(join(dir, 'eval-chart.svg'));
  }
});
