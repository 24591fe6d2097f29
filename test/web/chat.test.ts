import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { ServedModel } from '../../src/server/index.js';
import { scriptedModel } from '../server/fixture.js';
import { launchChromium } from './browser.js';
import { webServer, type WebServer } from './fixtures.js';

/**
 * The chat page in a real browser (headless Chromium through playwright-core) against the
 * server on a tiny run, with scripted chat models: `scripted` (a long reply) and `slow` (a
 * reply of seconds, to stop mid-way).
 */
let s: WebServer;
let base: string;
let browser: Browser;
let page: Page;
let slow: ServedModel;

before(async () => {
  s = await webServer({
    models: (tok) => {
      slow = { ...scriptedModel(tok, { slowMs: 25, repeat: 40 }), id: 'slow' };
      return [{ ...scriptedModel(tok, { repeat: 3 }), id: 'scripted' }, slow];
    },
  });
  base = s.base;
  browser = await launchChromium();
  page = await browser.newPage();
});
after(async () => {
  await browser?.close();
  await s?.close();
});

/** The newest assistant message, as a page expression. */
const LAST = "[...document.querySelectorAll('.msg.assistant')].pop()";

async function send(model: string, text: string): Promise<void> {
  await page.selectOption('#model', model);
  await page.fill('#prompt', text);
  await page.click('#send');
}

test('chat: a message streams its reply delta by delta into the page', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('#model option[value="scripted"]', { state: 'attached' });
  await send('scripted', 'hi');
  const reply = page.locator('.msg.assistant').last();
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stop'`, null, { timeout: 15_000 });
  // why it ended, labelled (a bare grey "stop" beside regenerate read as a Stop button)
  assert.equal(await reply.locator('.finish').innerText(), 'finish: stop');
  const deltas = Number(await reply.getAttribute('data-deltas'));
  assert.ok(deltas >= 5, `only ${deltas} streamed deltas`);
  assert.match(await reply.locator('.content').innerText(), /Hello there\. How are you\? Bye\.Hello there/);
  // kept in the browser: a reload shows the conversation again
  await page.reload();
  await page.waitForSelector('.msg.user');
  assert.equal(await page.locator('.msg.user .content').first().innerText(), 'hi');
});

test('chat: Stop aborts the fetch and the server stops decoding that reply', async () => {
  await page.goto(base + '/#chat');
  await page.waitForSelector('#model option[value="slow"]', { state: 'attached' });
  await page.click('text=+ New chat');
  await page.fill('#max-tokens', '200');
  await send('slow', 'tell me more');
  const passes = (slow.model as unknown as { batches: number[] }).batches;
  await page.waitForFunction(`Number(${LAST}?.getAttribute('data-deltas')) >= 3 || document.querySelector('.error')`, null, { timeout: 15_000 });
  assert.equal(
    await page.locator('.error').count(),
    0,
    await page
      .locator('.error')
      .allInnerTexts()
      .then((t) => t.join()),
  );
  await page.click('#stop');
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stopped'`);
  const at = passes.length;
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(passes.length - at <= 2, `decoding went on for ${passes.length - at} forward passes after Stop`);
  assert.ok(passes.length < 100, `${passes.length} passes: the reply (200 tokens) was not cut short`);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /gptforge_running_rows\{model="slow"\} 0/);
});

test('chat: a tool call shows inline, the page runs it and the reply goes on; regenerate and edit make branches', async () => {
  await page.goto(base + '/#chat');
  await page.waitForSelector('#model option[value="scripted"]', { state: 'attached' });
  await page.click('text=+ New chat');
  await page.fill('#max-tokens', '40');
  await page.selectOption('#tools', 'page');
  await send('scripted', 'calc please');
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stop'`, null, { timeout: 15_000 });
  assert.match(await page.locator('.msg.assistant .tool-call').first().innerText(), /calculator\(\{"input":"12\*3"\}\)/);
  assert.match(await page.locator('.msg.tool').innerText(), /calculator → 36/);
  assert.match(await page.locator('.msg.assistant .content').last().innerText(), /It says: 36\./);
  // regenerate the last reply: a second branch of it, with a switcher
  await page.selectOption('#tools', 'off');
  await page.locator('.msg.assistant .regenerate').last().click();
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stop'`, null, { timeout: 15_000 });
  assert.equal(await page.locator('.msg.assistant .branches').last().innerText(), '‹2/2›');
  // edit the user message: a new branch from there
  await page.locator('.msg.user .edit').first().click();
  await page.locator('.msg.user textarea').fill('hello');
  await page.click('text=Save & branch');
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stop'`, null, { timeout: 15_000 });
  assert.equal(await page.locator('.msg.user .content').first().innerText(), 'hello');
  assert.equal(await page.locator('.msg.user .branches').first().innerText(), '‹2/2›');
  assert.match(await page.locator('.msg.assistant .content').last().innerText(), /^Hello there/);
  await page.locator('.msg.user .branches button').first().click();
  assert.equal(await page.locator('.msg.user .content').first().innerText(), 'calc please');
});

