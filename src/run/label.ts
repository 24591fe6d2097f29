import { existsSync } from 'node:fs';
import { GptforgeError } from '../util/errors.js';
import type { Message } from '../data/conversation.js';
import { appendJSONLine, appendRankingLine, completionKey, completionMessages, validateCompletion, type Completion } from '../data/preferences.js';
import { TASKS } from '../data/synthetic/tasks.js';
import { readJSONL } from '../data/jsonl.js';
import { LABEL_HELP } from './label-keys.js';
import { ChatEngine, type ChatOptions } from '../infer/engine.js';

/**
 * Ranking sampled replies by hand — the comparison data of the talk's reward-model stage —
 * apart from any face: `gptforge label` drives it from a terminal, a web page can drive it
 * through the same RankingSession and runLabeling. A person ranks the model's completions at the terminal, producing the
 * same rankings.jsonl the simulated labelers write (data/preferences.ts). For each prompt the
 * model samples K replies; the person presses the numbers of the replies from best to worst
 * (the last one is implied), `=` before a number to tie it with the previous pick. Rankings
 * are appended durably one by one, so quitting or a crash loses at most the prompt in
 * progress, and a rerun resumes where it stopped: prompts already in the output, or in its
 * `.skipped.jsonl` sidecar, are not asked again.
 */

// ---------------------------------------------------------------------------------------
// The ordering state machine (pure, tested)

export type SessionEvent =
  /** `choice` (0-based) is the next best; more picks are needed. `tied`: it ties with the pick before it. */
  | { type: 'pick'; choice: number; tied?: true }
  /**
   * The ranking is complete (the last completion implied): indices best first, and `tiers`
   * (0 = best, equal = tied, as Ranking.tiers) only when at least one pick tied.
   */
  | { type: 'done'; order: number[]; tiers?: number[] }
  /** `=` pressed: the next pick ties with `with`, the last pick. */
  | { type: 'tie'; with: number }
  /** Undo of a pending `=` (no pick made after it): the tie mark is dropped, the picks stay. */
  | { type: 'untie' }
  | { type: 'undo'; choice: number }
  | { type: 'skip' }
  | { type: 'quit' }
  | { type: 'help' }
  /** Whitespace, commas, Enter: separators in line mode, nothing to do. */
  | { type: 'ignored' }
  | { type: 'invalid'; message: string };

/**
 * Keys: 1–9 pick, = tie, u undo, s skip, q (or Ctrl-C, Ctrl-D) quit, ? or h help.
 *
 * Ties: `=` then a number means "this one ties with the one I picked last" ("3 = 1 4" ranks
 * 3 and 1 equal, both above 4). `=` marks the next pick, so it needs a pick before it and
 * cannot be pressed twice in a row; undo takes back a pending `=` first, then a pick together
 * with its tie mark. The last completion is placed the moment the one before it is picked,
 * so it always gets a tier of its own, below the rest: a `=` can only be pending before a
 * pick, and once one completion is left the ranking is already complete, so no `=` can wait
 * on it (a `=` before the second-to-last pick ties that pick with the one before it; the
 * implied last stays below both). Tying the last one would mean asking for one more key on
 * every ranking, which the implied last exists to save.
 */
