// Just the sgemm part of bench:engine: node dist/bench/sgemm.js [--json] [--sgemm-* flags of bench/engine-sgemm.ts]
import { benchSgemm, sgemmOptionsFromArgs } from './engine-sgemm.js';
import { engineSummary } from '../src/engine/backend.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, { json: 'switch', 'sgemm-rounds': 'inline', 'sgemm-reps': 'inline', 'sgemm-threads': 'inline', 'sgemm-shapes': 'inline', 'sgemm-layouts': 'inline' });

console.error(`engine: ${engineSummary()}`);

await benchSgemm({ json: process.argv.includes('--json'), ...sgemmOptionsFromArgs(process.argv.slice(2)) });