test('chat: the Tools setting defaults to the server calculator for a chat-trained stage, off for base; a choice sticks', async () => {
  const fresh = await browser.newPage();
  try {
    await fresh.goto(base + '/#chat');
    await fresh.waitForSelector('#model option[value="scripted"]', { state: 'attached' });
    await fresh.selectOption('#model', 'base');
    assert.equal(await fresh.inputValue('#tools'), 'off');
    await fresh.selectOption('#model', 'scripted');
    assert.equal(await fresh.inputValue('#tools'), 'server');
    // 12 times 3 without touching the settings: the server runs the calculator and the model reads it
    await fresh.click('text=+ New chat');
    const req = fresh.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await fresh.fill('#prompt', 'calc please');
    await fresh.click('#send');
    assert.deepEqual(((await req).postDataJSON() as { builtin_tools?: string[] }).builtin_tools, ['calculator']);
    await fresh.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stop'`, null, { timeout: 15_000 });
    assert.match(await fresh.locator('.msg.assistant .content').last().innerText(), /It says: 36\./);
    await fresh.selectOption('#tools', 'off');
    await fresh.selectOption('#model', 'slow');
    assert.equal(await fresh.inputValue('#tools'), 'off');
    await fresh.selectOption('#tools', 'server'); // leave the shared settings as the default had them
  } finally {
    await fresh.close();
  }
});

test("chat: the server calculator's calls show inline where they ran, as `gptforge chat` prints them, while streaming and once stored", async () => {
  await page.goto(base + '/#chat');
  await page.waitForSelector('#model option[value="slow"]', { state: 'attached' });
  await page.click('text=+ New chat');
  await page.fill('#max-tokens', '40');
  await page.selectOption('#model', 'slow');
  await page.selectOption('#tools', 'server');
  // every text the reply's content shows on its way (the slow model writes a token every 25 ms)
  await page.evaluate(`window.seen = [];
    new MutationObserver(() => {
      const t = [...document.querySelectorAll('.msg.assistant .content')].pop()?.innerText ?? '';
      if (window.seen[window.seen.length - 1] !== t) window.seen.push(t);
    }).observe(document.querySelector('#messages'), { childList: true, subtree: true, characterData: true });`);
  await send('slow', 'calc please');
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stop'`, null, { timeout: 15_000 });
  const call = page.locator('.msg.assistant').last().locator('.content .builtin-call');
  assert.equal(await call.count(), 1);
  assert.equal(await call.innerText(), '[calculator: 12*3 → 36]');
  assert.equal(await call.getAttribute('data-ok'), 'true');
  // a gap between the badge and the text after it (the model's text there may start without a space)
  const margin = await call.evaluate((el) => Number.parseFloat((globalThis as unknown as { getComputedStyle(e: unknown): { marginRight: string } }).getComputedStyle(el).marginRight));
  assert.ok(margin > 0, `badge margin-right ${margin}px`);
  // inline: the call, then the text the model wrote after reading its output
  assert.equal(await page.locator('.msg.assistant .content').last().innerText(), '[calculator: 12*3 → 36] It says: 36.');
  // streamed: the call was on the page before the text after it had arrived
  const seen = (await page.evaluate('window.seen')) as string[];
  assert.ok(
    seen.some((t) => t.startsWith('[calculator: 12*3 → 36]') && !t.includes('36.')),
    `the call never showed before the reply's end: ${JSON.stringify(seen)}`,
  );
  // stored with the conversation: a reload shows it in the same place
  await page.reload();
  await page.waitForSelector('.msg.assistant .builtin-call');
  assert.equal(await page.locator('.msg.assistant .content').last().innerText(), '[calculator: 12*3 → 36] It says: 36.');
  // the next request sends the reply back with its call where it ran, so the model reads its own turn as it wrote it
  const next = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions') && r.method() === 'POST');
  await send('slow', 'and now?');
  const sent = ((await next).postDataJSON() as { messages: Array<{ role: string; content: string | null; builtin_tool_calls?: unknown }> }).messages;
  const earlier = sent.find((m) => m.role === 'assistant');
  assert.equal(earlier?.content, ' It says: 36.');
  assert.deepEqual(earlier?.builtin_tool_calls, [{ name: 'calculator', input: '12*3', output: '36', ok: true, offset: 0 }]);
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish')`, null, { timeout: 15_000 });
  await page.selectOption('#model', 'scripted');
});

