// Just the sgemm part of bench:engine: node dist/bench/sgemm.js [--json]
import { benchSgemm } from './engine-sgemm.js';

await benchSgemm({ json: process.argv.includes('--json') });