export class RankingSession {
  private readonly chosen: number[] = [];
  /** tiedToPrevious[i]: chosen[i] ties with chosen[i − 1] (false for the first pick and the implied last). */
  private readonly tiedToPrevious: boolean[] = [];
  private tiePending = false;

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 2 || k > 9) throw new GptforgeError(`a labeling session ranks 2 to 9 completions (one key each), got ${k}`);
  }

  /** The completions picked so far, best first (0-based). */
  get picks(): readonly number[] {
    return this.chosen;
  }

  /** The picks' tiers so far (0 = best, equal = tied), one per pick. */
  get tiers(): number[] {
    const out: number[] = [];
    this.tiedToPrevious.forEach((tied, i) => out.push(i === 0 ? 0 : tied ? out[i - 1] : out[i - 1] + 1));
    return out;
  }

  /** Whether `=` was pressed and waits for the pick it marks. */
  get pendingTie(): boolean {
    return this.tiePending;
  }

  get complete(): boolean {
    return this.chosen.length === this.k;
  }

  /** The order so far for the screen, 1-based: "3 = 1 > 4", with a trailing " =" while a tie is pending; "(none)" before any pick. */
  describe(): string {
    if (this.chosen.length === 0) return '(none)';
    const text = this.chosen.map((c, i) => (i === 0 ? '' : this.tiedToPrevious[i] ? ' = ' : ' > ') + String(c + 1)).join('');
    return this.tiePending ? `${text} =` : text;
  }

  press(key: string): SessionEvent {
    if (key === 'q' || key === 'Q' || key === '\u0003' || key === '\u0004') return { type: 'quit' };
    if (key === '?' || key === 'h') return { type: 'help' };
    if (/^[\s,]$/.test(key)) return { type: 'ignored' };
    if (this.complete) return { type: 'invalid', message: 'this ranking is already complete' };
    if (key === 's' || key === 'S') return { type: 'skip' };
    if (key === 'u' || key === 'U' || key === '\u007f') return this.undo();
    if (key === '=') return this.tie();
    if (/^[1-9]$/.test(key)) return this.pick(Number(key) - 1);
    return { type: 'invalid', message: `unknown key ${JSON.stringify(key)}; press ? for help` };
  }

  private tie(): SessionEvent {
    const last = this.chosen[this.chosen.length - 1];
    if (last === undefined) return { type: 'invalid', message: '= ties the next pick with the previous one: pick the best completion first' };
    if (this.tiePending) return { type: 'invalid', message: `= is already pressed: press the number of the completion that ties with ${last + 1}` };
    this.tiePending = true;
    return { type: 'tie', with: last };
  }

  private undo(): SessionEvent {
    if (this.tiePending) {
      this.tiePending = false;
      return { type: 'untie' };
    }
    const choice = this.chosen.pop();
    this.tiedToPrevious.pop();
    return choice === undefined ? { type: 'invalid', message: 'nothing to undo' } : { type: 'undo', choice };
  }

  private pick(choice: number): SessionEvent {
    if (choice >= this.k) return { type: 'invalid', message: `there are only ${this.k} completions` };
    if (this.chosen.includes(choice)) return { type: 'invalid', message: `${choice + 1} is already ranked` };
    const tied = this.tiePending;
    this.tiePending = false;
    this.chosen.push(choice);
    this.tiedToPrevious.push(tied);
    if (this.chosen.length < this.k - 1) return tied ? { type: 'pick', choice, tied: true } : { type: 'pick', choice };
    // one left: it can only be the worst, so asking for it would be a wasted keypress; it gets
    // a tier of its own (see the class comment)
    for (let i = 0; i < this.k; i++) {
      if (!this.chosen.includes(i)) {
        this.chosen.push(i);
        this.tiedToPrevious.push(false);
      }
    }
    const order = [...this.chosen];
    return this.tiedToPrevious.includes(true) ? { type: 'done', order, tiers: this.tiers } : { type: 'done', order };
  }
}

// ---------------------------------------------------------------------------------------
// Keys: raw keypresses on a terminal, lines on a pipe

/**
 * Keys in arrival order, grouped into lines ('\n' ends one). In line mode (a pipe, a script)
 * one line answers one prompt, so when a prompt finishes, dropLine() discards the rest of
 * its line: "3142" ranks four completions with the implied last one typed anyway, and the
 * "2" must not become the next prompt's first pick. In raw mode each burst of keys counts as
 * a line, which drops keys typed ahead while the ranking finished.
 */
export class KeyQueue {
  private readonly keys: string[] = [];
  private waiting: ((key: string | null) => void) | undefined;
  private ended = false;
  /** Inside a line (some of its keys returned, its '\n' not yet). */
  private lineOpen = false;
  /** Discard arriving keys through the next '\n'. */
  private discarding = false;

  push(text: string): void {
    for (const key of text) {
      if (this.discarding) {
        if (key === '\n') this.discarding = false;
        continue;
      }
      this.keys.push(key);
    }
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The next key, or null once the input has ended and every key is read. */
  next(): Promise<string | null> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.wake();
    });
  }

  /** Forget the rest of the current line (see the class comment). */
  dropLine(): void {
    if (!this.lineOpen) return;
    this.lineOpen = false;
    const nl = this.keys.indexOf('\n');
    if (nl >= 0) this.keys.splice(0, nl + 1);
    else {
      this.keys.length = 0;
      this.discarding = true;
    }
  }

  private wake(): void {
    const resolve = this.waiting;
    if (!resolve || (this.keys.length === 0 && !this.ended)) return;
    this.waiting = undefined;
    const key = this.keys.shift() ?? null;
    if (key !== null) this.lineOpen = key !== '\n';
    resolve(key);
  }
}

