import { appendFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { measureConsistencyCurve, signTestP, type ConsistencyCurve, type SamplingSetting } from '../src/assist/consistency-curve.js';
import { verifierRankings } from '../src/assist/verifier.js';
import { ChatEngine } from '../src/infer/engine.js';
import { loadModel } from '../src/run/models.js';
import { atomicWriteFile } from '../src/util/atomic.js';
import { GptforgeError } from '../src/util/errors.js';
import type { BenchSubcommand } from './args.js';

/**
 * Self-consistency's accuracy sweep and the verifier (docs/journal/techniques.md, "Self-consistency:
 * the sampling sweep and a verifier"); bench/techniques.ts dispatches here:
 *
 *   node dist/bench/techniques.js sccurve <dir> [n] [digits]
 *     accuracy against k = 1, 2, 4, 8, 16 from one 16-sample draw per problem, for each setting
 *     in SC_SAMPLING (space-separated, each T[:pP][:mM][:kK], e.g. "0.7 1.0:p0.9 1.0:m0.1";
 *     default "0.7"); SC_RM=<run dir with rm/ or a checkpoint>: the RM-weighted vote and the RM's
 *     best-of-k too; rows appended to SC_OUT (default <dir>/sc-curve.jsonl), per-problem samples
 *     to <that>.problems.jsonl. The family: long-addition-abacus for an abacus model (AB5), else
 *     long-addition. T = 0 (a setting "0") is greedy sampling: on a model with randomized
 *     position ids (config.randomPositions) the samples then differ by their position draws
 *     alone. SC_GROUPS=g: selfConsistency's positionGroups (g prefills, each its own draw of
 *     the prompt's ids; default 1); SC_SHARE=0: no shared histories (each sample its own row,
 *     its own ids for the whole reply); SC_STREAMS=s: one prefill, samples share rows only
 *     within their stream (sample i in stream i mod s), each stream its own reply ids. The table pairs the majority vote with greedy (wins /
 *     losses, exact sign test).
 *   node dist/bench/techniques.js verifier-data <dir> <problems> <minDigits-maxDigits> <runDir>
 *     the model's own samples (VERIFIER_K a problem, default 16, SC_SAMPLING's first setting) on
 *     train-split problems, labelled by the checker, as rankings <runDir>/verifier-rankings.jsonl;
 *     <runDir> gets the model's checkpoint and tokenizer and a preset.json whose rm section is
 *     the verifier's (then: gptforge rm --run <runDir> --rankings <runDir>/verifier-rankings.jsonl)
 */

/** Its subcommands' arguments for bench/techniques.ts's check (bench/args.ts): usage from the comment above. */
export const SC_SUBCOMMANDS: Record<string, BenchSubcommand> = {
  sccurve: { args: [1, 3], usage: import.meta.url },
  'verifier-data': { args: [4, 4], usage: import.meta.url },
};

/** "1.0:p0.9:m0.05:k40" → { temperature: 1, topP: 0.9, minP: 0.05, topK: 40 }. */
export function parseSetting(s: string): SamplingSetting {
  const [t, ...rest] = s.split(':');
  const out: SamplingSetting = { temperature: Number(t) };
  for (const r of rest) {
    const v = Number(r.slice(1));
    if (r[0] === 'p') out.topP = v;
    else if (r[0] === 'm') out.minP = v;
    else if (r[0] === 'k') out.topK = v;
    else throw new GptforgeError(`SC_SAMPLING: "${r}" in "${s}" is none of pP, mM, kK`, { field: 'SC_SAMPLING' });
  }
  if (!(out.temperature >= 0) || Object.values(out).some((x) => !Number.isFinite(x))) throw new GptforgeError(`SC_SAMPLING: bad setting "${s}"`, { field: 'SC_SAMPLING' });
  return out;
}

/**
 * The verifier run's preset: only its rm section is read (rankings come from the file). One
 * ranking is ≤ 8 replies of ≤ ~170 tokens (6 digits), 4 rankings a step: ~4 k tokens a step.
 * VERIFIER_STEPS overrides maxSteps.
 */
const VERIFIER_PRESET = {
  name: 'techniques-verifier',
  rm: {
    comparisons: { prompts: 0, valPrompts: 0, k: 16, noise: 0, temperature: 0.7, maxTokens: 320 },
    rankingsPerBatch: 4,
    train: { maxSteps: Number(process.env.VERIFIER_STEPS ?? 400), lr: 3e-4, minLr: 3e-5, warmupSteps: 20, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 100, checkpointEvery: 50, keepLast: 2, logEvery: 10 },
  },
};

const label = (s: SamplingSetting): string => `T=${s.temperature}${s.topP !== undefined ? ` top-p ${s.topP}` : ''}${s.minP !== undefined ? ` min-p ${s.minP}` : ''}${s.topK !== undefined ? ` top-k ${s.topK}` : ''}`;

function table(c: ConsistencyCurve, groups: number, share: boolean, streams: number): string {
  const rm = c.rows[0]?.reward !== undefined;
  const pct = (x: number): string => `${Math.round((100 * x) / c.problems)}% (${x})`;
  const lines = [
    `${c.digits} digits, ${label(c.sampling)}${groups > 1 ? `, ${groups} position groups` : ''}${streams > 1 ? `, ${streams} streams` : ''}${share ? '' : ', no shared histories'}, ${c.problems} problems, greedy ${pct(c.greedy)}, CPU ${(c.cpuMs / 1000).toFixed(0)} s`,
    `| k | one sample | majority | majority vs greedy (wins / losses, p) | logprob-weighted |${rm ? ' RM-weighted | RM best-of-k |' : ''} checker's pick |`,
    `| --- | --- | --- | --- | --- |${rm ? ' --- | --- |' : ''} --- |`,
  ];
  for (const r of c.rows)
    lines.push(`| ${r.k} | ${(100 * r.sampleAccuracy).toFixed(0)}% | ${pct(r.majority)} | ${r.majorityWins} / ${r.majorityLosses}, p = ${signTestP(r.majorityWins, r.majorityLosses).toPrecision(2)} | ${pct(r.logprob)} |${rm ? ` ${pct(r.reward!)} | ${pct(r.rewardBest!)} |` : ''} ${pct(r.oracle)} |`);
  return lines.join('\n');
}

export function scCommand(cmd: string, dir: string, arg: string | undefined, arg2: string | undefined, arg3: string | undefined): void {
  const settings = (process.env.SC_SAMPLING ?? '0.7').trim().split(/\s+/).map(parseSetting);
  const { model, tok } = loadModel(dir);
  if (cmd === 'sccurve') {
    const n = arg ? Number(arg) : 100;
    const digits = arg2 ? Number(arg2) : 6;
    const rmPath = process.env.SC_RM;
    const rm = rmPath ? loadModel(rmPath, 'rm') : undefined;
    if (rm && !rm.model.hasScalarHead) throw new GptforgeError('SC_RM: this checkpoint has no reward head', { file: rm.dir });
    const out = process.env.SC_OUT ?? join(dir, 'sc-curve.jsonl');
    const positionGroups = Number(process.env.SC_GROUPS ?? 1);
    const shareHistories = process.env.SC_SHARE !== '0';
    const historyStreams = Number(process.env.SC_STREAMS ?? 1);
    for (const sampling of settings) {
      const c = measureConsistencyCurve(model, tok, { digits, problems: n, sampling, positionGroups, shareHistories, historyStreams, rewardModel: rm && { model: rm.model, tok: rm.tok }, onProblem: (d) => d % 25 === 0 && console.error(`  ${label(sampling)}: ${d}/${n}`) });
      const { perProblem, ...summary } = c;
      appendFileSync(out, JSON.stringify({ ...summary, positionGroups, shareHistories, historyStreams, rm: rmPath, at: new Date().toISOString() }) + '\n');
      appendFileSync(`${out}.problems.jsonl`, JSON.stringify({ digits, sampling, positionGroups, shareHistories, historyStreams, rm: rmPath, perProblem }) + '\n');
      console.log(table(c, positionGroups, shareHistories, historyStreams) + '\n');
    }
    return;
  }
  if (cmd === 'verifier-data') {
    const problems = Number(arg);
    const m = /^(\d+)-(\d+)$/.exec(arg2 ?? '');
    if (!(problems > 0) || !m || !arg3) throw new GptforgeError('usage: verifier-data <dir> <problems> <minDigits-maxDigits> <runDir>');
    const k = Number(process.env.VERIFIER_K ?? 16);
    const d = verifierRankings(new ChatEngine(model, tok), { problems, minDigits: Number(m[1]), maxDigits: Number(m[2]), k, sampling: settings[0], onProblem: (i) => i % 100 === 0 && console.error(`  ${i}/${problems}`) });
    // the verifier's run: the generator's checkpoint as its "sft" stage (the RM starts from it) and the RM stage's settings
    const src = loadModel(dir).dir;
    const sft = join(arg3, 'sft', basename(src));
    mkdirSync(sft, { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) copyFileSync(join(src, f), join(sft, f));
    atomicWriteFile(join(arg3, 'sft', 'latest.json'), JSON.stringify({ checkpoint: basename(src), step: Number(/\d+$/.exec(basename(src))?.[0] ?? 0) }) + '\n');
    atomicWriteFile(join(arg3, 'preset.json'), JSON.stringify(VERIFIER_PRESET, null, 1) + '\n');
    atomicWriteFile(join(arg3, 'verifier-rankings.jsonl'), d.rankings.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const { rankings, ...stats } = d;
    atomicWriteFile(join(arg3, 'verifier-data.json'), JSON.stringify({ ...stats, rankings: rankings.length, k, sampling: settings[0], digits: arg2, from: dir }, null, 1) + '\n');
    console.log(`${rankings.length} rankings (problems ${stats.problems}: all right ${stats.allRight}, all wrong ${stats.allWrong}; samples right ${stats.right}/${stats.samples}) → ${join(arg3, 'verifier-rankings.jsonl')}`);
    return;
  }
  throw new GptforgeError(`unknown subcommand ${cmd}`);
}
