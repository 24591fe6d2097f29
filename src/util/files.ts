import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { GptforgeError } from './errors.js';

/**
 * Expand user inputs — files, directories (recursively) and globs (*, ?, **) — into a sorted
 * list of files. A path that does not exist or a glob that matches nothing is an error naming
 * it, so a typo fails at once instead of training on less data than intended.
 */
export function expandInputs(inputs: readonly string[], opts: { extensions?: readonly string[] } = {}): string[] {
  const exts = opts.extensions;
  const keep = (f: string): boolean => !exts || exts.some((e) => f.endsWith(e));
  const out = new Set<string>();
  for (const input of inputs) {
    if (/[*?]/.test(input)) {
      const matches = glob(input).filter(keep);
      if (matches.length === 0) throw new GptforgeError(`the glob matches no ${exts ? exts.join('/') + ' ' : ''}files`, { file: input });
      matches.forEach((m) => out.add(m));
      continue;
    }
    if (!existsSync(input)) throw new GptforgeError('no such file or directory', { file: input });
    if (statSync(input).isDirectory()) {
      const files = walk(input).filter(keep);
      if (files.length === 0) throw new GptforgeError(`the directory has no ${exts ? exts.join('/') + ' ' : ''}files`, { file: input });
      files.forEach((f) => out.add(f));
    } else out.add(input);
  }
  return [...out].sort();
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    // a dangling symlink is listed, so its reader names it as unreadable instead of the walk crashing
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) out.push(p);
    else if (st.isDirectory()) out.push(...walk(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

function globToRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[\\^$+.()|[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function glob(pattern: string): string[] {
  // walk from the longest wildcard-free directory prefix
  const parts = pattern.split('/');
  const fixed: string[] = [];
  for (const p of parts) {
    if (/[*?]/.test(p)) break;
    fixed.push(p);
  }
  const base = fixed.length === 0 ? '.' : fixed.join('/') || '/';
  if (!existsSync(base) || !statSync(base).isDirectory()) return [];
  const re = globToRegex(pattern.startsWith('./') ? pattern.slice(2) : pattern);
  const files = walk(base).map((f) => (base === '.' ? f : f));
  return files.filter((f) => re.test(f.split(sep).join('/')) || re.test(resolve(f)));
}
