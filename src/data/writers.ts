import { Rng } from '../engine/rng.js';
import { GptforgeError } from '../util/errors.js';
import type { Conversation, Message } from './conversation.js';
import type { SyntheticTask, TaskExample } from './synthetic/task.js';

/**
 * Simulated demonstration writers (issue #24). The talk's reason for RLHF is that the people
 * who write SFT demonstrations make mistakes and write worse than they judge ("it is easier
 * to compare than to generate"). The synthetic families write every demonstration perfectly,
 * in exactly the form the simulated labelers' rubric pays for (src/data/labelers.ts), which
 * leaves RLHF nothing to fix. A writer with error rate e_w (`writerErrorRate`) spoils each
 * training demonstration with probability e_w, by one of five mistakes (drawn by weight among
 * those that apply to the conversation):
 *
 *   wrong_answer   the final answer is wrong: a number in it is off (arithmetic after a correct
 *                  calculator output, a syllable count), or the answer of another item of the
 *                  family with this item's word put in ("The word speck rhymes with vignette.");
 *                  the family's checker rejects it (checked; up to 8 draws, else another mistake)
 *   no_tool_call   the calculator call and its output are left out (only where the family uses
 *                  a tool): the writer answers from memory, so the demonstration never shows the call
 *   rambling       filler sentences are added after the answer until it runs past 32 words
 *                  (the rubric's concision term starts at 25)
 *   repetition     the answer is written two or three times over (the rubric's repeated 3-grams)
 *   broken_format  the closing punctuation is dropped and an unclosed bracket left in (the
 *                  rubric's well-formedness term)
 *
 * Held-out (validation and test) conversations are never spoilt: they measure the task, not
 * the writers. Deterministic in the seed: one random number decides each demonstration whether
 * or not it is spoilt, so at e_w = 0 the stream is consumed and nothing changes — the data are
 * exactly the perfect writers' (`writeDemonstrations` returns the same objects).
 */
export type WriterError = 'wrong_answer' | 'no_tool_call' | 'rambling' | 'repetition' | 'broken_format';

export const WRITER_ERRORS: readonly WriterError[] = ['wrong_answer', 'no_tool_call', 'rambling', 'repetition', 'broken_format'];

/** The writers' error profile: how often a demonstration is spoilt, and by which mistakes. */
export interface WriterProfile {
  /** e_w: probability (0..1) that a demonstration carries one mistake. */
  writerErrorRate: number;
  /** Relative weights of the mistakes (default 1 each); a mistake with weight 0 is never made. */
  writerErrors?: Partial<Record<WriterError, number>>;
}

/** What the writers did to one family's demonstrations. */
export interface WriterReport {
  /** Demonstrations written. */
  total: number;
  /** Spoilt demonstrations, by mistake. */
  errors: Record<WriterError, number>;
}

/** @throws GptforgeError for a rate outside [0, 1] or a bad weight, naming the field. */
export function validateWriterProfile(p: WriterProfile, file = 'sft mixture'): void {
  if (!(typeof p.writerErrorRate === 'number' && p.writerErrorRate >= 0 && p.writerErrorRate <= 1)) {
    throw new GptforgeError(`writerErrorRate must be a number between 0 and 1, got ${String(p.writerErrorRate)}`, { file, field: 'writerErrorRate' });
  }
  for (const [k, w] of Object.entries(p.writerErrors ?? {})) {
    if (!WRITER_ERRORS.includes(k as WriterError)) throw new GptforgeError(`unknown writer error "${k}" (one of: ${WRITER_ERRORS.join(', ')})`, { file, field: `writerErrors.${k}` });
    if (!(typeof w === 'number' && w >= 0)) throw new GptforgeError(`weight must be a number ≥ 0, got ${String(w)}`, { file, field: `writerErrors.${k}` });
  }
}

const FILLER = [
  'That is a really good question to ask.',
  'I hope this helps you with whatever you are working on today.',
  'Let me know if there is anything else you would like me to explain in more detail.',
  'Many people find this kind of thing confusing at first, which is perfectly normal.',
  'There are of course many other things one could say about this topic as well.',
  'Thank you very much for asking me about it.',
];

/** A rambling reply runs past this many words (the rubric's concision term starts at 25). */
const RAMBLE_WORDS = 32;

/** The index of the conversation's last assistant message with text (the answer). */
function answerIndex(msgs: readonly Message[]): number {
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].role === 'assistant' && msgs[i].content.trim() !== '') return i;
  return -1;
}

function withAnswer(conv: Conversation, text: string): Conversation {
  const msgs = conv.messages.map((m) => ({ ...m }));
  msgs[answerIndex(msgs)].content = text;
  return { messages: msgs };
}

const NUMBER = /\d[\d,]*(?:\.\d+)?/g;

