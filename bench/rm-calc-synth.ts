/**
 * node dist/bench/rm-calc-synth.js <run> [key=value …]
 *
 * Can a reward model of this shape learn to read the calculator at all? (issue #24,
 * docs/journal/rlhf.md "Sixth pass".) A synthetic probe: the RM is trained on nothing but calculator
 * pairs — a held-out-free stream of arithmetic demonstrations (train split), each against the
 * same reply with only the answer's number wrong — so the only thing that tells the two apart
 * is whether the answer agrees with the tool output. If it cannot learn that, the mix of the
 * real RM's data is not what stops it: the architecture, the pooling or the starting point is.
 *
 * keys (defaults in brackets):
 *   from=sft|base        the checkpoint the RM starts from [sft]
 *   init=ckpt|random     its weights, or a fresh init of the same shape (same tokenizer) [ckpt]
 *   pooling=last|last+mean  the reward head's pooling (GPT.scorePool) [last]
 *   wrong=slip|every     the wrong answer: moved by 1..20% (src/data/contrast.ts contrastReply)
 *                        or every digit changed (everyDigitChanged) [slip]
 *   steps=600 lr=1e-3 batch=8 (pairs a step) pairs=20000 (distinct training pairs) evalEvery=100
 *   wd=0.1 seed=1
 *
 * Held out (test split, 300 problems each): slip pairs, every-digit pairs, and "output changed"
 * pairs (the demonstration against the same reply with the calculator's *output* changed, the
 * answer kept): an RM that compares scores the changed output lower; one that judges the
 * answer's number by itself (its last digits, its size against the question) does not.
 * Prints the trainer's held-out accuracy every evalEvery steps and one JSON line at the end.
 */
import { renderForReward } from '../src/data/chat.js';
import { contrastReply, everyDigitChanged } from '../src/data/contrast.js';
import type { Message } from '../src/data/conversation.js';
import { completionMessages, rankingConversation } from '../src/data/preferences.js';
import { taskByName } from '../src/data/synthetic/tasks.js';
import { Rng } from '../src/engine/rng.js';
import { type TaskPromptExample, taskExamples } from '../src/train/comparisons.js';
import type { RenderedRanking } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';
import { benchRewardModel, benchTrain, rightAbove } from './rm-train.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY });

const [run, ...kv] = process.argv.slice(2);
if (!run) throw new Error('usage: node dist/bench/rm-calc-synth.js <run> [from=sft] [init=ckpt|random] [pooling=last|last+mean] [wrong=slip|every] [steps=600] [lr=1e-3] …');
const o = Object.fromEntries(kv.map((a) => a.split('=') as [string, string]));
const num = (k: string, d: number): number => (o[k] === undefined ? d : Number(o[k]));
const from = o.from ?? 'sft';
const init = o.init ?? 'ckpt';
const pooling = o.pooling ?? 'last';
const wrongKind = o.wrong ?? 'slip';
const steps = num('steps', 600);
const lr = num('lr', 1e-3);
const batch = num('batch', 8);
const nPairs = num('pairs', 20000);
const evalEvery = num('evalEvery', 100);
const seed = num('seed', 1);

const { model, tok, pad } = benchRewardModel({ run, from, init, pooling, seed });
const task = taskByName('arithmetic');
const NUM = /\d[\d,]*(?:\.\d+)?/g;

/** The demonstration's messages and where its answer's last number and the tool output are, or null. */
function parts(it: TaskPromptExample): { msgs: Message[]; ai: number; ti: number; at: number; value: string } | null {
  const msgs: Message[] = it.example.conversation.messages.slice(1);
  const ai = msgs.length - 1;
  const ti = msgs.findIndex((m) => m.role === 'tool');
  if (ti < 0 || msgs[ai].role !== 'assistant') return null;
  const nums = [...msgs[ai].content.matchAll(NUM)];
  const last = nums[nums.length - 1];
  if (!last || last[0] !== msgs[ti].content.trim()) return null;
  return { msgs, ai, ti, at: last.index ?? 0, value: last[0] };
}

const withContent = (msgs: Message[], i: number, content: string): Message[] => msgs.map((m, k) => (k === i ? { ...m, content } : m));
const render = (prompt: string, msgs: Message[]): number[] => renderForReward(tok, rankingConversation(prompt, { messages: msgs }));

/** [right, wrong] of one problem, the wrong one of `kind`; null when the problem has no usable answer. */
function pair(it: TaskPromptExample, kind: string, rng: Rng): number[][] | null {
  const p = parts(it);
  if (!p) return null;
  const text = p.msgs[p.ai].content;
  let wrong: Message[];
  if (kind === 'every') wrong = withContent(p.msgs, p.ai, text.slice(0, p.at) + everyDigitChanged(p.value, rng) + text.slice(p.at + p.value.length));
  else if (kind === 'output') wrong = withContent(p.msgs, p.ti, everyDigitChanged(p.value, rng));
  else {
    const c = contrastReply(it.prompt, task, { messages: p.msgs }, rng);
    if (!c || c.correct) return null;
    wrong = completionMessages(c.reply);
  }
  return [render(it.prompt, p.msgs), render(it.prompt, wrong)];
}

function pairs(split: 'train' | 'test', n: number, kind: string, s: number): RenderedRanking[] {
  const rng = new Rng(s);
  const out: RenderedRanking[] = [];
  for (const it of taskExamples(split, n, s, ['arithmetic'])) {
    const q = pair(it, kind, rng);
    if (q && q.every((x) => x.length <= model.config.blockSize)) out.push({ completions: q });
  }
  return out;
}

const train = pairs('train', nPairs, wrongKind, 1000 + seed);
const held = { slip: pairs('test', 300, 'slip', 555), every: pairs('test', 300, 'every', 556), output: pairs('test', 300, 'output', 557) };
const accuracy = (rs: RenderedRanking[]): number => rightAbove(model, pad, rs).filter(Boolean).length / rs.length;

const t0 = Date.now();
const curve: { step: number; loss: number; heldSlip: number }[] = [];
await benchTrain({
  model,
  tok,
  pad,
  train,
  val: held[wrongKind === 'every' ? 'every' : 'slip'],
  batch,
  seed,
  steps,
  lr,
  warmup: 20,
  weightDecay: num('wd', 0.1),
  evalEvery,
  onEval: ({ step, meanLoss, record }) => {
    const acc = Number(record['val/accuracy']);
    curve.push({ step, loss: Number(meanLoss.toFixed(4)), heldSlip: Number(acc?.toFixed(4)) });
    console.error(`step ${step}: train loss (mean since last) ${meanLoss.toFixed(4)}, held-out accuracy ${acc?.toFixed(3)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  },
});
const r = (x: number) => Number(x.toFixed(4));
console.log(
  JSON.stringify({
    run,
    from,
    init,
    pooling,
    wrong: wrongKind,
    steps,
    lr,
    batch,
    trainPairs: train.length,
    seconds: Math.round((Date.now() - t0) / 1000),
    heldOut: { slip: r(accuracy(held.slip)), every: r(accuracy(held.every)), outputChangedLower: r(accuracy(held.output)), pairs: held.slip.length },
    curve,
  }),
);
