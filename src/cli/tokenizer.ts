import { readFileSync } from 'node:fs';
import { readJSONL, readTextFile } from '../data/jsonl.js';
import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { expandInputs } from '../util/files.js';
import { Progress } from '../util/progress.js';
import { DIGIT_PAIRS, Tokenizer, trainTokenizer } from '../tokenizer/index.js';
import { dirname } from 'node:path';
import { holdRunLock } from '../util/lock.js';

/** gptforge tokenizer train|encode|decode|info */
const TRAIN: FlagSpecs = {
  input: { kind: 'strings', help: 'training text: files, directories or globs (.txt, .md, .jsonl "text" fields); repeatable', alias: 'i' },
  'vocab-size': { kind: 'number', help: 'vocabulary size including the 14 special tokens', default: 4096 },
  out: { kind: 'string', help: 'where to write tokenizer.json', default: 'tokenizer.json', alias: 'o' },
  pattern: { kind: 'string', help: 'pre-split: gpt4 (GPT-4 with digits in groups of ≤ 2) | gpt4-digits (one per digit) | cl100k | o200k | gpt2 | none | a regex (Oniguruma syntax, as in tokenizer.json; text it does not match is kept as pieces of its own)', default: 'gpt4' },
  'digit-pairs': { kind: 'boolean', help: 'make all 100 two-digit strings tokens first (with gpt4: every number is whole two-digit tokens)' },
  mode: { kind: 'string', help: 'bpe | char (one token per character, for char-level benchmarks)', default: 'bpe' },
  'max-bytes': { kind: 'number', help: 'read at most this many bytes of input (0 = all)', default: 0 },
  'no-specials': { kind: 'boolean', help: 'add no special tokens' },
};
const USE: FlagSpecs = {
  tokenizer: { kind: 'string', help: 'tokenizer.json (ours or Hugging Face) or a .tiktoken rank file', alias: 't', default: 'tokenizer.json' },
  text: { kind: 'string', help: 'the text (default: read standard input)' },
  file: { kind: 'string', help: 'read the text from this file' },
  ids: { kind: 'string', help: 'decode: comma- or space-separated ids (default: standard input)' },
  special: { kind: 'string', help: 'encode: special-token text in the input — error (refuse it) | allow (encode it as the special token) | plain (encode it as ordinary text)', default: 'error' },
  'allow-special': { kind: 'boolean', help: 'encode: same as --special allow' },
  pattern: { kind: 'string', help: 'pre-split pattern for .tiktoken files: cl100k | o200k | gpt2 | a regex (default: from the file name, e.g. cl100k_base.tiktoken, else cl100k)' },
};

const HELP = `gptforge tokenizer — byte-level BPE tokenizers

  gptforge tokenizer train  --input <files|dirs|globs> --vocab-size N --out tokenizer.json
  gptforge tokenizer encode --tokenizer tokenizer.json --text "hello" [--special error|allow|plain]  (prints ids)
  gptforge tokenizer decode --tokenizer tokenizer.json --ids "1 2 3"      (prints text)
  gptforge tokenizer info   --tokenizer tokenizer.json [--file sample.txt] (vocab, specials, bytes/token)

Run "gptforge tokenizer <sub> --help" for the options.`;

