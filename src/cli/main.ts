#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, type CommandUnknownOpts, type Option } from '@commander-js/extra-typings';
import { GptforgeError } from '../util/errors.js';
import { exitOnSignals } from './interrupt.js';

/**
 * The `gptforge` entry point. Each command is one commander definition in its own module (its
 * summary, description and one line per option: the source of its --help and of the list
 * below), loaded only when used, so a broken stage cannot break the others. A command parses,
 * calls a runner of the run layer (src/run) and prints.
 */
const COMMANDS: Record<string, () => Promise<{ command: CommandUnknownOpts }>> = {
  tokenizer: () => import('./tokenizer.js'),
  data: () => import('./data.js'),
  pretrain: () => import('./pretrain.js'),
  sft: () => import('./sft.js'),
  chat: () => import('./chat.js'),
  label: () => import('./label.js'),
  rm: () => import('./rm.js'),
  rl: () => import('./rl.js'),
  dpo: () => import('./dpo.js'),
  eval: () => import('./eval.js'),
  sample: () => import('./sample.js'),
  serve: () => import('./serve.js'),
  pipeline: () => import('./pipeline.js'),
  export: () => import('./export.js'),
  import: () => import('./import.js'),
  rag: () => import('./rag.js'),
  ask: () => import('./ask.js'),
  merge: () => import('./merge.js'),
};

const ENVIRONMENT = `
Run "gptforge <command> --help" for the options of a command.
Environment: GPTFORGE_BACKEND=native|reference, GPTFORGE_ISA=avx512|avx2|scalar|neon (force a kernel path), GPTFORGE_THREADS=<n>, GPTFORGE_PEAK_GFLOPS=<n> (the peak MFU is measured against).`;

/** The command being run (set before it parses its flags): its flags name the fields of the library's errors. */
let active: CommandUnknownOpts | undefined;

/**
 * Commander's own errors in our one style ("gptforge: --max-tokens: expects a number, got
 * "abc""), and no process.exit inside it. An option-argument parser's refusal (ours in
 * util/args.ts, or commander's for `.choices()`) becomes a GptforgeError naming the option,
 * printed as every library error is; commander's other errors (a missing value, an unknown
 * option or command) are rephrased from its CommanderError by `commanderMessage`.
 */
function configure(c: CommandUnknownOpts): void {
  c.exitOverride()
    .configureOutput({ outputError: () => undefined }) // main's catch prints it, rephrased
    .showSuggestionAfterError();
  // before the subcommand parses its flags (an option's parser may throw too)
  c.hook('preSubcommand', (_c, sub) => {
    active = sub;
  });
  for (const o of c.options) namedParseErrors(o);
  for (const sub of c.commands) configure(sub);
}

/** `o`'s argument parser, refusing with a GptforgeError at `o`'s field instead of commander's "argument 'x' is invalid. …". */
function namedParseErrors(o: Option): void {
  const parse = o.parseArg;
  if (!parse) return;
  const field = o.attributeName();
  o.parseArg = <T>(value: string, previous: T): T => {
    try {
      return parse(value, previous);
    } catch (e) {
      // commander's test (_callParseArg): an InvalidArgumentError, whichever copy of commander made it
      if ((e as { code?: unknown })?.code !== 'commander.invalidArgument') throw e;
      // commander's own choices check says "Allowed choices are a, b." without the value
      const detail = o.argChoices ? `expects one of ${o.argChoices.join(', ')}, got ${JSON.stringify(value)}` : (e as Error).message;
      throw new GptforgeError(detail, { field });
    }
  };
}

/** The long flag of commander's `flags` text ("-n, --num-samples <n>" → "--num-samples"). */
function flagOf(flags: string): string {
  return /--[\w-]+/.exec(flags)?.[0] ?? flags.split(/[ ,]/)[0];
}

/**
 * A CommanderError's message in our style. Commander builds its messages in fixed forms
 * (commander/lib/command.js: optionMissingArgument, unknownOption, unknownCommand …); one of
 * another form (a later commander) keeps its text, less the "error: " prefix.
 */
