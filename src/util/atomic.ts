import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Write a file so that readers only ever see the old or the new complete contents:
 * write to a temp name in the same directory, fsync, then rename over the target.
 * A kill at any moment leaves at worst a stray `.tmp-*` file, never a half-written target.
 */
export function atomicWriteFile(path: string, data: string | Uint8Array): void {
  atomicWriteChunks(path, [typeof data === 'string' ? Buffer.from(data, 'utf8') : data]);
}

/** Write several byte chunks (e.g. a header and tensor buffers) atomically, without concatenating them in memory. */
export function atomicWriteChunks(path: string, chunks: Iterable<Uint8Array>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.tmp-${process.pid}-${Date.now()}-${basename(path)}`);
  const fd = openSync(tmp, 'w');
  try {
    for (const bytes of chunks) {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Atomically replace a whole directory: build it at `<dir>.tmp-*`, then rename into place. */
export function atomicReplaceDir(dir: string, build: (tmpDir: string) => void): void {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    build(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = `${dir}.old-${process.pid}-${Date.now()}`;
  let hadOld = false;
  try {
    renameSync(dir, old);
    hadOld = true;
  } catch {
    // no previous directory
  }
  renameSync(tmp, dir);
  if (hadOld) rmSync(old, { recursive: true, force: true });
}
