import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

test("-p is --prompt wherever it is shown; training flags name their default (the preset's); -p <preset> still works with a warning", async () => {
  const dir = fileURLToPath(new URL('../../src/cli/', import.meta.url));
  const shortP: string[] = [];
  const noDefault: string[] = [];
  const walk = (c: CommandUnknownOpts, path: string): void => {
    for (const o of c.options as unknown as { short?: string; long?: string; hidden?: boolean; description: string }[]) {
      if (o.short === '-p' && !o.hidden && o.long !== '--prompt') shortP.push(`${path} ${o.long}`);
      if (['pretrain', 'sft', 'rm', 'dpo'].includes(path) && ['--max-steps', '--lr', '--batch-size'].includes(o.long ?? '') && !/default: the preset's/.test(o.description)) noDefault.push(`${path} ${o.long}`);
    }
    for (const sub of c.commands) walk(sub, `${path} ${sub.name()}`);
  };
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.js') && n !== 'main.js')) {
    const m = (await import(new URL(f, `file://${dir}`).href)) as { command?: CommandUnknownOpts };
    if (m.command) walk(m.command, m.command.name());
  }
  assert.deepEqual(shortP, []);
  assert.deepEqual(noDefault, []);
  const old = spawnSync(process.execPath, [fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)), 'pretrain', '-p', 'no-such-preset-xyz'], { encoding: 'utf8' });
  assert.notEqual(old.status, 0);
  assert.match(old.stderr, /warning: -p for --preset is deprecated/);
  assert.match(old.stderr, /no-such-preset-xyz/);
});
