import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI (tests spawn it, as a user would run it). */
export const CLI = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'src', 'cli', 'main.js');

/**
 * A preset small enough to start training in seconds: one user text source of a few KB,
 * a 300-token vocabulary, a 1-layer 32-wide model, a step logged every step and a schedule
 * long enough that a test stops it (SIGINT) rather than waiting for it to end.
 */
export function writeTinyPreset(dir: string, opts: { maxSteps?: number; checkpointEvery?: number } = {}): string {
  mkdirSync(dir, { recursive: true });
  const words = ['the', 'whale', 'ship', 'sea', 'captain', 'sailed', 'over', 'a', 'grey', 'morning', 'and', 'night'];
  const lines: string[] = [];
  for (let i = 0; i < 400; i++) lines.push(Array.from({ length: 8 }, (_, j) => words[(i * 7 + j * 3 + (i >> 2)) % words.length]).join(' ') + '.');
  for (let d = 0; d < 4; d++) writeFileSync(join(dir, `doc${d}.txt`), lines.slice(d * 100, d * 100 + 100).join('\n') + '\n');
  writeFileSync(join(dir, 'mixture.json'), JSON.stringify({ sources: [{ name: 'text', paths: [join(dir, '*.txt')], weight: 1 }], tokenBudget: 20_000, seed: 1, valFraction: 0.25, tokenizer: { vocabSize: 300, pattern: 'gpt4' } }));
  const train = { maxSteps: opts.maxSteps ?? 100_000, lr: 0.001, minLr: 0.0001, warmupSteps: 1, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: opts.checkpointEvery ?? 0, keepLast: 2, logEvery: 1 };
  const file = join(dir, 'preset.json');
  writeFileSync(file, JSON.stringify({ name: 'cli-test', mixture: join(dir, 'mixture.json'), model: { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 32, position: 'rope' }, batchSize: 2, seqLen: 16, evalBatches: 1, train }));
  return file;
}

/** Start the CLI; resolves stdout/stderr/exit code when it ends. */
export function startCli(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done };
}

/**
 * Start `gptforge serve` (args after `serve`) and wait until it says ready: the child, its exit,
 * the stderr so far (`err()`, growing) and the address it listens on (`http://host:port`).
 * Fails naming the stderr when it exits or prints no address first (the child killed).
 */
export async function startServe(args: string[]): Promise<{ child: ChildProcess; done: ReturnType<typeof startCli>['done']; err: () => string; addr: string }> {
  const { child, done } = startCli(['serve', ...args]);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await waitFor(() => /ready/.test(err) || child.exitCode !== null, 30_000, 'the server to be ready');
    const addr = /listening on (http:\/\/[^\s]+?)\s/.exec(err)?.[1];
    assert.ok(addr, err);
    return { child, done, err: () => err, addr };
  } catch (e) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw e;
  }
}

/** Poll `cond` every 100 ms until it holds (or fail after `ms`). */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
