// Screenshots of the web UI's pages into docs/web-*.png, and the page's transfer size.
//
//   npm run build && node scripts/web-screenshots.mjs [--run runs/tiny] [--out docs]
//
// Serves the run (`gptforge pipeline --preset tiny` makes one in minutes; without --run, a
// randomly initialised test run: the pages work, the replies are noise) the way `gptforge
// serve` does, and drives Debian's Chromium with playwright-core (apt-get install chromium).
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
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

const server = new GptforgeServer();
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

  // chat: a question with the page's calculator, then the reply
  await page.waitForSelector('#model option', { state: 'attached' });
  const models = await page.locator('#model option').allInnerTexts();
  if (models.includes('sft')) await page.selectOption('#model', 'sft');
  await page.selectOption('#tools', 'page');
  await page.fill('#prompt', 'What is 12 times 7?');
  await page.click('#send');
  await page.waitForFunction("[...document.querySelectorAll('.msg.assistant')].pop()?.getAttribute('data-finish')", null, { timeout: 60_000 });
  await page.fill('#prompt', 'Write a short poem about the sea.');
  await page.click('#send');
  await page.waitForFunction("[...document.querySelectorAll('.msg.assistant')].pop()?.getAttribute('data-finish')", null, { timeout: 60_000 });
  await shot('chat');

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
