import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { RagStore } from '../../src/rag/store.js';
import { launchChromium } from './browser.js';
import { scriptedModel } from '../server/fixture.js';
import { citerModel, reviewerModel, VOTER_ANSWERS, voterModel, webServer, type WebServer } from './fixtures.js';

/**
 * Chat's techniques and RAG in a real browser: self-consistency's samples and vote tally,
 * reflection's rounds (POST /v1/gptforge/assist), and RAG on — the reply's "[1]" a link that
 * opens the stored passage. Scripted models (fixtures.ts) on a tiny run with a three-file
 * knowledge base.
 */
let s: WebServer;
let browser: Browser;
let page: Page;

before(async () => {
  s = await webServer({ withRag: true, models: (tok) => [voterModel(tok), reviewerModel(tok), citerModel(tok), { ...scriptedModel(tok), id: 'calc' }] });
  browser = await launchChromium();
  page = await browser.newPage();
});
after(async () => {
  await browser?.close();
  await s?.close();
});

const LAST = "[...document.querySelectorAll('.msg.assistant')].pop()";

async function newChat(model: string): Promise<void> {
  await page.goto(s.base + '/#chat');
  await page.waitForSelector(`#model option[value="${model}"]`, { state: 'attached' });
  await page.click('text=+ New chat');
  await page.selectOption('#model', model);
}

async function send(text: string): Promise<void> {
  await page.fill('#prompt', text);
  await page.click('#send');
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') || document.querySelector('.error')`, null, { timeout: 30_000 });
  const errors = await page.locator('.error').allInnerTexts();
  assert.deepEqual(errors, []);
}

test('chat: self-consistency shows k samples and a vote tally that sums to k, the winner marked', async () => {
  await newChat('voter');
  await page.selectOption('#technique', 'self-consistency');
  await page.fill('#k', '6');
  await page.fill('#seed', '3');
  await send('What is 2 plus 3?');
  const msg = page.locator('.msg.assistant').last();
  assert.equal(await msg.locator('.votes .sample').count(), 6);
  const votes = await msg.locator('.votes .vote').evaluateAll((els) => els.map((e) => ({ answer: e.getAttribute('data-answer'), count: Number(e.getAttribute('data-count')), winner: e.classList.contains('winner') })));
  assert.equal(
    votes.reduce((a, v) => a + v.count, 0),
    6,
  );
  const samples = await msg.locator('.votes .sample').evaluateAll((els) => els.map((e) => e.getAttribute('data-answer')));
  for (const v of votes) {
    assert.ok(VOTER_ANSWERS.includes(v.answer!), String(v.answer));
    assert.equal(samples.filter((a) => a === v.answer).length, v.count, `the bar of ${v.answer} counts its samples`);
  }
  const winners = votes.filter((v) => v.winner);
  assert.equal(winners.length, 1);
  assert.equal(winners[0].count, Math.max(...votes.map((v) => v.count)));
  // the reply shown is the winner's; a sample opens to its text
  assert.equal((await msg.locator('.content').first().innerText()).trim(), winners[0].answer);
  await msg.locator('.sample summary').first().click();
  assert.equal((await msg.locator('.sample .content').first().innerText()).trim(), samples[0]);
  assert.match(await msg.locator('.weighted').innerText(), /weighted by log-probability: [357]$/);
  // the run's reward model weighs the votes too: each sample shows its reward, the reward-weighted winner is named
  await page.check('#reward-votes');
  await send('What is 2 plus 3?');
  const rw = page.locator('.msg.assistant').last();
  assert.equal(await rw.locator('.votes .sample').count(), 6);
  assert.match(await rw.locator('.sample summary').first().innerText(), /reward -?\d+\.\d\d/);
  assert.ok(VOTER_ANSWERS.includes((await rw.locator('.reward-winner').innerText()).trim()));
  await page.uncheck('#reward-votes');
});

