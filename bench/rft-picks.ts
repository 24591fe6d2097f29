/**
 * node dist/bench/rft-picks.js <run> <out.jsonl> [prompts=600] [n=8] [temperature=1] [maxTokens=80] [seed=31] [families=arithmetic,syllables,rhymes,chat] [rm=rm]
 *
 * Rejection-sampling fine-tuning's data (RFT; Touvron et al. 2023, Llama 2 §3.2.3; Dong et al.
 * 2023, RAFT; TRL's best-of-N sampling): `prompts` training-split prompts of `families` (the
 * ones the model can do: correctness read from the context), `n` samples each from the run's
 * SFT model, the reward model's favourite kept as a conversation {"messages": [...]} for
 * `gptforge sft --from sft --data <out.jsonl>`. No rubric and no checker are used: only the RM,
 * as PPO sees it (issue #24 item 4; docs/rlhf.md, "Rejection-sampling fine-tuning").
 * Prints a JSON summary: picks, and the picks' rubric-correct share beside a random sample's
 * (what the RM's choice adds, measured by the checker after the fact).
 */
import { writeFileSync } from 'node:fs';
import { rubricScore } from '../src/data/labelers.js';
import { rankingConversation } from '../src/data/preferences.js';
import { ChatEngine } from '../src/infer/engine.js';
import { defaultTools } from '../src/infer/tools/registry.js';
import { loadModel, loadRewardModel } from '../src/run/models.js';
import { promptReplies, taskPrompts } from '../src/train/comparisons.js';
import { scoreConversations } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY });
const [run, out, ...kv] = process.argv.slice(2);
if (!run || !out) throw new Error('usage: node dist/bench/rft-picks.js <run> <out.jsonl> [prompts=600] [n=8] [temperature=1] [maxTokens=80] [seed=31] [families=…] [rm=rm]');
const o = Object.fromEntries(kv.map((a) => a.split('=') as [string, string]));
const count = Number(o.prompts ?? 600);
const n = Number(o.n ?? 8);
const temperature = Number(o.temperature ?? 1);
const maxTokens = Number(o.maxTokens ?? 80);
const seed = Number(o.seed ?? 31);
const families = (o.families ?? 'arithmetic,syllables,rhymes,chat').split(',');
const sft = loadModel(run, 'sft');
const rm = loadRewardModel(run, o.rm ?? 'rm');
const engine = new ChatEngine(sft.model, sft.tok);
const prompts = taskPrompts('train', count, seed, families);
const lines: string[] = [];
let pickedRight = 0;
let firstRight = 0;
const t0 = Date.now();
prompts.forEach((p, i) => {
  const cands = promptReplies(engine, p.prompt, n, { temperature, maxTokens, tools: defaultTools(), seed: seed * 100_003 + i }).filter((c) => c.messages.some((m) => m.tool_call !== undefined || m.content.trim() !== ''));
  if (cands.length === 0) return;
  const scores = scoreConversations(
    rm.model,
    rm.tok,
    cands.map((c) => rankingConversation(p.prompt, c)),
  );
  const best = cands[scores.indexOf(Math.max(...scores))];
  if (rubricScore(p.prompt, best, p.task).correct) pickedRight++;
  if (rubricScore(p.prompt, cands[0], p.task).correct) firstRight++;
  lines.push(JSON.stringify({ messages: [{ role: 'user', content: p.prompt }, ...best.messages] }));
});
writeFileSync(out, `${lines.join('\n')}\n`);
console.log(JSON.stringify({ run, out, prompts: prompts.length, picks: lines.length, n, families, pickedCorrect: pickedRight / lines.length, randomSampleCorrect: firstRight / lines.length, seconds: Math.round((Date.now() - t0) / 1000) }));
