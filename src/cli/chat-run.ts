import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from '@commander-js/extra-typings';
import type { Conversation, Message } from '../data/conversation.js';
import { constraintFromOptions, ReplyConstraint, type GrammarConstraint } from '../infer/constrain/index.js';
import { ChatEngine, DEFAULT_MAX_TOOL_CALLS, type ChatOptions, type ChatReply } from '../infer/engine.js';
import { defaultTools } from '../infer/tools/registry.js';
import type { BasePrecision } from '../model/quantize.js';
import { defaultChatStage, loadGenerationModel } from '../run/models.js';
import { constrainedValueComplete } from '../run/sample.js';
import { answerWithRetrieval, defaultReplyTokens, describeNoneFit, formatCitations, type RagAnswerOptions } from '../rag/generate.js';
import { smallStoreCutoffWarning } from '../rag/relevance.js';
import { Retriever } from '../rag/retrieve.js';
import { RagStore } from '../rag/store.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { stageLabel } from './common.js';
// where `chat`'s model line names its checkpoint (shared with `sample`); re-exported for its tests
export { stageLabel };

/**
 * What `gptforge chat` does once its flags are parsed (chat.ts defines the command and loads
 * this module only when it runs: `--help` and a refused flag load no model code, src/cli/main.ts).
 */

/**
 * One chat turn answered from retrieved passages (`--rag`): the reply streamed to stdout, then
 * the sources its "[n]" citations name (stderr, one line each). Returns the engine's reply,
 * whose messages continue the conversation (the plain question stays in the history).
 */
function ragTurn(engine: ChatEngine, retriever: Retriever, conv: Conversation, opts: RagAnswerOptions): ChatReply {
  // the passages family's replies begin with a space (context.ts quotedReply: a quote's first
  // word is then the same token as in the passage); shown without it, as ChatReply.text is
  let started = false;
  const onText = (d: string): void => {
    const shown = started ? d : d.trimStart();
    if (shown === '') return;
    started = true;
    process.stdout.write(shown);
  };
  const a = answerWithRetrieval(engine, retriever, conv, { ...opts, onText });
  process.stdout.write('\n');
  const cut = a.generated && a.reply.finishReason === 'length';
  if (cut) {
    const max = opts.maxTokens ?? defaultReplyTokens(engine.model.config.blockSize);
    console.error(DIM(`(reply cut at ${max} tokens${opts.maxTokens === undefined ? ", --rag's default (3/16 of the context)" : ''}: finish_reason length; --max-tokens raises it)`));
    const line = opts.extractive ? constrainedFinishLine(a.reply, false, -1) : undefined;
    if (line) console.error(line);
  }
  if (a.passages.length === 0) {
    // with no passage shown the reply is NO_ANSWER, not the model's (answerWithRetrieval's emptyContext)
    const said = a.generated ? 'the model answered without any' : 'nothing to answer from, so no model call';
    console.error(
      a.abstained === 'below-cutoff'
        ? `(${a.retrieved} passage${a.retrieved > 1 ? 's' : ''} retrieved, none at or above --rag-min-score: ${said})`
        : a.retrieved === 0
          ? `(no passages retrieved: ${said})`
          : `(${a.retrieved} passage${a.retrieved > 1 ? 's' : ''} retrieved, ${a.noneFit ? describeNoneFit(a.noneFit, { reply: '--max-tokens', chunkSize: 'rag index --rebuild --chunk-size' }) : 'none fit the context'}; ${said})`,
    );
  } else if (a.passages.length < a.retrieved - a.belowCutoff) console.error(`(${a.passages.length} of ${a.retrieved - a.belowCutoff} passages retrieved${a.belowCutoff > 0 ? ' above --rag-min-score' : ''} fit the context)`);
  if (a.belowCutoff > 0 && a.passages.length > 0) console.error(DIM(`(${a.belowCutoff} passage${a.belowCutoff > 1 ? 's' : ''} below --rag-min-score not shown)`));
  const lines = formatCitations(a);
  if (lines.length > 0) console.error(`sources:\n  ${lines.join('\n  ')}`);
  else if (a.passages.length > 0) console.error(`(no citation; passages shown: ${a.passages.map((p, i) => `[${i + 1}] ${p.path}${p.line !== undefined ? `:${p.line}` : ''}`).join(', ')})`);
  return a.reply;
}

/** Whether a constrained reply is a complete value: `sample`'s rule (constrainedValueComplete), on the reply's finish reason and state. */
export function chatValueComplete(r: Pick<ChatReply, 'finishReason' | 'constraintComplete'>): boolean {
  return constrainedValueComplete(r.finishReason, r.constraintComplete === true);
}

/**
 * The stderr line for a constrained reply that did not end on its own ('stop'), else undefined.
 * Tool calls before the constrained text are free (docs/constrain.md), and their tokens count
 * against --max-tokens: when the reply opened any call — finished, or still open when the budget
 * ran out (no tool message then, only the `<|tool_start|>` among its ids) — the line says so.
 */