test('chat: a self-consistency vote that is a tie says so and which sample broke it, as `gptforge ask` does', async () => {
  await newChat('voter');
  await page.selectOption('#technique', 'self-consistency');
  await page.fill('#k', '2');
  // two samples: a tie whenever their answers differ (the voter draws from three): some seed of the first few gives one
  let tied = false;
  for (let seed = 1; seed <= 8 && !tied; seed++) {
    await page.fill('#seed', String(seed));
    await send('What is 2 plus 3?');
    const msg = page.locator('.msg.assistant').last();
    const answers = await msg.locator('.votes .sample').evaluateAll((els) => els.map((e) => e.getAttribute('data-answer')));
    const head = await msg.locator('.trace-head').innerText();
    tied = answers[0] !== answers[1];
    if (tied) assert.match(head, new RegExp(`→ ${answers[0]} — a tie, broken by the earliest sample \\(1\\)$`));
    else assert.doesNotMatch(head, /tie/);
  }
  assert.ok(tied, 'no seed of 1…8 gave two different answers');
  await page.selectOption('#technique', 'direct');
});

test("chat: a technique's refusal (reflection on a question that is no sum) shows inside the failed reply's card", async () => {
  await newChat('reviewer');
  await page.selectOption('#technique', 'reflect');
  await page.fill('#prompt', 'hello there');
  await page.click('#send');
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'error'`, null, { timeout: 30_000 });
  const msg = page.locator('.msg.assistant').last();
  assert.match(await msg.locator('.reply-error').innerText(), /two operands/);
  assert.equal(await page.locator('.thread > .error').count(), 0, 'not at the foot of the pane');
  assert.equal(await msg.locator('.finish').innerText(), 'finish: error');
  await page.selectOption('#technique', 'direct');
});

test('chat: reflection shows the first answer and its rounds with feedback', async () => {
  await newChat('reviewer');
  await page.selectOption('#technique', 'reflect');
  await page.fill('#rounds', '3');
  await page.selectOption('#feedback', 'tool');
  await send('What is 12 plus 39?');
  const msg = page.locator('.msg.assistant').last();
  assert.equal((await msg.locator('.rounds .first .content').innerText()).trim(), '12 + 39 = 41.');
  const rounds = msg.locator('.rounds li.round');
  assert.ok((await rounds.count()) >= 1);
  assert.match(await rounds.first().locator('.feedback').innerText(), /The calculator says 12\+39 = 51/);
  assert.equal(await rounds.first().getAttribute('data-answer'), '51');
  assert.match(await msg.locator('.trace-head').innerText(), /41 → 51/);
  await page.selectOption('#technique', 'direct');
});

test("chat: a technique's server-calculator calls show with the reply that made them, as `gptforge chat` prints them: each sample's, reflection's first answer's and each round's", async () => {
  // the scripted model calls calculator: 12*3 whenever the question says "calc", then reads its output
  await newChat('calc');
  await page.selectOption('#tools', 'server');
  await page.selectOption('#technique', 'self-consistency');
  await page.fill('#k', '2');
  await send('calc 12 plus 3?');
  const sc = page.locator('.msg.assistant').last();
  assert.deepEqual(await sc.locator('.votes .sample .content .builtin-call').allTextContents(), ['[calculator: 12*3 → 36]', '[calculator: 12*3 → 36]']);
  await sc.locator('.sample summary').first().click();
  // the call, then the text the model wrote after reading its output (the badge's margin is the gap)
  assert.match((await sc.locator('.sample .content').first().innerText()).trim(), /^\[calculator: 12\*3 → 36\] ?It says: 36\.$/);
  await page.selectOption('#technique', 'reflect');
  await page.selectOption('#feedback', 'self');
  await send('calc 12 plus 3?');
  const rf = page.locator('.msg.assistant').last();
  assert.match((await rf.locator('.rounds .first .content').innerText()).trim(), /^\[calculator: 12\*3 → 36\] ?It says: 36\.$/);
  assert.ok((await rf.locator('.rounds li.round').count()) >= 1);
  assert.deepEqual(await rf.locator('.rounds li.round').first().locator('.content .builtin-call').allTextContents(), ['[calculator: 12*3 → 36]']);
  await page.selectOption('#technique', 'direct');
});

test('chat: RAG on — the reply cites [1], and clicking it opens the stored passage', async () => {
  await newChat('citer');
  await page.selectOption('#technique', 'direct');
  assert.equal(await page.locator('#rag').isDisabled(), false);
  await page.check('#rag');
  await page.fill('#max-tokens', '24');
  await send('What is the weather in Paris?');
  const msg = page.locator('.msg.assistant').last();
  assert.equal((await msg.locator('.content').innerText()).trim(), 'It says: sunny [1].');
  const cite = msg.locator('a.cite[data-n="1"]');
  assert.equal(await cite.count(), 1);
  await cite.click();
  await page.waitForSelector('.passage-panel .passage-text');
  const shown = await page.locator('.passage-panel .passage-text').innerText();
  assert.match(await page.locator('.passage-panel .path').innerText(), /weather\.md$/);
  assert.match(await page.locator('.passage-panel .lines').innerText(), /^lines \d+–\d+/);
  // the panel shows the indexed chunk's text: the one the store holds for the cited id
  const store = RagStore.open(s.ragDb!, { readonly: true });
  try {
    const chunk = store.allChunks().find((c) => c.text.trim() === shown.trim());
    assert.ok(chunk, `no stored chunk has the text shown: ${JSON.stringify(shown)}`);
    assert.match(chunk.path, /weather\.md$/);
  } finally {
    store.close();
  }
  await page.click('.passage-panel .close');
  assert.equal(await page.locator('.passage-panel').count(), 0);
  await page.uncheck('#rag');
});

test("chat: RAG on with Max tokens untouched sends no max_tokens (the server's default room, as chat --rag); once set, the page sends it", async () => {
  const fresh = await browser.newPage(); // a new browser context: no saved settings, the field untouched
  try {
    await fresh.goto(s.base + '/#chat');
    await fresh.waitForSelector('#model option[value="citer"]', { state: 'attached' });
    await fresh.selectOption('#model', 'citer');
    await fresh.selectOption('#technique', 'direct');
    await fresh.check('#rag');
    const ask = async (): Promise<{ max_tokens?: number; rag?: unknown }> => {
      const req = fresh.waitForRequest((r) => r.url().endsWith('/v1/chat/completions') && r.method() === 'POST');
      await fresh.fill('#prompt', 'What is the weather in Paris?');
      await fresh.click('#send');
      const body = (await req).postDataJSON() as { max_tokens?: number; rag?: unknown };
      await fresh.waitForFunction(`[...document.querySelectorAll('.msg.assistant')].pop()?.getAttribute('data-finish')`, null, { timeout: 30_000 });
      return body;
    };
    const untouched = await ask();
    assert.equal(untouched.rag, true);
    assert.equal('max_tokens' in untouched, false);
    // the server's default room leaves the passage space: it is shown and cited
    assert.equal((await fresh.locator('.msg.assistant').last().locator('.content').innerText()).trim(), 'It says: sunny [1].');
    await fresh.fill('#max-tokens', '20');
    assert.equal((await ask()).max_tokens, 20);
    // without RAG the field's value is sent as before
    await fresh.uncheck('#rag');
    const plain = await ask();
    assert.equal(plain.rag, undefined);
    assert.equal(typeof plain.max_tokens, 'number');
  } finally {
    await fresh.close();
  }
});

test("chat: RAG on with no passage shown — the hint is the server's note as it is, or says nothing matched", async () => {
  await newChat('citer');
  await page.selectOption('#technique', 'direct');
  await page.check('#rag');
  await page.fill('#max-tokens', '128');
  // a long question leaves no room for a passage beside it and the reply
  const asked = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions') && r.method() === 'POST');
  await send(`What is the weather in Paris? ${'Tell me about the weather in Paris please. '.repeat(6)}`);
  const shown = (await page.locator('.msg.assistant').last().locator('.sources .hint').innerText()).trim();
  // the same request again, unstreamed: the server's note for it
  const res = await fetch(s.base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...(await asked).postDataJSON(), stream: false }) });
  const body = (await res.json()) as { rag: { note?: string; passages: unknown[] } };
  assert.deepEqual(body.rag.passages, []);
  assert.ok(body.rag.note, 'the server gives a note');
  // the server's advice alone: the page adds none of its own that could disagree with it
  assert.equal(shown, body.rag.note);
  // nothing retrieved: no note, and the page does not claim a passage failed to fit
  await newChat('citer');
  await send('xylophone quartz zebra?');
  assert.equal((await page.locator('.msg.assistant').last().locator('.sources .hint').innerText()).trim(), 'no passage matched the question');
  await page.uncheck('#rag');
});
