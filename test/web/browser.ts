import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core (no browser download at install). */
export const CHROMIUM = process.env.GPTFORGE_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Launch headless Chromium, or fail with how to install it: the browser tests are part of
 * `npm test` and must not pass by skipping (.ci/run installs it when it is missing).
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the web UI's browser tests need Chromium at ${CHROMIUM}: install it with \`sudo apt-get install -y chromium\` (Debian/Ubuntu), or point GPTFORGE_CHROMIUM at a Chromium binary`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'] });
}