export function constrainedFinishLine(reply: Pick<ChatReply, 'finishReason' | 'constraintComplete' | 'ids'>, toolsOn: boolean, toolStartId: number): string | undefined {
  // Under a constraint only an end token or the constraint's own end ('stop') is a complete value.
  if (reply.finishReason === 'stop') return undefined;
  if (chatValueComplete(reply)) return 'finish_reason: length (cut at --max-tokens; the reply matches the constraint in full, though the model might have gone on)';
  const toolHint = toolsOn && reply.ids.includes(toolStartId) ? '; the model spent tokens on tool calls first: --no-tools leaves them all to the value' : '';
  return `finish_reason: ${reply.finishReason} (the constrained reply is incomplete${toolHint})`;
}

/** Dimmed on a terminal; every dimmed note goes to stderr. */
const DIM = (s: string): string => (process.stderr.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

/**
 * The calculator trace on stderr, `[calculator: 12*3 → 36] `, one line per reply: `end()` closes
 * the line — unless stderr and stdout are the same terminal, where the reply's own newline on
 * stdout already ended the line they share.
 */
export class ToolTrace {
  private written = false;

  constructor(
    private readonly err: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>,
    private readonly out: Pick<NodeJS.WriteStream, 'isTTY'>,
    private readonly style: (s: string) => string = (s) => s,
  ) {}

  note(call: string, output: string): void {
    this.err.write(this.style(`[${call} → ${output}]`) + ' ');
    this.written = true;
  }

  end(): void {
    if (this.written && !(this.out.isTTY && this.err.isTTY)) this.err.write('\n');
    this.written = false;
  }
}

/** One streamed reply printed to stdout; tool calls shown dimmed as [calculator: 3*4 → 12] on stderr, so stdout is the reply alone (a constrained value pipes into a parser). */
function streamReply(engine: ChatEngine, conv: Conversation, opts: ChatOptions, showTools: boolean): ChatReply {
  const trace = new ToolTrace(process.stderr, process.stdout, DIM);
  const reply = engine.reply(conv, {
    ...opts,
    onText: (d) => process.stdout.write(d),
    onToolCall: (call, res) => {
      if (!showTools) return;
      trace.note(call, res.output);
    },
  });
  process.stdout.write('\n');
  trace.end();
  if (reply.notice) console.error(DIM(`(${reply.notice})`));
  if (reply.finishReason === 'length') console.error(DIM('(reply cut at --max-tokens)'));
  const line = opts.constraint ? constrainedFinishLine(reply, opts.tools != null, engine.tok.specialId('<|tool_start|>')) : undefined;
  if (line) console.error(line);
  if (reply.finishReason === 'unclosed_tool_call') console.error(DIM('(the model opened a tool call and never closed it)'));
  return reply;
}

/**
 * The decoding options chat's flags give, with the server's rules for tool calls: at most
 * `maxToolCalls` calculator calls a reply (default DEFAULT_MAX_TOOL_CALLS, 4, then
 * `<|tool_start|>` is masked and the model answers); under a constraint (`text`: --json-schema,
 * --regex, --grammar) the calls before the constrained text: one unless `maxToolCalls` is given
 * (a JSON mask leaves a small model little but another call; docs/server.md `max_tool_calls`).
 */
export function chatOptions(o: { temperature: number; topK: number; topP: number; maxTokens: number; seed: number; tools: boolean; maxToolCalls?: number }, tok: Tokenizer, text: GrammarConstraint | undefined): ChatOptions {
  const constraint = text && ReplyConstraint.forTokenizer(text, tok, o.maxToolCalls ?? 1);
  return { temperature: o.temperature, topK: o.topK, topP: o.topP, maxTokens: o.maxTokens, seed: o.seed, tools: o.tools ? defaultTools() : null, maxToolCalls: o.maxToolCalls ?? DEFAULT_MAX_TOOL_CALLS, constraint };
}

/**
 * Where interactive chat writes its prompts ("you> ", "assistant> "): stdout on a terminal both
 * ends; stderr when only stdout is piped (a person types, the replies go to a file: the prompts
 * stay on the screen, out of the file); none when stdin is piped (a script feeds it lines, and
 * stdout holds the replies alone, one a line, as `llama-cli` and `ollama run` do when piped).
 */
export function promptStream<O extends { isTTY?: boolean }, E>(stdin: { isTTY?: boolean }, stdout: O, stderr: E): O | E | undefined {
  if (stdin.isTTY !== true) return undefined;
  return stdout.isTTY === true ? stdout : stderr;
}

/** chat's parsed flags (chat.ts: one line per flag there). */
export interface ChatFlags {
  run: string;
  stage?: string;
  prompt?: string;
  system?: string;
  temperature: number;
  topK: number;
  topP: number;
  maxTokens: number;
  seed: number;
  tools: boolean;
  maxToolCalls?: number;
  showTools?: boolean;
  jsonSchema?: string;
  regex?: string;
  grammar?: string;
  rag?: string;
  ragK: number;
  ragDropFrameWords?: true;
  ragExtractive?: true;
  ragMinScore?: number;
  ragRefusalByCutoff?: true;
  precision: BasePrecision;
}

/** The chat session: one-shot with --prompt, else interactive on stdin. `command` tells a given --max-tokens from its default. */
export async function runChat(o: ChatFlags, command: Pick<Command, 'getOptionValueSource'>): Promise<void> {
  // no --stage: the one rule the web UI's chat follows too (defaultChatStage: rl/best → rl → sft, finished first)
  const choice = o.stage === undefined ? defaultChatStage((s) => join(o.run, s)) : null;
  const loaded = loadGenerationModel(o.run, o.stage ?? choice?.stage, { precision: o.precision });
  // which checkpoint answers (a run holds several), and why, as `ask` says; a base model completes documents rather than chatting
  const stage = `${stageLabel(loaded.dir, loaded.stage)}${choice ? `: ${choice.why}` : ''}`;
  const base = loaded.stage !== 'pretrain' ? '' : o.stage === undefined ? ': a base model (no chat stage in this run), which continues text rather than answering; gptforge sft trains one' : ': a base model, which continues text rather than answering';
  const engine = new ChatEngine(loaded.model, loaded.tok);
  // Compiled once before the first turn (errors name the file and pointer/line); the engine clones it per reply.
  // It governs the visible text only: one built-in call may come before the text (ReplyConstraint's maxCalls), --max-tool-calls more.
  // JSON at most one space between tokens ('line'): each reply stays on its line (piped, stdout is one reply a line)
  const text = constraintFromOptions({ jsonSchema: o.jsonSchema, regex: o.regex, grammar: o.grammar, whitespace: 'line' }, loaded.tok);
  const opts = chatOptions(o, loaded.tok, text);
  // --rag: a BM25 retriever over the store, read-only (closed at exit)
  const retriever = o.rag ? new Retriever(RagStore.open(o.rag, { readonly: true }), undefined, { dropFrameWords: o.ragDropFrameWords === true }) : undefined;
  // a cutoff on a store of a few chunks refuses nearly every question (relevance.ts MIN_CUTOFF_CHUNKS): said once, before the first
  const smallStore = retriever && o.ragMinScore !== undefined ? smallStoreCutoffWarning(retriever.store.count(), '--rag-min-score') : undefined;
  if (smallStore) console.error(`warning: ${smallStore}`);
  // --rag without --max-tokens: answerWithRetrieval's default, scaled to the context (128 would leave a 256-token model no room for passages)
  const ragMaxTokens = command.getOptionValueSource('maxTokens') === 'cli' ? o.maxTokens : undefined;
  const turn = (conv: Conversation, c: ChatOptions): ChatReply =>
    retriever
      ? ragTurn(engine, retriever, conv, { ...c, maxTokens: ragMaxTokens, k: o.ragK, extractive: o.ragExtractive === true, ...(o.ragMinScore !== undefined ? { minScore: { bm25Relative: o.ragMinScore } } : {}), ...(o.ragRefusalByCutoff ? { refusal: 'cutoff' as const } : {}) })
      : streamReply(engine, conv, c, o.showTools !== false);
  let system = o.system;
  const fresh = (): Message[] => (system ? [{ role: 'system', content: system }] : []);
  let history = fresh();
  if (o.prompt !== undefined) {
    console.error(DIM(`chat: ${loaded.dir} (stage ${stage})${base}`));
    const r = turn({ messages: [...history, { role: 'user', content: o.prompt }] }, opts);
    // a script reading a constrained value can tell an incomplete one by the status (the reason is on stderr)
    if (opts.constraint && !chatValueComplete(r)) process.exitCode = 3;
    return;
  }

  const where = promptStream(process.stdin, process.stdout, process.stderr);
  console.error(DIM(`chatting with ${loaded.dir} (stage ${stage}, context ${loaded.model.config.blockSize} tokens${base}). /reset, /system <text>, /quit${where ? '' : '; reading stdin line by line'}`));
  // piped (stdin or stdout not a terminal): stdout holds the replies alone, one a line (promptStream)
  const rl = createInterface({ input: process.stdin, ...(where ? { output: where, prompt: 'you> ' } : { terminal: false }) });
  const prompt = (): void => {
    if (where) rl.prompt();
  };
  prompt();
  let seed = o.seed;
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
      if (where === process.stdout) process.stdout.write('assistant> ');
      else if (where) where.write('assistant>\n');
      const reply = turn(conv, { ...opts, seed: seed++ });
      history = [...conv.messages, ...reply.messages];
    }
    prompt();
  }
  rl.close();
}
