/**
 * node dist/bench/rag-base-read.js --run <run dir | checkpoint> [--stage base] [-n 200] [--task passages|lookup]
 *
 * Does a *base* model read its passages? The `passages` family's held-out prompts in the form
 * pretraining shows them (bench/rag-copy-corpus.ts: `<|bos|>` prompt `\nAnswer:` reply), the
 * reply decoded greedily up to a newline or `<|eos|>` (48 tokens at most) and graded by the
 * family's own check. Separates "pretraining did not teach reading" from "SFT lost it"
 * (docs/journal/rag.md "Fourth attempt"). `--task lookup` reads the lookup family's held-out notes the same
 * way: can the base model recall a key's value (docs/journal/rag.md "Fifth attempt")?
 */
import { benchParseArgs } from './args.js';
import { saysNoAnswer } from '../src/rag/context.js';
import { taskByName } from '../src/data/synthetic/tasks.js';
import { noGrad } from '../src/engine/tensor.js';
import { benchF32Model } from './rag-model.js';

const { values: args } = benchParseArgs(import.meta.url, { options: { run: { type: 'string' }, stage: { type: 'string', default: 'base' }, n: { type: 'string', short: 'n', default: '200' }, task: { type: 'string', default: 'passages' } } });

function main(): void {
  const { model, tok, dir } = benchF32Model(args.run, args.stage, 'the reading probe');
  const task = taskByName(args.task ?? 'passages');
  const bos = tok.specialId('<|bos|>');
  const eos = tok.specialId('<|eos|>');
  const V = model.config.vocabSize;
  let correct = 0;
  let total = 0;
  let tooLong = 0;
  // by the reference reply: a fact to read, or "the passages don't say"
  const by = { answerable: [0, 0], unanswerable: [0, 0] };
  const samples: string[] = [];
  noGrad(() => {
    for (const ex of task.generate('test', Number(args.n), 2024)) {
      const ids = [bos, ...tok.encode(`${ex.prompt}\nAnswer:`, { disallowedSpecial: 'plain' })];
      if (ids.length + 48 > model.config.blockSize) {
        tooLong++;
        continue;
      }
      const start = ids.length;
      for (let i = 0; i < 48; i++) {
        const logits = model.forward(Int32Array.from(ids), 1, ids.length).data.subarray((ids.length - 1) * V, ids.length * V);
        let best = 0;
        for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
        if (best === eos) break;
        ids.push(best);
        if (tok.decode(ids.slice(start)).includes('\n')) break;
      }
      const reply = tok.decode(ids.slice(start)).split('\n')[0].trim();
      total++;
      const ok = task.check(ex.prompt, reply);
      if (ok) correct++;
      const b = by[saysNoAnswer(ex.conversation.messages[1].content) ? 'unanswerable' : 'answerable'];
      b[1]++;
      if (ok) b[0]++;
      if (samples.length < 6) samples.push(`${ex.prompt.split('\n').slice(-1)[0]}\n  → ${reply}`);
    }
  });
  console.log(`${dir}: the ${task.name} family read by the base model (pretraining's text form): ${((100 * correct) / Math.max(1, total)).toFixed(0)}% (${correct}/${total}; ${tooLong} too long); answerable ${by.answerable[0]}/${by.answerable[1]}, unanswerable ${by.unanswerable[0]}/${by.unanswerable[1]}`);
  for (const s of samples) console.log(s);
}

main();
