import { GptforgeError } from './errors.js';

/**
 * Minimal, typed flag parsing for the CLI: `--name value`, `--name=value`, `--flag`
 * (boolean), `--no-flag`, repeated flags collected into arrays, and positionals.
 * Each command declares its flags so unknown ones are an error, not a silent typo.
 */
export type FlagKind = 'string' | 'number' | 'boolean' | 'strings';

export interface FlagSpec {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean | string[];
  /** Short alias, e.g. "o" for -o. */
  alias?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValue = string | number | boolean | string[] | undefined;

export interface ParsedArgs {
  flags: Record<string, FlagValue>;
  positionals: string[];
  /** Flags given explicitly on the command line (so configs can be overridden by them only). */
  explicit: Set<string>;
}

export function parseArgs(argv: readonly string[], specs: FlagSpecs, command: string): ParsedArgs {
  const flags: Record<string, FlagValue> = {};
  const explicit = new Set<string>();
  const positionals: string[] = [];
  const aliases = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.alias) aliases.set(spec.alias, name);
    if (spec.default !== undefined) flags[name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      value = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const short = arg.slice(1);
      const full = aliases.get(short);
      if (!full) throw new GptforgeError(`unknown option -${short} (see "gptforge ${command} --help")`);
      name = full;
    }
    const spec = specs[name];
    if (!spec && name.startsWith('no-') && specs[name.slice(3)]?.kind === 'boolean') {
      flags[name.slice(3)] = false;
      explicit.add(name.slice(3));
      continue;
    }
    if (!spec) throw new GptforgeError(`unknown option --${name} (see "gptforge ${command} --help")`);
    if (spec.kind === 'boolean') {
      flags[name] = value === undefined ? true : !['false', '0', 'no'].includes(value);
      explicit.add(name);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new GptforgeError(`option --${name} needs a value`);
      value = argv[++i];
    }
    if (spec.kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new GptforgeError(`option --${name} expects a number, got "${value}"`);
      flags[name] = n;
    } else if (spec.kind === 'strings') {
      const prev = explicit.has(name) ? (flags[name] as string[]) : [];
      flags[name] = [...prev, value];
    } else {
      flags[name] = value;
    }
    explicit.add(name);
  }
  return { flags, positionals, explicit };
}

export function formatHelp(usage: string, description: string, specs: FlagSpecs): string {
  const lines = [`Usage: ${usage}`, '', description, '', 'Options:'];
  const entries = Object.entries(specs).map(([name, s]) => {
    const left = `  ${s.alias ? `-${s.alias}, ` : ''}--${name}${s.kind === 'boolean' ? '' : ` <${s.kind === 'strings' ? 'value…' : s.kind}>`}`;
    const def = s.default !== undefined && s.default !== false ? ` (default: ${Array.isArray(s.default) ? s.default.join(',') : s.default})` : '';
    return [left, `${s.help}${def}`] as const;
  });
  entries.push(['  -h, --help', 'show this help']);
  const width = Math.max(...entries.map(([l]) => l.length)) + 2;
  for (const [l, r] of entries) lines.push(l.padEnd(width) + r);
  return lines.join('\n');
}

export function str(a: ParsedArgs, name: string): string | undefined {
  const v = a.flags[name];
  return typeof v === 'string' ? v : undefined;
}
export function num(a: ParsedArgs, name: string): number | undefined {
  const v = a.flags[name];
  return typeof v === 'number' ? v : undefined;
}
export function bool(a: ParsedArgs, name: string): boolean {
  return a.flags[name] === true;
}
export function strs(a: ParsedArgs, name: string): string[] {
  const v = a.flags[name];
  return Array.isArray(v) ? v : [];
}
