import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { visibleAnswer } from '../data/chat.js';
import type { SyntheticTask, GenerateOptions, TaskExample } from '../data/synthetic/task.js';
import { ChatEngine, DECODE_BATCH_ROWS } from '../infer/engine.js';
import { generateText } from '../infer/generate.js';
import type { ToolRegistry } from '../infer/tools/registry.js';

/**
 * Task accuracy on the held-out split of each synthetic family, for any mix of models:
 *
 * - a base model is prompted with the talk's trick, a "fake conversation" document: a
 *   header saying this is a chat with a helpful assistant, a few solved examples of the same
 *   family (from the train split), then the question and "Assistant:"; its completion up to
 *   the next line is the answer;
 * - a chat model (SFT, RL …) gets the question as a conversation through the chat engine,
 *   with or without tools.
 *
 * Decoding is greedy, so the table is deterministic. Each answer is scored by the family's
 * own checker.
 */
export interface EvalRow {
  /** Label in the table, e.g. "arithmetic (3–4 digit ×)". */
  label: string;
  task: SyntheticTask;
  variant?: GenerateOptions['variant'];
}

export interface EvalSubject {
  /** Column label, e.g. "SFT + calculator". */
  name: string;
  kind: 'base' | 'chat';
  model: GPT;
  tok: Tokenizer;
  /** Chat models: the tools available (null: none, and <|tool_start|> is masked). */
  tools?: ToolRegistry | null;
  /** Score only rows whose task uses tools (the "without the tool" column). */
  onlyToolTasks?: boolean;
}

export interface EvalOptions {
  /** Held-out prompts per row. */
  perTask: number;
  /** Solved examples in the base model's few-shot document. */
  fewShot: number;
  /** Longest answer, in tokens. */
  maxTokens?: number;
  seed?: number;
  /** Called after each scored answer (progress bars). */
  onAnswer?(done: number, total: number): void;
}

export interface EvalExample {
  prompt: string;
  answer: string;
  correct: boolean;
}

export interface EvalCell {
  correct: number;
  total: number;
  accuracy: number;
  /** The first few answers, for the report. */
  examples: EvalExample[];
}

export interface EvalTable {
  columns: string[];
  rows: { label: string; usesTool: boolean; cells: Record<string, EvalCell | null> }[];
}

const DEFAULT_EVAL_SEED = 2024;

const FAKE_CONVERSATION_HEADER = 'The following is a conversation between a curious user and gptforge, a helpful and knowledgeable AI assistant. The assistant answers every question correctly, in one short sentence.\n\n';

/** A solved example in the base model's few-shot document. */
export interface SolvedExample {
  prompt: string;
  answer: string;
}

/** The base model's prompt: header, solved examples, then the question. */
function fewShotDocument(examples: readonly SolvedExample[], prompt: string): string {
  const shots = examples.map((e) => `User: ${e.prompt}\nAssistant: ${e.answer}\n\n`).join('');
  return `${FAKE_CONVERSATION_HEADER}${shots}User: ${prompt}\nAssistant:`;
}

/** n solved examples of a family from its train split, as the few-shot document shows them. */
export function solvedExamples(task: SyntheticTask, n: number, seed: number, variant?: GenerateOptions['variant']): SolvedExample[] {
  return task.generate('train', n, seed, { variant }).map((e) => ({ prompt: e.prompt, answer: visibleAnswer(e.conversation) }));
}

/** The base model's prompt as token ids (after <|bos|> when the tokenizer has one) and where its answer stops. */
export function fewShotPrompt(tok: Tokenizer, examples: readonly SolvedExample[], prompt: string): { ids: number[]; stopIds: number[]; stop: string[] } {
  const ids = [...(tok.hasSpecial('<|bos|>') ? [tok.specialId('<|bos|>')] : []), ...tok.encode(fewShotDocument(examples, prompt), { disallowedSpecial: 'plain' })];
  // the answer is the rest of the "Assistant:" line
  return { ids, stopIds: tok.hasSpecial('<|eos|>') ? [tok.specialId('<|eos|>')] : [], stop: ['\n'] };
}

/** A base model's answer to `prompt` given solved examples (greedy, one line). */
function baseAnswer(model: GPT, tok: Tokenizer, examples: readonly SolvedExample[], prompt: string, maxTokens: number): string {
  const { ids, ...stops } = fewShotPrompt(tok, examples, prompt);
  return generateText(model, tok, ids, { maxTokens, temperature: 0, ...stops }).text.trim();
}

/**
 * Up to n held-out examples with different prompts. Decoding is greedy, so a prompt drawn
 * twice gets the same answer twice: duplicates add weight, not evidence (the chat family,
 * whose small intents have one or two held-out phrasings each, drew 20 different prompts
 * in 50). Keeps the plain draw of n minus its repeats (a family that draws no repeats is
 * scored on exactly the prompts it always was), then tops up from a second draw of 8n;
 * fewer than n when the split has fewer.
 */
