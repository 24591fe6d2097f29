import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MixtureConfig } from '../../src/data/mixture.js';
import { prepareTokenizer, runDataPrepare, tokenizerRequestPath } from '../../src/run/data.js';
import { Tokenizer, trainTokenizer } from '../../src/tokenizer/index.js';
import { mobyDick } from '../tokenizer/corpus.js';

// a run's tokenizer is trained from the mixture's "tokenizer" section: only once its data is good,
// and never silently kept when that section changes (newcomer24's findings 1 and 2)
const root = mkdtempSync(join(tmpdir(), 'gf-run-tok-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'notes'));
const text = mobyDick().slice(0, 60_000);
for (let i = 0; i < 12; i++) writeFileSync(join(root, 'notes', `n${i}.txt`), text.slice(i * 5000, (i + 1) * 5000));
writeFileSync(join(root, 'short.txt'), 'too short');
const mixture = (tokenizer: MixtureConfig['tokenizer'], paths = [join(root, 'notes')]): MixtureConfig => ({ sources: [{ name: 'mine', paths, weight: 1 }], tokenBudget: 20_000, tokenizer });

test('a prepare whose only source yields no text leaves no tokenizer behind', async () => {
  const run = join(root, 'empty-run');
  const file = join(root, 'empty-mixture.json');
  writeFileSync(file, JSON.stringify(mixture({ vocabSize: 300 }, [join(root, 'short.txt')])));
  // the error names the mixture file it is about (newcomer24 #8)
  await assert.rejects(runDataPrepare(join(run, 'data'), { mixture: file, quiet: true, threads: 1 }), (e: Error) => e.message.startsWith(`${file}, field "sources[0]": source "mine" yields no text`) || assert.fail(e.message));
  assert.equal(existsSync(join(run, 'tokenizer.json')), false, 'a failed prepare must not leave a tokenizer for the next run to reuse');
  // the fixed data then trains the tokenizer it asks for
  const r = await runDataPrepare(join(run, 'data'), { mixture: mixture({ vocabSize: 300 }), quiet: true, threads: 1 });
  assert.equal(Tokenizer.load(r.tokenizer).vocabSize, 300);
  assert.deepEqual(JSON.parse(readFileSync(tokenizerRequestPath(r.tokenizer), 'utf8')), { vocabSize: 300, pattern: 'gpt4', digitPairs: false });
});

test('a changed tokenizer section is refused naming what differs; retrain (pretrain --fresh) retrains it', async () => {
  const run = join(root, 'changed-run');
  await runDataPrepare(join(run, 'data'), { mixture: mixture({ vocabSize: 300, pattern: 'gpt4' }), quiet: true, threads: 1 });
  const path = join(run, 'tokenizer.json');
  const changed = mixture({ vocabSize: 320, pattern: 'cl100k' });
  await assert.rejects(runDataPrepare(join(run, 'data'), { mixture: changed, quiet: true, threads: 1 }), (e: Error) => {
    assert.match(e.message, /vocabSize 300 → 320, pattern gpt4 → cl100k/);
    assert.match(e.message, /pretrain --fresh/);
    assert.match(e.message, /tokenizer\.json/);
    return true;
  });
  assert.equal(Tokenizer.load(path).vocabSize, 300, 'the refused run keeps the tokenizer as it was');
  // the same section again is no difference, even where merging stopped below the size asked
  const same = prepareTokenizer(path, mixture({ vocabSize: 300 }));
  assert.equal(same.trained, false);
  const re = prepareTokenizer(path, changed, { retrain: true, quiet: true });
  assert.equal(re.trained, true);
  assert.equal(re.tokenizer.vocabSize, 320);
  assert.equal(Tokenizer.load(path).vocabSize, 300, 'not saved before commit()');
  re.commit();
  assert.equal(Tokenizer.load(path).vocabSize, 320);
  assert.equal(prepareTokenizer(path, changed).trained, false);
});

test('a tokenizer not trained from a mixture (tokenizer train, copied) that differs is used with a warning', () => {
  const dir = mkdtempSync(join(root, 'own-'));
  const path = join(dir, 'tokenizer.json');
  trainTokenizer([text.slice(0, 20_000)], { vocabSize: 290 }).save(path);
  const lines: string[] = [];
  const t = prepareTokenizer(path, mixture({ vocabSize: 300 }), { log: (l) => lines.push(l) });
  assert.equal(t.trained, false);
  assert.equal(t.tokenizer.vocabSize, 290);
  assert.match(lines.join('\n'), /warning: .*tokenizer\.json is not what the mixture's "tokenizer" section asks \(vocabSize 290 → 300\)/);
});

test('a tokenizer with no merges (what a failed run of an older gptforge left) is refused, and retrained by pretrain --fresh', () => {
  const dir = mkdtempSync(join(root, 'nomerge-'));
  const path = join(dir, 'tokenizer.json');
  trainTokenizer([], { vocabSize: 512 }).save(path);
  assert.throws(() => prepareTokenizer(path, mixture({ vocabSize: 300 })), /has no merges .*vocabSize 270 → 300/);
  const re = prepareTokenizer(path, mixture({ vocabSize: 300 }), { retrain: true, quiet: true });
  assert.equal(re.tokenizer.vocabSize, 300);
});
