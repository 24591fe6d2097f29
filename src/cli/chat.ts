import { createInterface } from 'node:readline';
import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, bool, type FlagSpecs } from '../util/args.js';
import type { Conversation, Message } from '../data/conversation.js';
import { ChatEngine, type ChatOptions, type ChatReply, type ChatStopReason } from '../infer/engine.js';
import { defaultTools } from '../infer/tools/registry.js';
import { loadModel } from './models.js';
import { constraintFromOptions, ReplyConstraint } from '../infer/constrain/index.js';
import { openRagRetriever, ragTurn } from './rag.js';

const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory (its newest chat model: rl, else sft), a stage directory or a checkpoint', alias: 'r', default: 'runs/small' },
  stage: { kind: 'string', help: 'stage to load: sft, rl, dpo … (default: the newest)' },
  prompt: { kind: 'string', help: 'one-shot: answer this message and exit (for scripts)', alias: 'p' },
  system: { kind: 'string', help: 'a system message to start the conversation with' },
  temperature: { kind: 'number', help: '0 = greedy', default: 0.7 },
  'top-k': { kind: 'number', help: 'sample from the k most likely tokens (0 = all)', default: 40 },
  'top-p': { kind: 'number', help: 'nucleus sampling mass (1 = off)', default: 1 },
  'max-tokens': { kind: 'number', help: 'longest reply, in tokens', default: 128 },
  seed: { kind: 'number', help: 'random seed', default: 1 },
  'no-tools': { kind: 'boolean', help: 'no calculator: the model must answer directly' },
  'show-tools': { kind: 'boolean', help: 'print tool calls and their results (default on)', default: true },
  'json-schema': { kind: 'string', help: 'each reply\'s text is JSON this schema file accepts (tool calls before it stay free; docs/constrain.md)' },
  regex: { kind: 'string', help: 'each reply\'s text matches this regular expression in full' },
  grammar: { kind: 'string', help: 'each reply\'s text derives from this GBNF grammar file' },
  rag: { kind: 'string', help: 'answer from passages retrieved (BM25) from this store (gptforge rag index), citing them as [1]; keep --max-tokens small (48) to leave the context to passages; docs/rag.md' },
  'rag-k': { kind: 'number', help: 'passages retrieved per question with --rag', default: 3 },
};

const FINISH: Record<ChatStopReason, string> = { end: 'stop', max_tokens: 'length', context: 'context', unclosed_tool_call: 'unclosed_tool_call', abort: 'abort' };

const DIM = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

/** One streamed reply printed to stdout; tool calls shown dimmed as [calculator: 3*4 → 12]. */
function streamReply(engine: ChatEngine, conv: Conversation, opts: ChatOptions, showTools: boolean): ChatReply {
  const reply = engine.reply(conv, {
    ...opts,
    onText: (d) => process.stdout.write(d),
    onToolCall: (call, res) => {
      if (showTools) process.stdout.write(DIM(`[${call} → ${res.output}]`) + ' ');
    },
  });
  process.stdout.write('\n');
  if (reply.notice) console.error(DIM(`(${reply.notice})`));
  if (reply.stopReason === 'max_tokens') console.error(DIM('(reply cut at --max-tokens)'));
  // Under a constraint only an end token or the constraint's own end ('end') is a complete value.
  if (opts.constraint && reply.stopReason !== 'end') console.error(`finish_reason: ${FINISH[reply.stopReason]} (the constrained reply is incomplete)`);
  if (reply.stopReason === 'unclosed_tool_call') console.error(DIM('(the model opened a tool call and never closed it)'));
  return reply;
}

