/**
 * node dist/bench/rm-calc-probe.js <run-or-rm-dir> [stage] [n]
 *
 * Does a reward model read the calculator? (issue #24, docs/journal/rlhf.md "One failure mode,
 * concretely".) For n held-out arithmetic demonstrations (test split; default 200, those whose
 * answer's last number is the calculator's output), the RM scores the demonstration, 8 copies
 * whose answer's last number is changed (±1, ±10%, 4 random numbers of the same length), and
 * one copy whose calculator *output* is changed instead, so the answer disagrees with it, and
 * one copy whose answer has every digit changed (everyDigitChanged: no digit position matches).
 * Prints one JSON line: how often the right answer scores above the wrong ones (chance 50%)
 * and above all 8 (chance 1/9), the score's spread over the 9 answers against its spread
 * across prompts, how often the changed output scores lower (chance 50%), and how often the
 * right answer scores above the every-digit copy (chance 50%).
 * An RM that compares the answer with the output scores the right answer highest; one whose
 * score barely moves with the digits does not look at them.
 */
import { Rng } from '../src/engine/rng.js';
import { renderForReward } from '../src/data/chat.js';
import { everyDigitChanged } from '../src/data/contrast.js';
import type { Message } from '../src/data/conversation.js';
import { rankingConversation } from '../src/data/preferences.js';
import { loadRewardModel } from '../src/run/models.js';
import { taskExamples } from '../src/train/comparisons.js';
import { scoreSequences } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: 3 });

const [dir, stage, nArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: node dist/bench/rm-calc-probe.js <run-or-rm-dir> [stage] [n]');
const rm = loadRewardModel(dir, stage);
const items = taskExamples('test', Number(nArg ?? 200), 777, ['arithmetic']);
const rng = new Rng(99);
// its own stream, so the 8 wrong answers are the ones earlier versions of this probe drew
const everyRng = new Rng(101);
const pad = rm.tok.specialId('<|pad|>');
const NUM = /\d[\d,]*(?:\.\d+)?/g;
let rows = 0;
let aboveAll = 0;
let aboveShare = 0;
let sdAnswers = 0;
let outputLower = 0;
let aboveEvery = 0;
const base: number[] = [];
for (const it of items) {
  const msgs: Message[] = it.example.conversation.messages.slice(1);
  const ai = msgs.length - 1;
  const ti = msgs.findIndex((m) => m.role === 'tool');
  if (ti < 0 || msgs[ai].role !== 'assistant') continue;
  const text = msgs[ai].content;
  const nums = [...text.matchAll(NUM)];
  const last = nums[nums.length - 1];
  if (!last || last[0] !== msgs[ti].content.trim()) continue;
  const v = Number(last[0]);
  const at = last.index ?? 0;
  const withAnswer = (x: number): Message[] => msgs.map((m, k) => (k === ai ? { ...m, content: text.slice(0, at) + String(x) + text.slice(at + last[0].length) } : m));
  const wrongs = new Set<number>();
  for (const w of [v + 1, v - 1, Math.round(v * 1.1), Math.round(v * 0.9)]) if (w !== v && w >= 0) wrongs.add(w);
  while (wrongs.size < 8) {
    const w = Math.floor(10 ** (last[0].length - 1) + rng.random() * 9 * 10 ** (last[0].length - 1));
    if (w !== v) wrongs.add(w);
  }
  const wrong = [...wrongs];
  const changedOutput = msgs.map((m, k) => (k === ti ? { ...m, content: String(wrong[0]) } : m));
  const every = msgs.map((m, k) => (k === ai ? { ...m, content: text.slice(0, at) + everyDigitChanged(last[0], everyRng) + text.slice(at + last[0].length) } : m));
  const convs = [msgs, ...wrong.map(withAnswer), changedOutput, every];
  const s = scoreSequences(
    rm.model,
    convs.map((c) => renderForReward(rm.tok, rankingConversation(it.prompt, { messages: c }))),
    pad,
  );
  const answers = s.slice(0, 9);
  const mean = answers.reduce((a, b) => a + b) / answers.length;
  sdAnswers += Math.sqrt(answers.reduce((a, b) => a + (b - mean) ** 2, 0) / answers.length);
  const below = answers.slice(1).filter((x) => x < s[0]).length;
  if (below === 8) aboveAll++;
  aboveShare += below / 8;
  if (s[9] < s[0]) outputLower++;
  if (s[10] < s[0]) aboveEvery++;
  base.push(s[0]);
  rows++;
}
const m = base.reduce((a, b) => a + b, 0) / rows;
const r = (x: number) => Number(x.toFixed(4));
console.log(
  JSON.stringify({
    dir,
    items: rows,
    rightAboveWrongShare: r(aboveShare / rows),
    rightAboveAll8Wrong: r(aboveAll / rows),
    sdOverAnswerValues: r(sdAnswers / rows),
    sdAcrossPrompts: r(Math.sqrt(base.reduce((a, b) => a + (b - m) ** 2, 0) / rows)),
    outputChangedLower: r(outputLower / rows),
    rightAboveEveryDigit: r(aboveEvery / rows),
  }),
);
