import type { Conversation } from '../data/conversation.js';
import { THINK_TRIGGER } from '../data/synthetic/longarith.js';
import { FEEDBACK_SOURCES, type FeedbackSource } from '../data/synthetic/reflect.js';
import type { ChatEngine, ChatOptions } from '../infer/engine.js';
import { builtinToolCall, type BuiltinToolCall } from '../infer/tools-state.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { selfConsistency, type SelfConsistencyResult } from './consistency.js';
import { TECHNIQUES, type Technique } from './names.js';
import { reflect, type ReflectTrace } from './reflect.js';
import { formatTot, treeOfThoughts, type TotTrace } from './tot.js';
import { rewardValue, type ValueModel } from './tot-value.js';
import { extractAnswer } from './vote.js';

/**
 * One entry point for the prompting techniques (docs/techniques.md), returning a trace a
 * person can read: `gptforge ask` prints it; the eval sweeps call the same functions.
 *
 * - `direct`: one greedy reply to the question as asked;
 * - `cot`: the question with "Let's think step by step." appended (Kojima et al. 2022), greedy;
 * - `self-consistency`: k sampled step-by-step replies on one shared prefill, majority vote
 *   (and the log-probability- and reward-weighted votes: consistency.ts);
 * - `reflect`: a direct answer, then up to `rounds` reviews with feedback from the model
 *   itself, the calculator, or a verifier's verdict (reflect.ts);
 * - `tot`: tree of thoughts on the game of 24 — the question's numbers (2–6 of them) are the
 *   start; breadth-first search with the model's own sure/likely/impossible values (tot.ts),
 *   or a learned value model's (tot-value.ts), optionally with calculator-checked thoughts.
 */
export { TECHNIQUES, type Technique }; // kept in names.ts, which the command line's --help reads without this module

export interface AskOptions extends Pick<ChatOptions, 'maxTokens' | 'tools' | 'topK' | 'topP'> {
  technique: Technique;
  /** Samples for self-consistency (default 8). */
  k?: number;
  /** Sampling temperature for self-consistency (default 0.7); direct and cot are greedy. */
  temperature?: number;
  /**
   * Seed of the first sample (default 1) and, on a model with randomized position ids
   * (config.randomPositions), of the position draws: ask() restarts them from it
   * (ChatEngine.seedPositions), so the same seed gives the same trace whatever the model decoded before.
   */
  seed?: number;
  /** A system message put before the question. */
  system?: string;
  /** Self-consistency: weigh votes with this reward model too. */
  rewardModel?: { model: GPT; tok: Tokenizer };
  /**
   * Self-consistency: prefills (selfConsistency's positionGroups, default 1) and whether samples
   * with the same tokens so far share a decoding row (default true). On a model with
   * randomized position ids (config.randomPositions, AB5), `shareHistories: false` gives each
   * sample its own position ids for its reply, so even greedy samples (temperature 0) differ.
   */
  positionGroups?: number;
  shareHistories?: boolean;
  /** Self-consistency: samples share decoding rows only within their stream (ChatOptions.historyStreams; default 1). */
  historyStreams?: number;
  /** Reflect: where the feedback comes from (default self), the most rounds (default 2) and the verdict's verifier. */
  feedback?: FeedbackSource;
  rounds?: number;
  verify?(question: string, answer: string): boolean;
  /** Tree of thoughts: states kept per level and thoughts per state. */
  breadth?: number;
  proposals?: number;
  /** Tree of thoughts: the calculator computes each proposed operation's result (TotOptions.toolResults). */
  calculator?: boolean;
  /** Tree of thoughts: sampled proposal replies per state besides the greedy one (TotOptions.proposalSamples; seeded by `seed`). */
  proposalSamples?: number;
  /** Tree of thoughts: value states with this learned value model (tot-value.ts) instead of the model's own judgement; nothing pruned, the `breadth` best kept. */
  valueModel?: ValueModel & { threshold?: number };
}

