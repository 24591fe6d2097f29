// Just the sgemm part of bench:engine: node dist/bench/sgemm.js [--json] [--sgemm-* flags of bench/engine-sgemm.ts]
import { benchSgemm, sgemmOptionsFromArgs } from './engine-sgemm.js';
import { engineSummary } from '../src/engine/backend.js';

console.error(`engine: ${engineSummary()}`);

await benchSgemm({ json: process.argv.includes('--json'), ...sgemmOptionsFromArgs(process.argv.slice(2)) });