/**
 * Every calculator chip's boxes against the text around it, as a page expression: a page-run
 * call (`.tool-call`, a block between the reply's text and its footer) against its siblings, a
 * server call (`.builtin-call`, inline) against the text nodes either side of it; each chip's
 * boxes must also lie inside its message's card. The overlaps found, as strings (none: []).
 */
const CHIP_OVERLAPS = `(() => {
  const boxes = (n) => {
    if (n.nodeType === 1) return [...n.getClientRects()];
    const r = document.createRange();
    r.selectNodeContents(n);
    return [...r.getClientRects()];
  };
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  const out = [];
  for (const chip of document.querySelectorAll('.msg .tool-call, .msg .builtin-call')) {
    const card = chip.closest('.msg').getBoundingClientRect();
    const mine = boxes(chip);
    for (const b of mine) {
      if (b.left < card.left - 0.5 || b.right > card.right + 0.5) out.push(chip.textContent + ' runs out of its message (' + Math.round(b.left) + '..' + Math.round(b.right) + ' in ' + Math.round(card.left) + '..' + Math.round(card.right) + ')');
    }
    for (const n of [chip.previousSibling, chip.nextSibling]) {
      if (!n || (n.nodeType !== 1 && n.nodeType !== 3)) continue;
      if (mine.some((a) => boxes(n).some((b) => hit(a, b)))) out.push(chip.textContent + ' overlaps ' + JSON.stringify(n.textContent));
    }
  }
  return out;
})()`;

test('chat: a calculator chip keeps a box of its own: it overlaps no text beside it and stays inside its message, wide or narrow', async () => {
  // a stored conversation with both kinds of chip: a page-run call after the reply's text and its
  // output, then a reply with two server calls, the text after each starting without a space
  const call = { name: 'calculator', input: '12*3', output: '36', ok: true };
  const conv = {
    id: 'chips',
    title: 'chips',
    created: 1,
    system: '',
    roots: ['u'],
    leaf: 'a2',
    nodes: {
      u: { id: 'u', parent: null, children: ['a'], role: 'user', content: 'what is 12*3' },
      a: { id: 'a', parent: 'u', children: ['t'], role: 'assistant', content: 'Let me compute that', finish: 'tool_calls', model: 'scripted', tool_calls: [{ id: 'k', type: 'function', function: { name: 'calculator', arguments: '{"input":"12*3+4*5-6*7+8*9"}' } }] },
      t: { id: 't', parent: 'a', children: ['a2'], role: 'tool', tool_call_id: 'k', name: 'calculator', content: '36' },
      a2: {
        id: 'a2',
        parent: 't',
        children: [],
        role: 'assistant',
        content: '12*3 =36 and again 36.',
        finish: 'stop',
        model: 'scripted',
        builtin: [
          { ...call, at: 6 },
          { ...call, at: 8 },
        ],
      },
    },
  };
  const fresh = await browser.newPage();
  try {
    await fresh.goto(base + '/#chat');
    await fresh.evaluate(`localStorage.setItem('gptforge.conversations', ${JSON.stringify(JSON.stringify([conv]))})`);
    for (const width of [1280, 560]) {
      await fresh.setViewportSize({ width, height: 800 });
      await fresh.reload();
      await fresh.waitForSelector('.msg.assistant .builtin-call');
      assert.equal(await fresh.locator('.msg .tool-call').count(), 2);
      assert.equal(await fresh.locator('.msg .builtin-call').count(), 2);
      assert.deepEqual(await fresh.evaluate(CHIP_OVERLAPS), [], `at ${width}px`);
    }
    // the page-run call sits on a line of its own, below the reply's text
    const text = await fresh.locator('.msg.assistant .content').first().boundingBox();
    const chip = await fresh.locator('.msg.assistant .tool-call').first().boundingBox();
    assert.ok(text && chip && chip.y >= text.y + text.height, `the call (top ${chip?.y}) is not below the text (bottom ${text && text.y + text.height})`);
  } finally {
    await fresh.close();
  }
});