/** What a technique did, step by step. */
export interface AskTrace {
  technique: Technique;
  /** The user message as sent (cot and self-consistency add the trigger). */
  prompt: string;
  /** The final reply text (for self-consistency: the winning sample's text). */
  reply: string;
  /** The final answer read from it (vote.ts's extractAnswer). */
  answer: string | undefined;
  /** Self-consistency's samples and votes. */
  consistency?: SelfConsistencyResult;
  /** Reflection's first answer and rounds. */
  reflection?: ReflectTrace;
  /** The tree of thoughts' levels and path. */
  tree?: TotTrace;
  /**
   * direct and cot with tools: each call the model made (`calculator: 12+39`) and the tool's output,
   * in order (self-consistency's are on each sample, reflection's on its first reply and each round).
   */
  toolCalls?: BuiltinToolCall[];
  /** Tokens sampled in all. */
  tokens: number;
  ms: number;
}

/** The question with the step-by-step trigger appended (once). */
export function withTrigger(question: string): string {
  return question.includes(THINK_TRIGGER) ? question : `${question.trimEnd()} ${THINK_TRIGGER}`;
}

function conversation(prompt: string, system?: string): Conversation {
  return { messages: [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: prompt }] };
}

/**
 * Answer `question` with one technique.
 * @throws GptforgeError for an unknown technique or feedback source, or bad k.
 */
export function ask(engine: ChatEngine, question: string, o: AskOptions): AskTrace {
  const t0 = performance.now();
  // from JavaScript a feedback the type does not allow would otherwise run as self-review, silently
  if (o.feedback !== undefined && !FEEDBACK_SOURCES.includes(o.feedback)) throw new GptforgeError(`feedback must be one of ${FEEDBACK_SOURCES.map((s) => JSON.stringify(s)).join(', ')} (the calculator's is "tool"), got ${JSON.stringify(o.feedback)}`, { field: 'feedback' });
  engine.seedPositions(o.seed ?? 1);
  const chat: ChatOptions = { maxTokens: o.maxTokens ?? 320, tools: o.tools, topK: o.topK, topP: o.topP };
  switch (o.technique) {
    case 'direct':
    case 'cot': {
      const prompt = o.technique === 'cot' ? withTrigger(question) : question;
      let tokens = 0;
      const toolCalls: BuiltinToolCall[] = [];
      const r = engine.reply(conversation(prompt, o.system), { ...chat, temperature: 0, seed: o.seed ?? 1, onStep: () => tokens++, onToolCall: (call, res) => toolCalls.push(builtinToolCall(call, res)) });
      return { technique: o.technique, prompt, reply: r.text, answer: extractAnswer(r.text), ...(o.tools ? { toolCalls } : {}), tokens, ms: performance.now() - t0 };
    }
    case 'self-consistency': {
      const prompt = withTrigger(question);
      const sc = selfConsistency(engine, conversation(prompt, o.system), {
        ...chat,
        k: o.k ?? 8,
        temperature: o.temperature ?? 0.7,
        seed: o.seed ?? 1,
        rewardModel: o.rewardModel,
        positionGroups: o.positionGroups,
        shareHistories: o.shareHistories ?? true,
        historyStreams: o.historyStreams,
      });
      const winner = sc.samples.find((s) => s.answer === sc.majority.answer);
      return { technique: o.technique, prompt, reply: winner?.text ?? '', answer: sc.majority.answer, consistency: sc, tokens: sc.samples.reduce((s, x) => s + x.tokens, 0), ms: performance.now() - t0 };
    }
    case 'reflect': {
      const t = reflect(engine, question, { source: o.feedback ?? 'self', rounds: o.rounds, verify: o.verify, maxTokens: chat.maxTokens, system: o.system, seed: o.seed, tools: o.tools });
      const last = t.rounds[t.rounds.length - 1];
      return { technique: o.technique, prompt: question, reply: last?.review ?? t.first, answer: t.answer, reflection: t, tokens: t.tokens, ms: performance.now() - t0 };
    }
    case 'tot': {
      const nums = (question.match(/\d+/g) ?? []).map(Number);
      if (nums.length < 2 || nums.length > 6) throw new GptforgeError(`tree of thoughts plays the game of 24: the question must hold 2–6 whole numbers, e.g. "4 9 10 13"; ${JSON.stringify(question)} has ${nums.length}`, { field: 'question' });
      const learned = o.valueModel && { value: rewardValue(o.valueModel, o.valueModel.threshold), likely: 0 };
      const t = treeOfThoughts(engine, nums, { breadth: o.breadth, proposals: o.proposals, toolResults: o.calculator, proposalSamples: o.proposalSamples, seed: o.seed, ...learned });
      const path = t.best ? t.best.steps.map((s) => `${s.a}${s.op}${s.b}=${s.c}`).join(', ') : '';
      return { technique: o.technique, prompt: question, reply: path, answer: t.best ? String(t.best.nums[0]) : undefined, tree: t, tokens: t.tokens, ms: performance.now() - t0 };
    }
    default:
      throw new GptforgeError(`unknown technique "${String(o.technique)}" (one of: ${TECHNIQUES.join(', ')})`, { field: 'technique' });
  }
}

