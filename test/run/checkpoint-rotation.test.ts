import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkpointName, checkpointReadHooks, isCheckpointRace, loadCheckpoint, readNewestCheckpoint, REPLACED_CHECKPOINT_ATTEMPTS, saveCheckpoint, withResolvedCheckpoint } from '../../src/model/checkpoint.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { loadGenerationModel, loadModel } from '../../src/run/models.js';
import { loadRunModels } from '../../src/server/models.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { GptforgeError } from '../../src/util/errors.js';
import { tempDir } from '../util/tmp.js';

// The race of test/cli/lock.test.ts, without timing: a reader resolves a stage's newest checkpoint,
// then a training run saves a newer one and its keepLast rotation prunes the one resolved, before
// the reader reads it. checkpointReadHooks.afterResolve runs exactly there.

const tok = trainTokenizer(['the whale swims in the sea. '.repeat(20)], { vocabSize: 280 });
const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 1, nHead: 1, nEmbd: 8 });

/** What a training run's save does: a new step-N in runDir/base, keepLast pruning the older ones. */
function save(runDir: string, step: number, keepLast = 1): string {
  return saveCheckpoint(join(runDir, 'base'), new GPT(config, { seed: step }), { stage: 'pretrain', step, keepLast, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
}

/** Run `read` with afterResolve set to `hook` (given each resolved directory and its call number), then unset it. */
function withHook<T>(hook: (dir: string, call: number) => void, read: () => T): { result: T; resolved: string[] } {
  const resolved: string[] = [];
  checkpointReadHooks.afterResolve = (dir) => {
    resolved.push(dir);
    hook(dir, resolved.length);
  };
  try {
    return { result: read(), resolved };
  } finally {
    checkpointReadHooks.afterResolve = undefined;
  }
}

test('a reader of a run whose resolved checkpoint is pruned by a newer save before it is read loads the newer one (sample, loadModel, serve)', () => {
  const runDir = tempDir('gf-rot-');
  save(runDir, 655);
  // gptforge sample's loader: before, "step-0000655: not a checkpoint (no config.json)"
  const g = withHook(
    (_dir, call) => void (call === 1 && save(runDir, 660)),
    () => loadGenerationModel(runDir),
  );
  assert.deepEqual(
    g.resolved.map((d) => basename(d)),
    [checkpointName(655), checkpointName(660)],
  );
  assert.equal(g.result.step, 660);
  assert.equal(basename(g.result.dir), checkpointName(660));
  // a stage directory, through loadModel (fresh: step 660 is cached in memory, and needs no file)
  const m = withHook(
    (_dir, call) => void (call === 1 && save(runDir, 665)),
    () => loadModel(join(runDir, 'base'), undefined, { fresh: true }),
  );
  assert.equal(m.result.step, 665);
  assert.equal(m.resolved.length, 2);
  // the server's loader (serve, the web UI)
  const s = withHook(
    (_dir, call) => void (call === 1 && save(runDir, 670)),
    () => loadRunModels(runDir, ['base']),
  );
  assert.equal(basename(s.result.get('base')!.dir), checkpointName(670));
});

test('a checkpoint half-deleted while read (a newer one saved) is read again at the newer one', () => {
  const runDir = tempDir('gf-rot-');
  save(runDir, 10, 3);
  // the rotation has removed some files of the one resolved and not yet the directory
  const r = withHook(
    (dir, call) => {
      if (call !== 1) return;
      save(runDir, 15, 3);
      rmSync(join(dir, 'tokenizer.json'));
      rmSync(join(dir, 'model.safetensors'));
    },
    () => loadModel(runDir, 'base'),
  );
  assert.equal(r.result.step, 15);
});

test('an explicit step-N directory is read once: missing, or deleted while read, it fails at once naming it', () => {
  const runDir = tempDir('gf-rot-');
  const old = save(runDir, 5);
  save(runDir, 10);
  // pruned before it was asked for
  assert.throws(
    () => loadModel(old),
    (e: unknown) => e instanceof GptforgeError && e.file === old && /no such checkpoint directory .*the newest now is .*step-0000010/.test(e.message),
  );
  const named = join(runDir, 'base', checkpointName(10));
  let calls = 0;
  assert.throws(
    () =>
      withHook(
        () => {
          calls++;
          save(runDir, 15); // prunes step 10 (keepLast 1)
        },
        () => loadGenerationModel(named),
      ),
    (e: unknown) => e instanceof GptforgeError && e.file === named && /not a checkpoint/.test(e.message),
  );
  assert.equal(calls, 1, 'an explicit checkpoint is not re-resolved');
  // and withResolvedCheckpoint itself calls `use` once for it
  let uses = 0;
  assert.throws(() =>
    withResolvedCheckpoint(join(runDir, 'base', checkpointName(15)), undefined, (dir) => {
      uses++;
      rmSync(dir, { recursive: true });
      return loadCheckpoint(dir);
    }),
  );
  assert.equal(uses, 1);
});

test("a checkpoint's own error is thrown as it is when no newer checkpoint replaced it", () => {
  const runDir = tempDir('gf-rot-');
  const dir = save(runDir, 7);
  writeFileSync(join(dir, 'config.json'), '{ "stage": ');
  const r = { calls: 0 };
  assert.throws(
    () =>
      withHook(
        () => r.calls++,
        () => loadModel(runDir),
      ),
    (e: unknown) => e instanceof GptforgeError && /corrupt checkpoint config/.test(e.message) && e.file === join(dir, 'config.json'),
  );
  assert.equal(r.calls, 1);
});

test('a checkpoint replaced on every try: after REPLACED_CHECKPOINT_ATTEMPTS the error names the stage and the steps tried', () => {
  const runDir = tempDir('gf-rot-');
  save(runDir, 100);
  let step = 100;
  assert.throws(
    () =>
      withHook(
        () => void save(runDir, (step += 5)),
        () => loadModel(runDir, 'base'),
      ),
    (e: unknown) => e instanceof GptforgeError && e.file === join(runDir, 'base') && e.message.includes(`${REPLACED_CHECKPOINT_ATTEMPTS} times`) && e.message.includes('step-0000100 → step-0000105') && /name one step-N directory/.test(e.message),
  );
  assert.equal(step, 100 + 5 * REPLACED_CHECKPOINT_ATTEMPTS);
});

// fixes46 #6: any error was retried on a newer checkpoint, hiding a corrupt file or a permission error behind the next save
test('only the rotation race is retried: a corrupt file or EACCES in the resolved checkpoint is thrown at once naming the file, though a newer one was saved; a truncated one is read again at the newer', () => {
  const runDir = tempDir('gf-rot-');
  save(runDir, 20, 3);
  const corrupt = withHookThrows((dir) => {
    save(runDir, 25, 3);
    const bad = Buffer.alloc(16);
    bad.writeBigUInt64LE(8n);
    bad.write('not json', 8);
    writeFileSync(join(dir, 'model.safetensors'), bad);
    return join(dir, 'model.safetensors');
  });
  assert.ok(corrupt.error instanceof GptforgeError && /corrupt safetensors header/.test(corrupt.error.message), String(corrupt.error));
  assert.equal((corrupt.error as GptforgeError).file, corrupt.file);
  assert.equal(corrupt.calls, 1, 'not retried on the newer step 25');

  // EACCES (root reads past chmod, so the reader's fs call is stood in for): thrown as a GptforgeError naming the file, code kept
  const [older, newer] = [save(runDir, 30, 3), save(runDir, 35, 3)];
  let uses = 0;
  const denied = Object.assign(new Error(`EACCES: permission denied, open '${join(older, 'model.safetensors')}'`), { code: 'EACCES', path: join(older, 'model.safetensors') });
  assert.throws(
    () =>
      readNewestCheckpoint(
        older,
        () => newer,
        () => {
          uses++;
          throw denied;
        },
        runDir,
      ),
    (e: unknown) => e instanceof GptforgeError && e.file === join(older, 'model.safetensors') && (e as GptforgeError & { code?: string }).code === 'EACCES' && /cannot read the checkpoint: EACCES/.test(e.message),
  );
  assert.equal(uses, 1);
  assert.equal(isCheckpointRace(denied, older), false);
  assert.equal(isCheckpointRace(Object.assign(new Error('gone'), { code: 'ENOENT' }), older), true);
  assert.equal(isCheckpointRace(new Error('anything'), join(runDir, 'base', 'step-9999999')), true, 'its directory gone: rotated away');

  // a truncated file with a newer checkpoint saved: the race (read short while replaced), read again at the newer
  const r = withHook(
    (dir, call) => {
      if (call !== 1) return;
      save(runDir, 40, 3);
      truncateSync(join(dir, 'model.safetensors'), 100);
    },
    () => loadModel(runDir, 'base'),
  );
  assert.equal(r.result.step, 40);
  assert.equal(r.resolved.length, 2);

  /** loadModel(runDir) with the resolved checkpoint spoiled by `spoil` (which returns the file it spoiled) on the first call; the error, the file, the calls. */
  function withHookThrows(spoil: (dir: string) => string): { error: unknown; file: string; calls: number } {
    let file = '';
    let calls = 0;
    try {
      withHook(
        (dir) => {
          calls++;
          if (calls === 1) file = spoil(dir);
        },
        () => loadModel(runDir, 'base'),
      );
    } catch (error) {
      return { error, file, calls };
    }
    throw new Error('expected the read to fail');
  }
});