// ---------------------------------------------------------------------------------------
// Files: prompts in, rankings and skips out

export interface LabelPrompt {
  prompt: string;
  /** The task family, when the prompts file names it (carried into the ranking). */
  task?: string;
}

/** `{"prompt": "…", "task"?: family}` per line; errors name file, line and field. Repeated prompts are kept once. */
export function readPromptsJSONL(file: string): LabelPrompt[] {
  const out: LabelPrompt[] = [];
  const seen = new Set<string>();
  readJSONL(file, 'prompts', (obj, where) => {
    const o = (typeof obj === 'object' && obj !== null ? obj : {}) as { prompt?: unknown; task?: unknown };
    if (typeof o.prompt !== 'string' || o.prompt.trim() === '') throw new GptforgeError('expected {"prompt": "…"} with a non-empty prompt', { ...where, field: 'prompt' });
    if (o.task !== undefined && (typeof o.task !== 'string' || !TASKS.some((t) => t.name === o.task))) {
      throw new GptforgeError(`unknown task ${JSON.stringify(o.task)} (one of: ${TASKS.map((t) => t.name).join(', ')})`, { ...where, field: 'task' });
    }
    if (seen.has(o.prompt)) return;
    seen.add(o.prompt);
    out.push(o.task === undefined ? { prompt: o.prompt } : { prompt: o.prompt, task: o.task as string });
  });
  return out;
}

/** The sidecar that remembers skipped prompts, so a resumed session does not ask them again. */
export function skippedFile(out: string): string {
  return `${out}.skipped.jsonl`;
}

/**
 * Prompts already ranked or skipped. Lenient on purpose: resuming only needs each line's
 * prompt, and a line the reward stage would reject is its error to report, not ours.
 */
export function handledPrompts(out: string): Set<string> {
  const done = new Set<string>();
  for (const file of [out, skippedFile(out)]) {
    if (!existsSync(file)) continue;
    readJSONL(
      file,
      'rankings',
      (obj) => {
        const prompt = (obj as { prompt?: unknown } | null)?.prompt;
        if (typeof prompt === 'string') done.add(prompt);
      },
      'skip',
    ); // an unreadable line is skipped here
  }
  return done;
}

// ---------------------------------------------------------------------------------------
// The session loop (model and terminal injected, so tests can script it)

/** A completion as one display block: text, with tool calls as [calculator: 3*4 → 12]. */
export function formatCompletion(c: Completion): string {
  const msgs: Message[] = completionMessages(c);
  let text = '';
  msgs.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    text += m.content;
    if (m.tool_call) text += `[${m.tool_call.name}: ${m.tool_call.input} → ${msgs[i + 1]?.content ?? '?'}]`;
  });
  // model text may hold control characters; printed raw, an escape sequence could repaint the terminal
  const shown = text.trim().replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '\uFFFD');
  return shown === '' ? '(empty)' : shown;
}

export { LABEL_HELP };

export interface LabelRunOptions {
  prompts: readonly LabelPrompt[];
  /** rankings.jsonl to append to (and resume from). */
  out: string;
  /** Candidate completions for a prompt, distinct and valid (at most 9); fewer than two skips the prompt. */
  sample(prompt: LabelPrompt): Completion[];
  keys: KeyQueue;
  write(text: string): void;
}

export interface LabelSummary {
  /** Rankings written this session. */
  ranked: number;
  /** Prompts skipped this session (by the person, or for too few distinct completions). */
  skipped: number;
  /** Prompts neither ranked nor skipped yet. */
  remaining: number;
  quit: boolean;
}

type PromptOutcome = 'ranked' | 'skipped' | 'quit';