/** A reply's tool calls as `gptforge chat` prints them, `[calculator: 12*3 → 36]`, one a line: before the text they fed (the reply goes on after each output). */
function callLines(calls: readonly BuiltinToolCall[] | undefined): string[] {
  return (calls ?? []).map((c) => `[${c.name}: ${c.input} → ${c.output}]`);
}

/** Most answers a vote line of formatTrace lists (best first); the rest are counted. */
export const TALLY_SHOWN = 10;

/** The trace as text: the prompt, each sample with its answer, the votes (the TALLY_SHOWN best answers of each), the answer. */
export function formatTrace(t: AskTrace): string {
  const lines = [`technique: ${t.technique}`, `prompt: ${t.prompt}`, ''];
  if (t.consistency) {
    const sc = t.consistency;
    sc.samples.forEach((s, i) => {
      lines.push(`── sample ${i + 1} (answer ${s.answer ?? '—'}, mean logprob ${s.meanLogprob.toFixed(3)}${s.reward !== undefined ? `, reward ${s.reward.toFixed(3)}` : ''})`, ...callLines(s.toolCalls), s.text, '');
    });
    // a tie is broken by the earliest sample (vote.ts): said, so a reader does not take it for a win
    const tie = (v: typeof sc.majority): string => (v.tally.length > 1 && v.tally[0].weight === v.tally[1].weight ? ` — a tie, broken by the earliest sample (${v.tally[0].first + 1})` : '');
    // the ten best answers: with --k 100 the whole tally is one unreadable line
    const show = (name: string, v: typeof sc.majority): string => {
      const shown = v.tally.slice(0, TALLY_SHOWN).map((x) => `${x.answer} ×${x.count}${name === 'majority' ? '' : ` (${x.weight.toFixed(3)})`}`);
      const more = v.tally.length - shown.length;
      return `${name}: ${shown.join(', ') || 'no answers'}${more > 0 ? `, … ${more} more answer${more === 1 ? '' : 's'}` : ''}${tie(v)}`;
    };
    lines.push(show('majority', sc.majority), show('logprob-weighted', sc.logprob));
    if (sc.reward) lines.push(show('reward-weighted', sc.reward));
    if (sc.rewardBest) lines.push(`reward best-of-${sc.samples.length}: ${sc.rewardBest.answer ?? '—'} (sample ${sc.rewardBest.index + 1})`);
  } else if (t.reflection) {
    const r = t.reflection;
    lines.push('── first answer', ...callLines(r.firstToolCalls), r.first, '');
    r.rounds.forEach((x, i) => lines.push(`── round ${i + 1}: ${x.feedback}`, ...callLines(x.toolCalls), x.review, `(answer now ${x.answer ?? '—'})`, ''));
  } else if (t.tree) lines.push(formatTot(t.tree), '');
  else {
    lines.push(...callLines(t.toolCalls), t.reply, '');
  }
  // self-consistency: how many samples gave the answer (free text votes normalised, extractAnswer)
  const agreed = t.consistency && t.answer !== undefined ? t.consistency.majority.tally.find((x) => x.answer === t.answer) : undefined;
  const of = agreed ? ` — ${agreed.count} of ${t.consistency!.samples.length} samples agreed` : '';
  lines.push(`answer: ${t.answer ?? '—'}${of}  (${t.tokens} tokens sampled, ${(t.ms / 1000).toFixed(2)} s)`);
  return lines.join('\n');
}