/** A wrong answer: the last number moved, or another item's answer about this item; undefined if none the checker rejects. */
function wrongAnswer(ex: TaskExample, task: SyntheticTask, rng: Rng): Conversation | undefined {
  const text = ex.conversation.messages[answerIndex(ex.conversation.messages)].content;
  const nums = [...text.matchAll(NUMBER)];
  for (let attempt = 0; attempt < 8; attempt++) {
    let wrong: string;
    if (nums.length > 0) {
      const last = nums[nums.length - 1];
      const value = Number(last[0].replace(/,/g, ''));
      // off by one to about a fifth: the slips a person makes copying or counting
      const delta = Math.max(1, Math.round(Math.abs(value) * 0.2 * rng.random())) * (rng.random() < 0.5 ? -1 : 1);
      const moved = value + delta < 0 ? value + Math.abs(delta) : value + delta;
      wrong = text.slice(0, last.index) + String(Number.isInteger(value) ? moved : moved.toFixed(2)) + text.slice(last.index! + last[0].length);
    } else {
      const other = task.generate('train', 1, rng.nextU32())[0];
      const oi = answerIndex(other.conversation.messages);
      if (oi < 0) continue;
      wrong = other.conversation.messages[oi].content;
      const mine = task.item?.(ex.prompt);
      const theirs = task.item?.(other.prompt);
      // a word family's answer names its word: say it about this item, so only the answer is wrong
      if (mine && theirs && mine !== theirs && /^[\p{L}'-]+$/u.test(theirs)) wrong = wrong.replace(new RegExp(`\\b${theirs}\\b`, 'g'), mine);
    }
    if (wrong !== text && !task.check(ex.prompt, wrong)) return withAnswer(ex.conversation, wrong);
  }
  return undefined;
}

/** The conversation without its tool calls and outputs: the turn's texts joined. */
function withoutTools(conv: Conversation): Conversation | undefined {
  if (!conv.messages.some((m) => m.tool_call)) return undefined;
  const out: Message[] = [];
  let said = '';
  for (const m of conv.messages) {
    if (m.role === 'tool') continue;
    if (m.role === 'assistant') {
      // "I'll use the calculator." promises a call that is no longer there
      const content = m.tool_call ? m.content.replace(/[^.!?]*calculator[^.!?]*[.!?]\s*/i, '') : m.content;
      said += content;
      continue;
    }
    if (said.trim()) out.push({ role: 'assistant', content: said.trim() });
    said = '';
    out.push({ ...m });
  }
  if (!said.trim()) return undefined;
  out.push({ role: 'assistant', content: said.trim() });
  return { messages: out };
}

function spoil(kind: WriterError, ex: TaskExample, task: SyntheticTask, rng: Rng): Conversation | undefined {
  const text = ex.conversation.messages[answerIndex(ex.conversation.messages)]?.content;
  if (text === undefined) return undefined;
  switch (kind) {
    case 'wrong_answer':
      return wrongAnswer(ex, task, rng);
    case 'no_tool_call':
      return withoutTools(ex.conversation);
    case 'rambling': {
      // filler until the reply is well past the rubric's 25 words
      const extra = rng.shuffle([...FILLER]);
      let out = text;
      for (const f of extra) {
        out = `${out} ${f}`;
        if (out.split(/\s+/).length > RAMBLE_WORDS) break;
      }
      return withAnswer(ex.conversation, out);
    }
    case 'repetition': {
      // enough copies that a word 3-gram repeats even in a two-word reply ("My pleasure.")
      const words = Math.max(1, text.trim().split(/\s+/).length);
      return withAnswer(ex.conversation, Array.from({ length: Math.max(2 + rng.int(2), 1 + Math.ceil(3 / words)) }, () => text).join(' '));
    }
    case 'broken_format': {
      const bare = text.replace(/[.!?]+["'”’)\]]?\s*$/, '');
      const cut = bare.lastIndexOf(' ');
      // an aside opened and never closed, and no full stop
      return withAnswer(ex.conversation, cut > 0 ? `${bare.slice(0, cut)} (${bare.slice(cut + 1)}` : `(${bare}`);
    }
  }
}

/**
 * The demonstrations as the simulated writers hand them in: each spoilt with probability
 * `writerErrorRate` by one mistake (weights `writerErrors`, among those that apply to it).
 * Returns new conversations for the spoilt ones and the same objects for the rest, and what
 * was done. Deterministic in `seed`.
 */
export function writeDemonstrations(examples: readonly TaskExample[], task: SyntheticTask, profile: WriterProfile, seed: number): { conversations: Conversation[]; report: WriterReport } {
  validateWriterProfile(profile);
  const rng = new Rng((seed ^ 0x5eed_0f17) >>> 0);
  const errors = Object.fromEntries(WRITER_ERRORS.map((e) => [e, 0])) as Record<WriterError, number>;
  const weights = WRITER_ERRORS.map((e) => profile.writerErrors?.[e] ?? 1);
  const conversations = examples.map((ex) => {
    // one draw per demonstration whatever the rate, so a rate change spoils a superset
    if (!(rng.random() < profile.writerErrorRate)) return ex.conversation;
    const kinds = WRITER_ERRORS.map((e, i) => ({ e, w: weights[i] })).filter((k) => k.w > 0);
    while (kinds.length > 0) {
      const total = kinds.reduce((s, k) => s + k.w, 0);
      let r = rng.random() * total;
      let pick = 0;
      while (pick < kinds.length - 1 && r >= kinds[pick].w) r -= kinds[pick++].w;
      const spoilt = spoil(kinds[pick].e, ex, task, rng);
      if (spoilt) {
        errors[kinds[pick].e]++;
        return spoilt;
      }
      // this mistake does not apply here (no tool call to leave out): draw among the others
      kinds.splice(pick, 1);
    }
    return ex.conversation;
  });
  return { conversations, report: { total: examples.length, errors } };
}

/** Spoilt demonstrations in a report. */
export function spoiltCount(r: WriterReport): number {
  return WRITER_ERRORS.reduce((s, e) => s + r.errors[e], 0);
}
