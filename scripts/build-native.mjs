// Install step: build the native kernels with node-gyp. If that fails (no compiler, odd
// platform) installation still succeeds and the engine runs on the reference backend,
// with one clear warning here and one at run time.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('binding.gyp')) process.exit(0);
if (process.env.GPTFORGE_SKIP_NATIVE === '1') {
  console.warn('gptforge: GPTFORGE_SKIP_NATIVE=1, not building native kernels (reference backend will be used).');
  process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  console.warn('\ngptforge: WARNING: the native kernels could not be built (see the node-gyp output above).');
  console.warn('gptforge: everything still works on the slower reference backend; install a C compiler and Python, then run "npm rebuild".');
}
process.exit(0);
