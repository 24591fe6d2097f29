/**
 * The benches' command-line check: `--help` / `-h` prints the bench's usage and exits 0, and an
 * unknown flag is refused (exit 2) — before any work, so a mistyped or asked-for-help run never
 * starts a ten-minute measurement. The usage is the bench's own module comment (the comment at
 * the top of its file, which names its flags; tsc keeps it in dist/), so it is written once.
 * Benches that read their flags with node:util's parseArgs use {@link benchParseArgs}; the others
 * declare their flags to {@link checkBenchArgs} and keep reading them as before; a bench of
 * subcommands (bench/techniques.ts) declares each one's arguments to {@link checkBenchSubcommand}.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A flag's form: `value` takes one (`--name V` or `--name=V`), `inline` only `--name=V`, `switch` none. */
export type FlagKind = 'value' | 'inline' | 'switch';

/**
 * The usage text of the bench at `moduleUrl` (its `import.meta.url`): its first doc comment, unstarred.
 * @param command how it is run when another bench dispatches to it ("techniques.js tot-value-data"; default its own file).
 */
export function benchUsage(moduleUrl: string, command?: string): string {
  const file = fileURLToPath(moduleUrl);
  const name = basename(file).replace(/\.(ts|js|mjs)$/, '');
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
  // a plain-JavaScript bench (bench/rag-lancedb.mjs) is run from bench/ itself, not compiled into dist/bench/
  const run = file.endsWith('.mjs') ? `bench/${basename(file)}${command ? ` ${command}` : ' [flags]'}` : `dist/bench/${command ?? `${name}.js [flags]`}`;
  return `usage: node ${run}${text ? `\n\n${text}` : ''}\n`;
}

function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

function refuse(moduleUrl: string, problem: string, name = basename(fileURLToPath(moduleUrl)).replace(/\.(ts|js|mjs)$/, '')): never {
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
export function checkBenchArgs(moduleUrl: string, flags: Record<string, FlagKind>, opts: { positional?: number; argv?: readonly string[]; command?: string } = {}): number {
  const argv = opts.argv ?? process.argv.slice(2);
  // a dispatched bench's messages name the command that runs it ("techniques tot-value-data")
  const who = opts.command?.replace(/\.js\b/, '');
  if (wantsHelp(argv)) {
    process.stdout.write(benchUsage(moduleUrl, opts.command));
    process.exit(0);
  }
  let plain = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') {
      if (++plain > (opts.positional ?? 0)) refuse(moduleUrl, `unexpected argument "${a}"`, who);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq >= 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
    const kind = Object.hasOwn(flags, name) ? flags[name] : undefined;
    if (kind === undefined) refuse(moduleUrl, `unknown flag ${eq >= 0 ? a.slice(0, eq) : a}`, who);
    if (kind === 'switch' && eq >= 0) refuse(moduleUrl, `--${name} takes no value`, who);
    if (kind === 'inline' && eq < 0) refuse(moduleUrl, `--${name} needs its value as --${name}=…`, who);
    if (kind === 'value' && eq < 0) {
      if (i + 1 >= argv.length) refuse(moduleUrl, `--${name} needs a value`, who);
      i++;
    }
  }
  return plain;
}

/** A subcommand of a bench that dispatches (bench/techniques.ts): its arguments and its usage. */
export interface BenchSubcommand {
  /** Its plain arguments after the subcommand's name: at least `min`, at most `max` (`<dir> [n]`: [1, 2]). */
  args: readonly [min: number, max: number];
  /** The `import.meta.url` of the module whose comment is its usage (bench/techniques-tot.ts); default the dispatcher's. */
  usage?: string;
  /** Its flags, as {@link checkBenchArgs} takes them (default none). */
  flags?: Record<string, FlagKind>;
}

/**
 * {@link checkBenchArgs} for a bench of subcommands, before any work: with no arguments, `--help`
 * or `-h` it prints the dispatcher's usage (exit 0 when asked for, 2 when no subcommand was
 * given); `<sub> --help` prints that subcommand's usage (its module's comment); an unknown
 * subcommand, an unknown flag, too few or too many arguments exit 2 naming them.
 * @returns the subcommand's name.
 */
export function checkBenchSubcommand(moduleUrl: string, subcommands: Record<string, BenchSubcommand>, opts: { argv?: readonly string[] } = {}): string {
  const argv = opts.argv ?? process.argv.slice(2);
  const [cmd, ...rest] = argv;
  const bench = basename(fileURLToPath(moduleUrl)).replace(/\.(ts|js)$/, '');
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    (cmd === undefined ? process.stderr : process.stdout).write(benchUsage(moduleUrl, `${bench}.js <subcommand> …`));
    process.exit(cmd === undefined ? 2 : 0);
  }
  if (!Object.hasOwn(subcommands, cmd)) refuse(moduleUrl, `unknown subcommand "${cmd}" (one of: ${Object.keys(subcommands).join(', ')})`);
  const sub = subcommands[cmd];
  const command = `${bench}.js ${cmd}`;
  const plain = checkBenchArgs(sub.usage ?? moduleUrl, sub.flags ?? {}, { positional: sub.args[1], argv: rest, command });
  if (plain < sub.args[0]) refuse(moduleUrl, `needs ${sub.args[0] === sub.args[1] ? '' : 'at least '}${sub.args[0]} argument${sub.args[0] === 1 ? '' : 's'}, got ${plain}`, `${bench} ${cmd}`);
  return cmd;
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