/** A scripted chat: each prompt as a fresh one-turn conversation. Returns the transcript text. */
export function scriptedChat(runDir: string, prompts: readonly string[], opts: { stage?: string; temperature?: number; seed?: number } = {}): string {
  const { model, tok } = loadModel(runDir, opts.stage);
  const engine = new ChatEngine(model, tok);
  const tools = defaultTools();
  const lines: string[] = [];
  for (const p of prompts) {
    const r = engine.reply({ messages: [{ role: 'user', content: p }] }, { temperature: opts.temperature ?? 0, seed: opts.seed ?? 1, tools, maxTokens: 96 });
    const shown = r.messages
      .map((m) => (m.role === 'tool' ? `${m.content}] ` : m.tool_call ? `${m.content}[${m.tool_call.name}: ${m.tool_call.input} → ` : m.content))
      .join('');
    lines.push(`user> ${p}`, `assistant> ${shown.trim()}`, '');
  }
  return lines.join('\n');
}

export const command: Command = {
  summary: 'chat with a model (interactive or --prompt), tools included',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(
        formatHelp(
          'gptforge chat [--run runs/<name>] [--prompt "…"] [options]',
          'Chat with an SFT (or RL) model, streaming. The calculator runs inside decoding when the model calls it. Interactive commands: /reset (new conversation), /system <text> (set the system message and reset), /quit.',
          FLAGS,
        ),
      );
      return;
    }
    const a = parseArgs(argv, FLAGS, 'chat');
    const loaded = loadModel(str(a, 'run')!, str(a, 'stage'));
    const engine = new ChatEngine(loaded.model, loaded.tok);
    // Compiled once before the first turn (errors name the file and pointer/line); the engine clones it per reply.
    // It governs the visible text only: tool calls before the text stay free (ReplyConstraint).
    const text = constraintFromOptions({ jsonSchema: str(a, 'json-schema'), regex: str(a, 'regex'), grammar: str(a, 'grammar') }, loaded.tok);
    const constraint = text && ReplyConstraint.forTokenizer(text, loaded.tok);
    const opts: ChatOptions = {
      temperature: num(a, 'temperature'),
      topK: num(a, 'top-k'),
      topP: num(a, 'top-p'),
      maxTokens: num(a, 'max-tokens'),
      seed: num(a, 'seed'),
      tools: bool(a, 'no-tools') ? null : defaultTools(),
      constraint,
    };
    const showTools = bool(a, 'show-tools');
    const retriever = str(a, 'rag') ? openRagRetriever(str(a, 'rag')!) : undefined;
    const turn = (conv: Conversation, o: ChatOptions): ChatReply => (retriever ? ragTurn(engine, retriever, conv, { ...o, k: num(a, 'rag-k') }) : streamReply(engine, conv, o, showTools));
    let system = str(a, 'system');
    const fresh = (): Message[] => (system ? [{ role: 'system', content: system }] : []);
    let history = fresh();

    const prompt = str(a, 'prompt');
    if (prompt !== undefined) {
      turn({ messages: [...history, { role: 'user', content: prompt }] }, opts);
      return;
    }

    console.error(DIM(`chatting with ${loaded.dir} (stage ${loaded.stage}, context ${loaded.model.config.blockSize} tokens). /reset, /system <text>, /quit`));
    const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'you> ' });
    rl.prompt();
    let seed = opts.seed ?? 1;
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/quit' || text === '/exit') break;
      if (text === '/reset') {
        history = fresh();
        console.error(DIM('(new conversation)'));
      } else if (text.startsWith('/system')) {
        system = text.slice('/system'.length).trim() || undefined;
        history = fresh();
        console.error(DIM(system ? '(system message set; new conversation)' : '(system message cleared; new conversation)'));
      } else if (text.startsWith('/')) {
        console.error(DIM('commands: /reset, /system <text>, /quit'));
      } else if (text !== '') {
        const conv: Conversation = { messages: [...history, { role: 'user', content: text }] };
        process.stdout.write('assistant> ');
        const reply = turn(conv, { ...opts, seed: seed++ });
        history = [...conv.messages, ...reply.messages];
      }
      rl.prompt();
    }
    rl.close();
  },
};
