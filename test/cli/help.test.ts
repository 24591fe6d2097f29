import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';

test('every command and subcommand has a description paragraph for its --help, not only a summary line', async () => {
  const dir = fileURLToPath(new URL('../../src/cli/', import.meta.url));
  const missing: string[] = [];
  let seen = 0;
  const walk = (c: CommandUnknownOpts, path: string): void => {
    seen++;
    if (c.description().trim() === '') missing.push(path);
    for (const sub of c.commands) walk(sub, `${path} ${sub.name()}`);
  };
  // main.js runs the program when imported: the commands are the other modules' `command` exports
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.js') && n !== 'main.js')) {
    const m = (await import(new URL(f, `file://${dir}`).href)) as { command?: CommandUnknownOpts };
    if (m.command) walk(m.command, m.command.name());
  }
  assert.ok(seen >= 20, `${seen} commands`);
  assert.deepEqual(missing, []);
});
