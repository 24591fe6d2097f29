/**
 * node dist/bench/rag-copy-corpus.js --out runs/rag-passages.jsonl [--examples 8000] [--seed 77]
 *
 * Pretraining text that makes copying pay (docs/rag.md "Measured: the effect"): `passages`
 * family examples of the *train* split as plain documents — the numbered passages, the
 * question, "Answer: " and the reply — one JSONL record `{"text": …}` each, for a mixture's
 * `paths` source (bench/rag/mixture.rag.json). The dictionary pages alone never repeat a
 * span inside a context window, so a model pretrained on them forms no induction (copy)
 * heads; here an answer's fact is a verbatim span of a passage a few dozen tokens earlier,
 * and two editions of one word repeat its glosses, so next-token prediction rewards copying.
 * Test-split words are never asked about (their entries stay in the dictionary source, as before).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { taskByName } from '../src/data/synthetic/tasks.js';
import { atomicWriteFile } from '../src/util/atomic.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    examples: { type: 'string', default: '8000' },
    seed: { type: 'string', default: '77' },
  },
});

if (!args.out) throw new Error('--out <file.jsonl> is required');
const n = Number(args.examples);
const lines = taskByName('passages')
  .generate('train', n, Number(args.seed))
  .map((ex) => JSON.stringify({ text: `${ex.prompt}\nAnswer: ${ex.conversation.messages[1].content}` }));
mkdirSync(dirname(args.out), { recursive: true });
atomicWriteFile(args.out, `${lines.join('\n')}\n`);
console.log(`${args.out}: ${lines.length} passages documents`);
