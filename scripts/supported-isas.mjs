// Prints the native kernel paths this CPU runs, best first, one per line (for .ci/run):
//   node scripts/supported-isas.mjs            every supported path
//   node scripts/supported-isas.mjs --others   all but the default (best) one
// Needs the compiled dist/ and the built addon; prints nothing when the addon is missing.
import { loadNativeKernels } from '../dist/src/engine/backend-native.js';
import { ISA_NAMES, bestIsa } from '../dist/src/engine/isa.js';

delete process.env.GPTFORGE_ISA; // list what the CPU runs, whatever the caller forces
const r = loadNativeKernels();
if ('kernels' in r) {
  const support = r.kernels.isas();
  const best = bestIsa(support);
  for (const name of ISA_NAMES) {
    if (!support.some((s) => s.name === name && s.supported)) continue;
    if (process.argv.includes('--others') && name === best) continue;
    console.log(name);
  }
}
