import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { GptforgeError } from './errors.js';

/**
 * Expand user inputs — files, directories (recursively) and globs (*, ?, **, [..], {a,b}) — into a sorted
 * list of files. A path that does not exist or a glob that matches nothing is an error naming
 * it, so a typo fails at once instead of training on less data than intended.
 */
export function expandInputs(inputs: readonly string[], opts: { extensions?: readonly string[] } = {}): string[] {
  const exts = opts.extensions;
  const keep = (f: string): boolean => !exts || exts.some((e) => f.endsWith(e));
  const out = new Set<string>();
  for (const input of inputs) {
    if (isDynamicPattern(input)) {
      const matches = glob(input).filter(keep);
      if (matches.length === 0) throw new GptforgeError(`the glob matches no ${exts ? exts.join('/') + ' ' : ''}files${at(input)}`, { file: input });
      matches.forEach((m) => out.add(m));
      continue;
    }
    if (!existsSync(input)) throw new GptforgeError(`no such file or directory${at(input)}`, { file: input });
    if (statSync(input).isDirectory()) {
      const files = walk(input).filter(keep);
      if (files.length === 0) throw new GptforgeError(`the directory has no ${exts ? exts.join('/') + ' ' : ''}files`, { file: input });
      files.forEach((f) => out.add(f));
    } else out.add(input);
  }
  return [...out].sort();
}

/** Where a relative input was looked for (` (looked at /abs/path)`), so a wrong working directory shows; '' for an absolute one. */
function at(input: string): string {
  return isAbsolute(input) ? '' : ` (looked at ${resolve(input)})`;
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

/**
 * Files a glob matches, through tinyglobby (picomatch syntax: *, **, ?, [abc], {a,b}); dotfiles
 * included, as a directory input includes them. Absolute patterns give absolute paths, relative
 * ones paths relative to the working directory, as the walk of a directory input does.
 * Why not our own walker any more (measured on this repository's node_modules, 2 shared Zen 3
 * cores): every .md file below it, a recursive double-star glob, took 1,161 ms with ours and
 * 375 ms with tinyglobby (the same 885 files); every package.json one level below
 * node_modules/@huggingface, 70 ms vs 2 ms (ours walked the whole subtree).
 */
function glob(pattern: string): string[] {
  return globSync(pattern, { onlyFiles: true, dot: true, expandDirectories: false, absolute: isAbsolute(pattern) });
}
