import { readFileSync } from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import type { Tokenizer } from '../tokenizer/index.js';
import { patternName } from '../tokenizer/patterns.js';
import { GptforgeError } from '../util/errors.js';
import { collect, number } from '../util/args.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

const train = new Command('train')
  .summary('train a byte-level BPE tokenizer on text files')
  .description('Train a tokenizer on text files.')
  .argument('[inputs...]', 'more inputs, as --input')
  .option('-i, --input <path>', 'training text: files, directories or globs (.txt, .md, .jsonl "text" fields); repeatable', collect, [])
  .option('--vocab-size <n>', 'vocabulary size including the 14 special tokens', number, 4096)
  .option('-o, --out <file>', 'where to write tokenizer.json', 'tokenizer.json')
  .option('--pattern <pattern>', 'pre-split: gpt4 (GPT-4 with digits in groups of ≤ 2) | gpt4-digits (one per digit) | cl100k | o200k | gpt2 | none | a regex (Oniguruma syntax, as in tokenizer.json; text it does not match is kept as pieces of its own)', 'gpt4')
  .option('--digit-pairs', 'make all 100 two-digit strings tokens first (with gpt4: every number is whole two-digit tokens)')
  .option('--mode <mode>', 'bpe | char (one token per character, for char-level benchmarks)', 'bpe')
  .option('--max-bytes <n>', 'read at most this many bytes of input (0 = all)', number, 0)
  .option('--no-specials', 'add no special tokens')
  .action(async (inputs, o) => {
    const { runTokenizerTrain } = await import('../run/data.js');
    const r = runTokenizerTrain(o.out, { ...o, inputs: [...o.input, ...inputs], mode: o.mode === 'char' ? 'char' : 'bpe', noSpecials: !o.specials, log: (l) => console.error(l) });
    console.log(`wrote ${o.out}: vocabulary ${r.tokenizer.vocabSize}, ${r.bytesPerToken.toFixed(2)} bytes/token on the training text, ${r.seconds.toFixed(1)} s`);
  });

/** encode, decode and info: the options every use of a tokenizer file takes, one line per flag. */
const use = (name: string, summary: string, description: string) =>
  new Command(name)
    .summary(summary)
    .description(description)
    .argument('[text...]', 'the text (encode, info) or ids (decode), instead of --text / --ids / standard input')
    .option('-t, --tokenizer <file>', 'tokenizer.json (ours or Hugging Face) or a .tiktoken rank file', 'tokenizer.json')
    .option('--text <text>', 'the text (default: read standard input)')
    .option('--file <file>', 'read the text from this file')
    .option('--pattern <pattern>', 'pre-split pattern for .tiktoken files: cl100k | o200k | gpt2 | a regex (default: from the file name, e.g. cl100k_base.tiktoken, else cl100k)');
const load = async (o: { tokenizer: string; pattern?: string }): Promise<Tokenizer> => (await import('../tokenizer/index.js')).Tokenizer.load(o.tokenizer, { pattern: o.pattern });
const textOf = (o: { text?: string; file?: string }, positionals: string[]): string => o.text ?? (o.file ? readFileSync(o.file, 'utf8') : positionals.length ? positionals.join(' ') : readStdin());

const encode = use(
  'encode',
  'text → token ids',
  'Encode text (--text, --file, the arguments or standard input) to token ids with a tokenizer file (ours, a Hugging Face tokenizer.json or a .tiktoken rank file), printed space-separated. Special-token text in the input is refused unless --special says to allow it or encode it as plain text.',
)
  .option('--special <mode>', 'special-token text in the input — error (refuse it) | allow (encode it as the special token) | plain (encode it as ordinary text)', 'error')
  .option('--allow-special', 'same as --special allow')
  .action(async (args, o) => {
    const mode = o.allowSpecial ? 'allow' : o.special;
    if (!['error', 'allow', 'plain'].includes(mode)) throw new GptforgeError(`--special: expects error, allow or plain, got "${mode}"`, { field: '--special' });
    const tok = await load(o);
    let ids: number[];
    try {
      ids = tok.encode(textOf(o, args), { allowedSpecial: mode === 'allow' ? 'all' : 'none', disallowedSpecial: mode === 'plain' ? 'plain' : 'raise' });
    } catch (e) {
      // the API's message names its options; on the command line the flag is what helps
      if (e instanceof GptforgeError && /special token/.test(e.message)) {
        throw new GptforgeError(`${e.message.replace(/ \(pass allowedSpecial.*\)$/, '')}: pass --special plain to encode it as ordinary text, or --special allow to encode it as the special token`);
      }
      throw e;
    }
    console.log(ids.join(' '));
  });

const decode = use('decode', 'token ids → text', 'Decode token ids (--ids, the arguments or standard input; comma- or space-separated) to text with a tokenizer file (ours, a Hugging Face tokenizer.json or a .tiktoken rank file).')
  .option('--ids <ids>', 'comma- or space-separated ids (default: standard input)')
  .action(async (args, o) => {
    const tok = await load(o);
    const raw = o.ids ?? (args.length ? args.join(' ') : readStdin());
    const ids = raw
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n)) throw new GptforgeError(`"${s}" is not a token id`);
        return n;
      });
    process.stdout.write(tok.decode(ids) + '\n');
  });

const info = use('info', 'vocabulary, special tokens, hash; bytes/token on --file or --text', 'Describe a tokenizer file: its mode, vocabulary size, special tokens, hash and pre-split pattern (and whether GGUF export can carry it); with --file or --text, its compression in bytes per token on that text.').action(
  async (args, o) => {
    const tok = await load(o);
    console.log(`mode: ${tok.mode}`);
    console.log(`vocabulary: ${tok.vocabSize} tokens`);
    console.log(`special tokens: ${[...tok.specialTokens].map(([s, id]) => `${s}=${id}`).join(' ') || 'none'}`);
    console.log(`hash: ${tok.hash()}`);
    // the pre-split pattern decides whether llama.cpp can tokenize like us (GGUF export): said up front
    const name = patternName(tok.pattern);
    const { LLAMA_CPP_PRE } = await import('../model/export/gguf.js');
    const pre = name !== undefined ? LLAMA_CPP_PRE[name] : undefined;
    console.log(`pre-split pattern: ${name ?? (tok.pattern === '' ? 'none' : 'custom regex')}${pre ? ` (GGUF: llama.cpp pre-type "${pre}")` : ' (GGUF export refuses it: llama.cpp has no pre-type with this regex; docs/interop.md)'}`);
    if (o.file || o.text) {
      const t = textOf(o, args);
      const n = tok.encodeOrdinary(t).length;
      console.log(`compression: ${(Buffer.byteLength(t) / Math.max(1, n)).toFixed(3)} bytes/token (${n} tokens for ${Buffer.byteLength(t)} bytes)`);
    }
  },
);

export const command = new Command('tokenizer').summary('train a byte-level BPE tokenizer; encode, decode, info').description('Byte-level BPE tokenizers: train ours; use ours, Hugging Face tokenizer.json or tiktoken files.').addCommand(train).addCommand(encode).addCommand(decode).addCommand(info);