export function distinctExamples(task: SyntheticTask, n: number, seed: number, variant?: GenerateOptions['variant']): TaskExample[] {
  const seen = new Set<string>();
  const out: TaskExample[] = [];
  const take = (examples: readonly TaskExample[]): void => {
    for (const ex of examples) {
      if (out.length === n) return;
      if (seen.has(ex.prompt)) continue;
      seen.add(ex.prompt);
      out.push(ex);
    }
  };
  take(task.generate('test', n, seed, { variant }));
  if (out.length < n) take(task.generate('test', 8 * n, seed + 1, { variant }));
  return out;
}

/** How many answers evaluateTasks will score (for a progress bar). */
export function evalAnswerCount(rows: readonly EvalRow[], subjects: readonly EvalSubject[], perTask: number, seed = DEFAULT_EVAL_SEED): number {
  return rows.reduce((n, r) => n + subjects.filter((s) => !s.onlyToolTasks || r.task.usesTool).length * distinctExamples(r.task, perTask, seed, r.variant).length, 0);
}

export function evaluateTasks(rows: readonly EvalRow[], subjects: readonly EvalSubject[], opts: EvalOptions): EvalTable {
  const maxTokens = opts.maxTokens ?? 48;
  const seed = opts.seed ?? DEFAULT_EVAL_SEED;
  const engines = new Map<EvalSubject, ChatEngine>();
  for (const s of subjects) if (s.kind === 'chat') engines.set(s, new ChatEngine(s.model, s.tok));
  const total = evalAnswerCount(rows, subjects, opts.perTask, seed);
  let done = 0;
  const table: EvalTable = { columns: subjects.map((s) => s.name), rows: [] };
  for (const row of rows) {
    const tests = distinctExamples(row.task, opts.perTask, seed, row.variant);
    const cells: Record<string, EvalCell | null> = {};
    for (const subject of subjects) {
      if (subject.onlyToolTasks && !row.task.usesTool) {
        cells[subject.name] = null;
        continue;
      }
      const cell: EvalCell = { correct: 0, total: 0, accuracy: 0, examples: [] };
      // a chat model answers up to DECODE_BATCH_ROWS prompts a decode (left-padded on one KV cache; a
      // finished row is no longer fed): greedy, so each answer is reply()'s as far as the
      // logits agree at the two batch shapes (rotary positions shift with the padding: rounding)
      const chat: string[] = [];
      const engine = engines.get(subject);
      if (engine) {
        for (let s = 0; s < tests.length; s += DECODE_BATCH_ROWS) {
          const part = tests.slice(s, s + DECODE_BATCH_ROWS);
          const replies = engine.repliesTo(
            part.map((ex) => ({ messages: [{ role: 'user', content: ex.prompt }] })),
            part.map(() => 1),
            { temperature: 0, maxTokens, tools: subject.tools ?? null, shareHistories: true },
          );
          chat.push(...replies.map((r) => r.text));
        }
      }
      tests.forEach((ex, i) => {
        let answer: string;
        if (subject.kind === 'base') {
          const shots = solvedExamples(row.task, opts.fewShot, seed + 31 * (i + 1), row.variant);
          answer = baseAnswer(subject.model, subject.tok, shots, ex.prompt, maxTokens);
        } else {
          answer = chat[i];
        }
        const correct = row.task.check(ex.prompt, answer);
        cell.total++;
        if (correct) cell.correct++;
        if (cell.examples.length < 3) cell.examples.push({ prompt: ex.prompt, answer, correct });
        opts.onAnswer?.(++done, total);
      });
      cell.accuracy = cell.total > 0 ? cell.correct / cell.total : 0;
      cells[subject.name] = cell;
    }
    table.rows.push({ label: row.label, usesTool: row.task.usesTool, cells });
  }
  return table;
}

/** The table as markdown: accuracy per family and model, best of each row in bold. */
export function evalMarkdown(table: EvalTable, title = 'Held-out task accuracy'): string {
  const lines = [`## ${title}`, '', `| task family | ${table.columns.join(' | ')} |`, `| --- | ${table.columns.map(() => '---:').join(' | ')} |`];
  for (const r of table.rows) {
    const accs = table.columns.map((c) => r.cells[c]?.accuracy ?? -1);
    const best = Math.max(...accs);
    const cells = table.columns.map((c, i) => {
      const cell = r.cells[c];
      if (!cell) return '—';
      const s = `${(100 * cell.accuracy).toFixed(0)}% (${cell.correct}/${cell.total})`;
      return accs[i] === best && best > 0 ? `**${s}**` : s;
    });
    lines.push(`| ${r.label} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