/** Rank every prompt not handled yet; returns when all are done, on q, or at the end of input. */
export async function runLabeling(opts: LabelRunOptions): Promise<LabelSummary> {
  const handled = handledPrompts(opts.out);
  const todo = opts.prompts.filter((p) => !handled.has(p.prompt));
  const summary: LabelSummary = { ranked: 0, skipped: 0, remaining: todo.length, quit: false };
  if (todo.length === 0) {
    opts.write(`nothing to label: all ${opts.prompts.length} prompts are ranked or skipped (${opts.out})\n`);
    return summary;
  }
  if (todo.length < opts.prompts.length) opts.write(`resuming: ${opts.prompts.length - todo.length} of ${opts.prompts.length} prompts already ranked or skipped\n`);
  opts.write(`${LABEL_HELP}\n`);
  for (let i = 0; i < todo.length; i++) {
    const p = todo[i];
    opts.write(`\nprompt ${i + 1}/${todo.length}: ${p.prompt}\n`);
    const outcome = await labelOne(p, opts);
    opts.keys.dropLine();
    if (outcome === 'quit') {
      summary.quit = true;
      break;
    }
    summary.remaining--;
    if (outcome === 'ranked') summary.ranked++;
    else summary.skipped++;
  }
  opts.write(`\nranked ${summary.ranked}, skipped ${summary.skipped}; ${summary.remaining} prompt${summary.remaining === 1 ? '' : 's'} left${summary.remaining > 0 ? ' (run again to resume)' : ''}\n`);
  return summary;
}

async function labelOne(p: LabelPrompt, opts: LabelRunOptions): Promise<PromptOutcome> {
  const skip = (reason: string): PromptOutcome => {
    appendJSONLine(skippedFile(opts.out), { prompt: p.prompt, reason });
    return 'skipped';
  };
  const cands = opts.sample(p);
  if (cands.length < 2) {
    opts.write(`  (only ${cands.length} distinct usable completion${cands.length === 1 ? '' : 's'}: skipped)\n`);
    return skip('fewer than two distinct completions');
  }
  cands.forEach((c, j) => opts.write(`  [${j + 1}] ${formatCompletion(c).replace(/\n/g, '\n      ')}\n`));
  const session = new RankingSession(cands.length);
  opts.write(`best to worst (${cands.length - 1} picks, the last is implied): `);
  for (;;) {
    const key = await opts.keys.next();
    if (key === null) {
      opts.write('\n(end of input)\n');
      return 'quit';
    }
    const ev = session.press(key);
    switch (ev.type) {
      case 'pick':
        opts.write(`${ev.choice + 1} `);
        break;
      case 'tie':
        opts.write('= ');
        break;
      case 'untie':
        opts.write(`\n  undid =; so far: ${session.describe()}: `);
        break;
      case 'undo':
        opts.write(`\n  undid ${ev.choice + 1}; so far: ${session.describe()}: `);
        break;
      case 'done':
        // tiers only with a tie: a strict ranking keeps the format from before ties
        appendRankingLine(opts.out, {
          prompt: p.prompt,
          completions: ev.order.map((j) => cands[j]),
          ...(ev.tiers !== undefined ? { tiers: ev.tiers } : {}),
          ...(p.task !== undefined ? { task: p.task } : {}),
        });
        opts.write(`\n  saved: ${session.describe()}\n`);
        return 'ranked';
      case 'skip':
        opts.write('\n  skipped\n');
        return skip('skipped by labeler');
      case 'quit':
        opts.write('\n');
        return 'quit';
      case 'help':
        opts.write(`\n  ${LABEL_HELP}\n  so far: ${session.describe()}: `);
        break;
      case 'invalid':
        opts.write(`\n  ${ev.message}\n  so far: ${session.describe()}: `);
        break;
      case 'ignored':
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Sampling from the model

/** An engine reply as a completion: plain text when it is one message without tools, else its messages. */
export function replyCompletion(messages: Message[]): Completion {
  return messages.length === 1 && messages[0].role === 'assistant' && !messages[0].tool_call ? messages[0].content : { messages };
}

/**
 * Up to k distinct, valid completions, each from its own seed. Sampling at temperature
 * often repeats a short answer, so it tries up to 2k seeds before settling for fewer.
 */
export function sampleCompletions(engine: ChatEngine, prompt: string, k: number, opts: ChatOptions & { seed: number }): Completion[] {
  const out: Completion[] = [];
  const keys = new Set<string>();
  for (let j = 0; j < 2 * k && out.length < k; j++) {
    const reply = engine.reply({ messages: [{ role: 'user', content: prompt }] }, { ...opts, seed: opts.seed + j });
    const c = replyCompletion(reply.messages);
    try {
      validateCompletion(prompt, c);
    } catch (e) {
      if (e instanceof GptforgeError) continue; // an empty or malformed reply is nothing to rank
      throw e;
    }
    const key = completionKey(c);
    if (keys.has(key)) continue;
    keys.add(key);
    out.push(c);
  }
  return out;
}