function readTextInputs(files: string[], maxBytes: number): string[] {
  const texts: string[] = [];
  let total = 0;
  for (const f of files) {
    if (f.endsWith('.jsonl')) {
      // the shared reader: BOM, CRLF/CR, encodings refused by name (src/data/jsonl.ts)
      readJSONL(f, 'input', (rec, where) => {
        const t = (rec as { text?: unknown } | null)?.text;
        if (typeof t !== 'string') throw new GptforgeError('no string "text" field', { ...where, field: 'text' });
        texts.push(t);
        total += Buffer.byteLength(t);
      });
    } else {
      const raw = readTextFile(f, 'input');
      texts.push(raw);
      total += Buffer.byteLength(raw);
    }
    if (maxBytes > 0 && total >= maxBytes) break;
  }
  return texts;
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

export const command: Command = {
  summary: 'train a byte-level BPE tokenizer; encode, decode, info',
  async run(argv: string[]): Promise<void> {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h') {
      console.log(HELP);
      return;
    }
    if (sub === 'train') {
      if (rest.includes('--help') || rest.includes('-h')) return void console.log(formatHelp('gptforge tokenizer train --input <files> [options]', 'Train a tokenizer on text files.', TRAIN));
      const a = parseArgs(rest, TRAIN, 'tokenizer train');
      holdRunLock(dirname(str(a, 'out')!), 'run', { create: true }); // the run it writes into (src/util/lock.ts)
      const inputs = [...strs(a, 'input'), ...a.positionals];
      if (inputs.length === 0) throw new GptforgeError('no --input given (files, directories or globs of text)');
      const files = expandInputs(inputs, { extensions: ['.txt', '.md', '.jsonl', '.text'] });
      const texts = readTextInputs(files, num(a, 'max-bytes') ?? 0);
      const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);
      const vocabSize = num(a, 'vocab-size')!;
      const mode = str(a, 'mode') === 'char' ? 'char' : 'bpe';
      console.error(`training a ${mode} tokenizer on ${files.length} file(s), ${(bytes / 1e6).toFixed(1)} MB`);
      // created on the first report, which carries the real number of merges (it depends on the specials)
      let bar: Progress | undefined;
      const t0 = performance.now();
      const tok = trainTokenizer(texts, {
        vocabSize,
        mode,
        pattern: str(a, 'pattern'),
        specialTokens: bool(a, 'no-specials') ? [] : undefined,
        requiredTokens: bool(a, 'digit-pairs') ? DIGIT_PAIRS : undefined,
        onProgress: (done, total) => (bar ??= new Progress({ label: 'merges', total: Math.max(1, total) })).update(done),
      });
      bar?.finish();
      const out = str(a, 'out')!;
      tok.save(out);
      const sample = texts.join('\n').slice(0, 2_000_000);
      const ratio = Buffer.byteLength(sample) / Math.max(1, tok.encodeOrdinary(sample).length);
      console.log(`wrote ${out}: vocabulary ${tok.vocabSize}, ${ratio.toFixed(2)} bytes/token on the training text, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return;
    }
    if (!['encode', 'decode', 'info'].includes(sub)) throw new GptforgeError(`unknown subcommand "${sub}" (train, encode, decode, info)`);
    if (rest.includes('--help') || rest.includes('-h')) return void console.log(formatHelp(`gptforge tokenizer ${sub} [options]`, HELP, USE));
    const a = parseArgs(rest, USE, `tokenizer ${sub}`);
    const tok = Tokenizer.load(str(a, 'tokenizer')!, { pattern: str(a, 'pattern') });
    const text = (): string => str(a, 'text') ?? (str(a, 'file') ? readFileSync(str(a, 'file')!, 'utf8') : a.positionals.length ? a.positionals.join(' ') : readStdin());
    if (sub === 'encode') {
      const mode = bool(a, 'allow-special') ? 'allow' : str(a, 'special')!;
      if (!['error', 'allow', 'plain'].includes(mode)) throw new GptforgeError(`--special must be error, allow or plain (got "${mode}")`, { field: '--special' });
      const input = text();
      let ids: number[];
      try {
        ids = tok.encode(input, { allowedSpecial: mode === 'allow' ? 'all' : 'none', disallowedSpecial: mode === 'plain' ? 'plain' : 'raise' });
      } catch (e) {
        // the API's message names its options; on the command line the flag is what helps
        if (e instanceof GptforgeError && /special token/.test(e.message)) {
          throw new GptforgeError(`${e.message.replace(/ \(pass allowedSpecial.*\)$/, '')}: pass --special plain to encode it as ordinary text, or --special allow to encode it as the special token`);
        }
        throw e;
      }
      console.log(ids.join(' '));
    } else if (sub === 'decode') {
      const raw = str(a, 'ids') ?? (a.positionals.length ? a.positionals.join(' ') : readStdin());
      const ids = raw.split(/[\s,]+/).filter(Boolean).map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n)) throw new GptforgeError(`"${s}" is not a token id`);
        return n;
      });
      process.stdout.write(tok.decode(ids) + '\n');
    } else {
      console.log(`mode: ${tok.mode}`);
      console.log(`vocabulary: ${tok.vocabSize} tokens`);
      console.log(`special tokens: ${[...tok.specialTokens].map(([s, id]) => `${s}=${id}`).join(' ') || 'none'}`);
      console.log(`hash: ${tok.hash()}`);
      if (str(a, 'file') || str(a, 'text')) {
        const t = text();
        const n = tok.encodeOrdinary(t).length;
        console.log(`compression: ${(Buffer.byteLength(t) / Math.max(1, n)).toFixed(3)} bytes/token (${n} tokens for ${Buffer.byteLength(t)} bytes)`);
      }
    }
  },
};
