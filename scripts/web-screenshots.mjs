// Screenshots of the web UI's pages into docs/web-*.png, and the page's transfer size.
//
//   npm run build && node scripts/web-screenshots.mjs [--run runs/tiny] [--rag kb.db] [--out docs]
//
// Serves the run (`gptforge pipeline --preset tiny` makes one in minutes; without --run, a
// randomly initialised test run: the pages work, the replies are noise) the way `gptforge
// serve` does, and drives Debian's Chromium with playwright-core (apt-get install chromium).
// The chat screenshot asks with self-consistency (its votes) and with RAG on (its sources,
// one opened): the store is --rag, else docs/*.md indexed in small chunks into a temporary one.
import { mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ragIndex } from '../dist/src/run/rag.js';
import { GptforgeServer, loadRunModels, registerWeb } from '../dist/src/server/index.js';
import { launchChromium } from '../dist/test/web/browser.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
let runDir = arg('--run');
if (!runDir) runDir = (await import('../dist/test/server/fixture.js')).tinyRun().dir;
const out = arg('--out', 'docs');
mkdirSync(out, { recursive: true });

let ragStore = arg('--rag');
if (!ragStore) {
  ragStore = join(mkdtempSync(join(tmpdir(), 'gf-shots-')), 'docs.db');
  // small chunks: a passage must fit a tiny model's context beside the question and the reply
  await ragIndex(ragStore, {
    inputs: readdirSync('docs')
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
    chunkSize: 40,
    chunkOverlap: 8,
  });
}

const server = new GptforgeServer({ ragStore });
await registerWeb(server, { runDir });
server.setModels(loadRunModels(runDir));
const base = await server.listen(0, '127.0.0.1');
const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
const page = await context.newPage();
const shot = async (name, fullPage = false) => {
  const file = join(out, `web-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  console.log(`${file}  ${(statSync(file).size / 1024).toFixed(0)} KiB`);
};

try {
  // transfer size of the first load (a fresh context: nothing cached)
  const sizes = new Map();
  page.on('response', async (res) => {
    if (!res.url().startsWith(base)) return;
    try {
      const body = await res.body();
      sizes.set(new URL(res.url()).pathname, { bytes: body.length, gzip: gzipSync(body).length });
    } catch {}
  });
  await page.goto(base + '/#chat', { waitUntil: 'networkidle' });
  const statics = [...sizes].filter(([p]) => p === '/' || (p.startsWith('/web/') && !p.startsWith('/web/api/')));
  const total = statics.reduce((a, [, s]) => a + s.bytes, 0);
  const gz = statics.reduce((a, [, s]) => a + s.gzip, 0);
  console.log('page transfer size (first load, every static file, uncompressed as served; gzip for reference):');
  for (const [p, s] of statics.sort((a, b) => b[1].bytes - a[1].bytes)) console.log(`  ${p.padEnd(28)} ${String(s.bytes).padStart(7)} B  (gzip ${s.gzip} B)`);
  console.log(`  ${'total'.padEnd(28)} ${String(total).padStart(7)} B = ${(total / 1024).toFixed(1)} KiB  (gzip ${(gz / 1024).toFixed(1)} KiB), ${statics.length} files`);
  page.removeAllListeners('response');

  // chat: a question with RAG on (its sources, one opened), then one answered by self-consistency with the server's calculator (its votes, one sample opened)
  const finished = "[...document.querySelectorAll('.msg.assistant')].pop()?.getAttribute('data-finish')";
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.waitForSelector('#model option', { state: 'attached' });
  const models = await page.locator('#model option').allInnerTexts();
  if (models.includes('sft')) await page.selectOption('#model', 'sft');
  await page.selectOption('#tools', 'off');
  await page.selectOption('#technique', 'direct');
  await page.fill('#max-tokens', '24');
  await page.check('#rag');
  await page.fill('#prompt', 'What does the reward model score?');
  await page.click('#send');
  await page.waitForFunction(finished, null, { timeout: 60_000 });
  const cite = page.locator('.msg.assistant a.cite, .msg.assistant .sources a');
  if ((await cite.count()) > 0) {
    await cite.first().click();
    await page.waitForSelector('.passage-panel .passage-text, .passage-panel .error');
  }
  await page.selectOption('#tools', 'server');
  await page.selectOption('#technique', 'self-consistency');
  await page.fill('#k', '6');
  if (await page.locator('#reward-votes').isEnabled()) await page.check('#reward-votes');
  await page.fill('input[type=number][step="0.1"]', '0.2');
  await page.fill('#prompt', 'What is 4821 times 37?');
  await page.click('#send');
  await page.waitForFunction(finished, null, { timeout: 120_000 });
  await page.locator('.sample summary').first().click();
  await shot('chat');
  await page.setViewportSize({ width: 1280, height: 800 });

  // training dashboard: the run's stages and curves
  await page.goto(base + '/#dashboard');
  await page.waitForSelector('.stage');
  await page.waitForTimeout(1500);
  const stages = await page.locator('.toolbar select option').allInnerTexts();
  if (stages.includes('pretrain')) await page.selectOption('.toolbar select', 'pretrain');
  await page.waitForTimeout(800);
  await shot('dashboard');
  const rl = stages.find((s) => s.startsWith('rl') || s === 'ppo' || s === 'grpo');
  if (rl) {
    await page.selectOption('.toolbar select', rl);
    await page.waitForTimeout(800);
    await shot('dashboard-rl', true);
  }

  // rank: four replies, two picked with keys
  await page.goto(base + '/#rank');
  await page.waitForSelector('#rank-progress');
  await page.click('#rank-sample');
  await page.waitForSelector('.cand, .error', { timeout: 120_000 });
  const k = await page.locator('.cand').count();
  if (k >= 3) {
    await page.keyboard.press('2');
    await page.keyboard.press('=');
    await page.keyboard.press('1');
  }
  await shot('rank');

  // compare: base, SFT, RLHF with reward scores
  await page.goto(base + '/#compare');
  await page.waitForSelector('.col');
  await page.fill('#compare-prompt', 'What is 12 times 7?');
  await page.click('#compare-run');
  await page.waitForFunction("[...document.querySelectorAll('.col')].every((c) => c.querySelector('.error') || c.innerText.includes('finish:')) && !document.querySelector('#compare-run').disabled", null, { timeout: 60_000 });
  await shot('compare');
} finally {
  await browser.close();
  await server.close();
}