function commanderMessage(err: CommanderError): string {
  const msg = err.message.replace(/^error: /, '');
  const suggestion = /\s*\(Did you mean (.+)\?\)$/.exec(msg);
  const didYouMean = suggestion ? `; did you mean ${suggestion[1]}?` : '';
  const text = suggestion ? msg.slice(0, suggestion.index) : msg;
  const path: string[] = [];
  for (let c: CommandUnknownOpts | null = active ?? null; c; c = c.parent) path.unshift(c.name());
  const help = `${path.length > 0 ? path.join(' ') : 'gptforge'} --help`;
  let m: RegExpExecArray | null;
  if (err.code === 'commander.optionMissingArgument' && (m = /^option '(.+)' argument missing$/.exec(text))) return `${flagOf(m[1])}: needs a value (${m[1]})`;
  if (err.code === 'commander.unknownOption' && (m = /^unknown option '(.+)'$/.exec(text))) return `${m[1]}: unknown option${didYouMean} (${help} lists them)`;
  if (err.code === 'commander.unknownCommand' && (m = /^unknown command '(.+)'$/.exec(text))) return `unknown command "${m[1]}"${didYouMean} (gptforge --help lists them)`;
  if (err.code === 'commander.excessArguments' && (m = /^too many arguments(?: for '.+')?\. Expected (\d+) arguments? but got (\d+)\.$/.exec(text))) {
    const takes = m[1] === '0' ? 'takes no arguments' : `takes ${m[1]} argument${m[1] === '1' ? '' : 's'}`;
    const hint = active?.commands.length ? `a misspelt subcommand? ${help} lists them` : `${help} lists its options`;
    return `${path.slice(1).join(' ') || 'gptforge'} ${takes} (got ${m[2]}): ${hint}`;
  }
  if (err.code === 'commander.missingMandatoryOptionValue' && (m = /^required option '(.+)' not specified$/.exec(text))) return `${flagOf(m[1])}: required (${m[1]})`;
  return `${text}${didYouMean}`;
}

/**
 * A library error names a field by its option name (`topP`, `basePrecision`); at the command line
 * the user typed a flag, so say `--top-p`. A field inside an option's value (`lora.r`, a field of
 * the `--lora` spec) is named as the flag and that field: `--lora r`; a positional argument by its
 * name (`question: …`). Errors about a file's field
 * (file set) keep the field.
 */
function asTyped(err: GptforgeError): string {
  if (err.file !== undefined || active === undefined) return err.message;
  const options = active.options;
  const positionals = active.registeredArguments.map((a) => a.name());
  // a library option spelled differently from its flag: runSft's `steps` is `--max-steps`
  const aliases: Record<string, string> = { steps: 'maxSteps' };
  const flag = (field: string): string | undefined => options.find((o) => o.attributeName() === field || o.long === field)?.long ?? (aliases[field] === undefined ? undefined : options.find((o) => o.attributeName() === aliases[field])?.long);
  return err.format({
    fieldName: (field) => {
      // a positional argument (ask's question) is named as the help shows it, not as a field
      if (positionals.includes(field)) return field;
      const whole = flag(field);
      const dot = field.indexOf('.');
      if (whole !== undefined || dot < 0) return whole;
      const head = flag(field.slice(0, dot));
      return head === undefined ? undefined : `${head} ${field.slice(dot + 1)}`;
    },
  });
}

async function main(argv: string[]): Promise<void> {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('gptforge')
    .description('gptforge — train your own GPT assistant end to end, on your own machine.')
    .usage('<command> [options]')
    .version(pkg.version, '-v, --version')
    .helpCommand(false)
    .enablePositionalOptions() // a subcommand's options are its own (rm score --run)
    .addHelpText('after', ENVIRONMENT);
  const name = argv[0] === 'help' ? '--help' : argv[0];
  // only the named command's module is loaded (light: each loads its stage's code when it runs);
  // the command list (help, an unknown name) loads all, --version none
  const version = name === '-v' || name === '--version';
  for (const n of name !== undefined && name in COMMANDS ? [name] : version ? [] : Object.keys(COMMANDS)) program.addCommand((await COMMANDS[n]()).command);
  configure(program as unknown as CommandUnknownOpts);
  // a forced kernel path this CPU lacks (GPTFORGE_ISA) fails here, not after the data is prepared
  if (process.env.GPTFORGE_ISA && name !== undefined && name in COMMANDS) (await import('../engine/backend.js')).getKernels();
  await program.parseAsync(name === undefined ? ['--help'] : [name, ...argv.slice(1)], { from: 'user' });
}

exitOnSignals();
// A reader that stops early (`gptforge sample --help | head -1`, `… | true`) closes the pipe: the
// next write fails with EPIPE, which would crash with a stack trace. Like `cat` or `seq`, stop
// quietly instead: the reader took what it wanted.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
// A stage stopped by Ctrl-C sets process.exitCode = 130 (interrupt.ts): it is kept, so a script
// can tell a stopped run from a finished one.
main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help, --version (exit code 0) and help shown for a missing subcommand (1): printed already; a usage error: one line, exit code 1 as any other error
    if (err.exitCode !== 0 && err.code !== 'commander.help') console.error(`gptforge: ${commanderMessage(err)}`);
    process.exitCode = err.exitCode;
  } else if (err instanceof GptforgeError) {
    console.error(`gptforge: ${asTyped(err)}`);
    process.exitCode = 1;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
});
