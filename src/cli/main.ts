#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, type CommandUnknownOpts } from '@commander-js/extra-typings';
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

/** Commander's own errors (unknown option, missing value) as one line "gptforge: error: …", and no process.exit inside it. */
function configure(c: CommandUnknownOpts): void {
  c.exitOverride()
    .configureOutput({ outputError: (s, write) => write(`gptforge: ${s}`) })
    .showSuggestionAfterError();
  // before the subcommand parses its flags (an option's parser may throw too)
  c.hook('preSubcommand', (_c, sub) => {
    active = sub;
  });
  for (const sub of c.commands) configure(sub);
}

/**
 * A library error names a field by its option name (`topP`, `basePrecision`); at the command line
 * the user typed a flag, so say `--top-p`. Errors about a file's field (file set) keep the field.
 */
function asTyped(err: GptforgeError): string {
  if (err.file !== undefined || active === undefined) return err.message;
  const options = active.options;
  return err.format({ fieldName: (field) => options.find((o) => o.attributeName() === field || o.long === field)?.long });
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
  // only the named command's module is loaded; the command list (help, an unknown name) loads all
  for (const n of name !== undefined && name in COMMANDS ? [name] : Object.keys(COMMANDS)) program.addCommand((await COMMANDS[n]()).command);
  configure(program as unknown as CommandUnknownOpts);
  // a forced kernel path this CPU lacks (GPTFORGE_ISA) fails here, not after the data is prepared
  if (process.env.GPTFORGE_ISA && name !== undefined && name in COMMANDS) (await import('../engine/backend.js')).getKernels();
  await program.parseAsync(name === undefined ? ['--help'] : [name, ...argv.slice(1)], { from: 'user' });
}

exitOnSignals();
// A stage stopped by Ctrl-C sets process.exitCode = 130 (interrupt.ts): it is kept, so a script
// can tell a stopped run from a finished one.
main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode; // --help and --version: 0; commander printed its error already
  } else if (err instanceof GptforgeError) {
    console.error(`gptforge: ${asTyped(err)}`);
    process.exitCode = 1;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
});