test('chat: JSON-schema mode sends the schema as response_format and the reply is constrained to it', async () => {
  await page.goto(base + '/#chat');
  await page.waitForSelector('#model option[value="scripted"]', { state: 'attached' });
  await page.click('text=+ New chat');
  await page.fill('#max-tokens', '30');
  await page.check('#json-mode');
  // newcomer (fixes39): the example schema allows no members beyond its own (a tiny model made one up)
  assert.equal(JSON.parse(await page.inputValue('#schema')).additionalProperties, false);
  await page.fill('#schema', JSON.stringify({ type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false }));
  const req = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await send('scripted', 'hi');
  const body = (await req).postDataJSON() as { response_format: { type: string; json_schema: { schema: unknown; strict: boolean } }; tools?: unknown };
  assert.equal(body.response_format.type, 'json_schema');
  assert.deepEqual(body.response_format.json_schema.schema, { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false });
  assert.equal(body.tools, undefined);
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'stop'`, null, { timeout: 15_000 });
  const reply = JSON.parse(await page.locator('.msg.assistant .content').last().innerText());
  assert.equal(typeof reply.ok, 'boolean');
  // the card says the reply was schema-constrained, as a technique's reply names its technique
  assert.match(await page.locator('.msg.assistant .meta').last().innerText(), / · json_schema/);
  // a schema that does not parse: said inside the failed reply's card, not at the foot of the pane
  await page.fill('#schema', '{"type": ');
  await send('scripted', 'hi');
  await page.waitForFunction(`${LAST}?.getAttribute('data-finish') === 'error'`, null, { timeout: 15_000 });
  assert.match(await page.locator('.msg.assistant').last().locator('.reply-error').innerText(), /^the JSON schema does not parse: /);
  assert.equal(await page.locator('.thread > .error').count(), 0);
  await page.uncheck('#json-mode');
});

test('chat: without a RAG store the RAG toggle is disabled, its tooltip saying how to start one', async () => {
  await page.goto(base + '/#chat');
  await page.waitForSelector('#model option[value="scripted"]', { state: 'attached' });
  await page.waitForFunction("document.querySelector('#rag')?.closest('label')?.title.includes('no RAG store')");
  assert.equal(await page.locator('#rag').isDisabled(), true);
  assert.match((await page.locator('label:has(#rag)').getAttribute('title')) ?? '', /gptforge serve --rag/);
});

test('chat: a browser without saved settings opens with the model the server marks default in /v1/models', async () => {
  const fresh = await browser.newPage();
  try {
    // the server's list, with `default` moved to `slow` (the server marks the run's newest chat stage; sft here)
    const served = (await (await fetch(base + '/v1/models')).json()) as { data: Array<{ id: string; default?: boolean }> };
    assert.ok(served.data.some((m) => m.id === 'sft') && served.data.some((m) => m.id === 'slow'));
    await fresh.route('**/v1/models', (route) => route.fulfill({ json: { object: 'list', data: served.data.map(({ default: _d, ...m }) => (m.id === 'slow' ? { ...m, default: true } : m)) } }));
    await fresh.goto(base + '/#chat'); // a new page is a new browser context: no saved settings
    await fresh.waitForFunction("document.querySelector('#model')?.value === 'slow'", null, { timeout: 15_000 });
    assert.equal(await fresh.inputValue('#model'), 'slow');
  } finally {
    await fresh.close();
  }
});
