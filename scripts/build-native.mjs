// Install step: build the native kernels with node-gyp. If that fails (no compiler, odd
// platform) installation still succeeds and the engine runs on the reference backend,
// with one clear warning here and one at run time. An up-to-date build is kept (npx and
// repeated installs run this again).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

if (!existsSync('binding.gyp')) process.exit(0);
if (process.env.GPTFORGE_SKIP_NATIVE === '1') {
  console.warn('gptforge: GPTFORGE_SKIP_NATIVE=1, not building native kernels (reference backend will be used).');
  process.exit(0);
}
const target = join('build', 'Release', 'gptforge_native.node');
if (existsSync(target) && process.env.GPTFORGE_REBUILD !== '1') {
  const built = statSync(target).mtimeMs;
  const sources = ['binding.gyp', ...readdirSync('native').map((f) => join('native', f))];
  if (sources.every((s) => statSync(s).mtimeMs < built)) process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  console.warn('\ngptforge: WARNING: the native kernels could not be built (see the node-gyp output above).');
  console.warn('gptforge: everything still works on the slower reference backend; install a C compiler and Python, then run "npm rebuild".');
}
process.exit(0);
