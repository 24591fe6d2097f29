import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { NO_ANSWER } from '../../src/rag/context.js';
import { runCli as run, withDocs } from './helpers.js';

test("chat --rag-extractive: the reply shown without the family's leading space; cut at the token limit, it says so (finish_reason length) before the missing [n]", { timeout: 120_000 }, () =>
  withDocs('gf-rag-cli-extractive-', { 'a.txt': 'Whales breathe air through a blowhole on the top of their head.' }, ({ root, docs, db }) => {
    let r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    const tok = trainTokenizer(['Passages: Question: whales breathe air through a blowhole on the top of their head [1]. '.repeat(20)], { vocabSize: 300 });
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 4 });
    saveCheckpoint(join(root, 'ck'), model, { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const chat = ['chat', '--run', join(root, 'ck'), '--rag', db, '--rag-k', '1', '--rag-extractive', '--prompt', 'how do whales breathe?', '--temperature', '0', '--no-tools'];
    // a random model held to the extractive grammar, cut after 3 tokens: mid-quote or mid-NO_ANSWER
    r = run([...chat, '--max-tokens', '3']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\S/, 'no leading space');
    assert.match(r.stderr, /\(reply cut at 3 tokens: finish_reason length; --max-tokens raises it\)/);
    assert.match(r.stderr, /finish_reason: length \(the constrained reply is incomplete\)/);
    assert.match(r.stderr, /\(reply cut at 3 tokens.*\n.*\n\(no citation; passages shown: \[1\] .*a\.txt/, 'the cut said before the missing citation');
    // room enough: a whole quote with its [1] (or NO_ANSWER), still without the leading space, and no cut line
    r = run([...chat, '--max-tokens', '60']);
    assert.equal(r.status, 0, r.stderr);
    const reply = r.stdout.trimEnd();
    assert.ok(reply === NO_ANSWER || (/^\S.* \[1\]\.$/.test(reply) && 'Whales breathe air through a blowhole on the top of their head'.endsWith(reply.slice(0, -' [1].'.length))), JSON.stringify(reply));
    assert.doesNotMatch(r.stderr, /reply cut/);
  }),
);

test('chat --rag-min-score: every passage below the cutoff → "The passages don\'t say." without the model, said on stderr; --rag-refusal-by-cutoff needs the cutoff and --rag-extractive', { timeout: 120_000 }, () =>
  withDocs('gf-rag-cli-cutoff-', { 'a.txt': 'Whales breathe air through a blowhole on the top of their head.' }, ({ root, docs, db }) => {
    let r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    const tok = trainTokenizer(['Passages: Question: whales breathe air through a blowhole on the top of their head [1]. '.repeat(20)], { vocabSize: 300 });
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 4 });
    saveCheckpoint(join(root, 'ck'), model, { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const chat = ['chat', '--run', join(root, 'ck'), '--rag', db, '--prompt', 'how do whales breathe?', '--temperature', '0', '--no-tools', '--max-tokens', '40'];
    r = run([...chat, '--rag-min-score', '0.99']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trimEnd(), NO_ANSWER);
    assert.match(r.stderr, /\(1 passage retrieved, none at or above --rag-min-score: nothing to answer from, so no model call\)/);
    // fixes46 #1: a one-chunk store is too small for a cutoff, said once before the question (not left to look like the model's refusal)
    assert.equal(r.stderr.match(/^warning: the RAG store holds 1 chunk, fewer than 16: .*--rag-min-score may refuse every question/gm)?.length, 1, r.stderr);
    // a low cutoff lets it through; under --rag-refusal-by-cutoff the grammar makes the model quote it
    r = run([...chat, '--rag-min-score', '0.01', '--rag-extractive', '--rag-refusal-by-cutoff']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trimEnd(), /^\S.* \[1\]\.$/);
    r = run([...chat, '--rag-refusal-by-cutoff']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--rag-refusal-by-cutoff needs --rag-min-score .* and --rag-extractive/);
  }),
);
