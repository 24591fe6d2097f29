import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI } from './fixture.js';

/**
 * `gptforge --help`, `--version` and a refused flag load the command definitions only: each
 * command loads its stage's code (models, kernels, tokenizer, data, server) when it runs
 * (src/cli/main.ts). Every CLI spawn paid ~0.2 CPU s for that code before, over ~260 spawns in
 * the suite. A module loader hook (node:module register) lists the modules each spawn loaded.
 */

/** Modules of the stage code: none may load before a command runs. */
const HEAVY = ['engine/backend.js', 'model/gpt.js', 'model/checkpoint.js', 'tokenizer/index.js', 'run/models.js', 'run/pretrain.js', 'run/data.js', 'data/sources.js', 'infer/engine.js', 'rag/store.js', 'server/index.js', 'assist/ask.js'];

test('--help, --version and refused flags load no stage code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-lazy-'));
  try {
    const log = join(dir, 'loaded.txt');
    writeFileSync(join(dir, 'hooks.mjs'), "import { appendFileSync } from 'node:fs';\nlet out;\nexport function initialize(d) { out = d.out; }\nexport async function load(url, context, next) { appendFileSync(out, url + '\\n'); return next(url, context); }\n");
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)}, { data: { out: ${JSON.stringify(log)} } });\n`);
    // a forced kernel path (GPTFORGE_ISA, as the suite's avx2/scalar passes set it) is checked before any command parses its flags, by design (src/cli/main.ts)
    const { GPTFORGE_ISA: _, ...unforced } = process.env;
    const cases: [string[], number, RegExp][] = [
      [['--help'], 0, /Usage: gptforge/],
      [['--version'], 0, /^\d+\.\d+\.\d+/],
      [['sample', '--max-tokens', 'abc'], 1, /--max-tokens: expects a number/],
      [['chat', '--max-tool-calls', '2', '--no-tools'], 1, /--max-tool-calls caps calculator calls/],
      [['pretrain', '--lr', 'x'], 1, /--lr: expects a number/],
      [['rag', 'query', '--k', '0'], 1, /--k: expects a whole number/],
    ];
    for (const [args, status, said] of cases) {
      writeFileSync(log, '');
      const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, CLI, ...args], { encoding: 'utf8', env: unforced });
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout + r.stderr, said, args.join(' '));
      const loaded = readFileSync(log, 'utf8').split('\n');
      assert.ok(
        loaded.some((u) => u.endsWith('/cli/main.js')),
        `the hook saw the CLI load (${args.join(' ')})`,
      );
      const heavy = HEAVY.filter((m) => loaded.some((u) => u.endsWith(`/src/${m}`)));
      assert.deepEqual(heavy, [], `gptforge ${args.join(' ')} loaded stage code`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
