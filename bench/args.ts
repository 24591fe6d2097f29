/**
 * The benches' command-line check: `--help` / `-h` prints the bench's usage and exits 0, and an
 * unknown flag is refused (exit 2) — before any work, so a mistyped or asked-for-help run never
 * starts a ten-minute measurement. The usage is the bench's own module comment (the comment at
 * the top of its file, which names its flags; tsc keeps it in dist/), so it is written once.
 * Benches that read their flags with node:util's parseArgs use {@link benchParseArgs}; the others
 * declare their flags to {@link checkBenchArgs} and keep reading them as before.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A flag's form: `value` takes one (`--name V` or `--name=V`), `inline` only `--name=V`, `switch` none. */
export type FlagKind = 'value' | 'inline' | 'switch';

/** The usage text of the bench at `moduleUrl` (its `import.meta.url`): its first doc comment, unstarred. */
export function benchUsage(moduleUrl: string): string {
  const file = fileURLToPath(moduleUrl);
  const name = basename(file).replace(/\.(ts|js)$/, '');
  let text = '';
  try {
    const m = /\/\*\*([\s\S]*?)\*\//.exec(readFileSync(file, 'utf8'));
    if (m)
      text = m[1]
        .split('\n')
        .map((l) => l.replace(/^\s*\* ?/, ''))
        .join('\n')
        .trim();
  } catch {
    // no source to read: the bare line below
  }
  return `usage: node dist/bench/${name}.js [flags]${text ? `\n\n${text}` : ''}\n`;
}

function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

function refuse(moduleUrl: string, problem: string): never {
  const name = basename(fileURLToPath(moduleUrl)).replace(/\.(ts|js)$/, '');
  process.stderr.write(`bench ${name}: ${problem} (--help for the usage)\n`);
  process.exit(2);
}

/**
 * Checks `argv` (default the process's arguments) against the bench's flags: prints the usage
 * and exits 0 on `--help` / `-h`; exits 2 naming the argument on an unknown flag, a value flag
 * without its value, or (unless `positional` allows up to that many) a stray argument.
 * @param flags the flag names without `--`, each with its {@link FlagKind}.
 * @param positional how many plain arguments the bench takes (default 0).
 */
export function checkBenchArgs(moduleUrl: string, flags: Record<string, FlagKind>, opts: { positional?: number; argv?: readonly string[] } = {}): void {
  const argv = opts.argv ?? process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(benchUsage(moduleUrl));
    process.exit(0);
  }
  let plain = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') {
      if (++plain > (opts.positional ?? 0)) refuse(moduleUrl, `unexpected argument "${a}"`);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq >= 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
    const kind = Object.hasOwn(flags, name) ? flags[name] : undefined;
    if (kind === undefined) refuse(moduleUrl, `unknown flag ${eq >= 0 ? a.slice(0, eq) : a}`);
    if (kind === 'switch' && eq >= 0) refuse(moduleUrl, `--${name} takes no value`);
    if (kind === 'inline' && eq < 0) refuse(moduleUrl, `--${name} needs its value as --${name}=…`);
    if (kind === 'value' && eq < 0) {
      if (i + 1 >= argv.length) refuse(moduleUrl, `--${name} needs a value`);
      i++;
    }
  }
}

/**
 * node:util's parseArgs (strict: unknown flags throw) with the bench's usage on `--help` / `-h`
 * (exit 0) and a parse error as one line (exit 2) instead of a stack trace.
 */
export function benchParseArgs<T extends ParseArgsConfig>(moduleUrl: string, config: T): ReturnType<typeof parseArgs<T>> {
  const argv = config.args ?? process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(benchUsage(moduleUrl));
    process.exit(0);
  }
  try {
    return parseArgs<T>(config);
  } catch (e) {
    refuse(moduleUrl, (e as Error).message);
  }
}
