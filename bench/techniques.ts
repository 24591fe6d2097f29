import { runTechniqueSweep, type SweepPart } from '../src/assist/sweep.js';
import { ADDITION_MIXTURE, COUNTDOWN_MIXTURE, HINTS_MIXTURE, HINTS_VARIED_MIXTURE, MULTIPLY_MIXTURE, diagnoseHinted, SKILL_COT_MIXTURE, SKILL_CROWD_MIXTURE, TECHNIQUE_MIXTURE, trainThinking } from '../src/assist/thinking.js';
import { engineSummary } from '../src/engine/backend.js';
import { loadModel } from '../src/run/models.js';
import { longAdditionAbacus } from '../src/data/synthetic/longadd-abacus.js';
import { abacusConfigFor } from '../src/model/abacus.js';
import { GptforgeError } from '../src/util/errors.js';
import { checkBenchSubcommand } from './args.js';
import { ABACUS_SUBCOMMANDS, abacusCommand } from './techniques-abacus.js';
import { SC_SUBCOMMANDS, scCommand } from './techniques-sc.js';
import { TOT_SUBCOMMANDS, totCommand } from './techniques-tot.js';

/**
 * The prompting-techniques measurements (docs/techniques.md), one subcommand each; results
 * go to <dir>/techniques.json, the tables to <dir>/techniques.md, the curve to
 * <dir>/self-consistency.svg (src/assist/sweep.ts; `gptforge eval --techniques` runs the same):
 *
 *   node dist/bench/techniques.js train <dir> [steps] [all|addition|skill-cot|skill-crowd|multiply|hints|hints-varied|abacus|countdown]   the techniques model (all families, the addition ones, or those with step-by-step skill levels — a continuation; skill-crowd: every unprompted scratchpad from a mixed crowd; multiply: one-digit and 2 × 2-digit multiplication, a continuation; hints: long addition with the index-hinted scratchpad alone, a continuation; hints-varied: the same, 75% step by step, half the prompts with a sentence after the question; abacus: long addition with the carry scratchpad, 75% step by step (ABACUS_COT_SHARE), a new model with abacus embeddings, config.abacus, ABACUS_OFFSET its training offset, default 10, ABACUS_NEXT=1: the answer's ids shifted to the next digit's column, abacus.countdownIds; ABACUS_INIT_STD: the table's initial std, default 0.02; ABACUS_LAYOUT=sum: the per-column Sum line, abacus.items; ABACUS_SUM_MARKER='Sum,': its marker ends with the items' ','; ABACUS_STRETCH=s: that share of rows gets stretched column ids, abacus.stretch; RANDOM_POSITIONS applies here too), or the game-of-24 one (one ≤ CHUNK_MINUTES chunk; rerun resumes; TRAIN_BATCH rows a step; TRAIN_EXAMPLES conversations, default 30,000; RANDOM_POSITIONS=L: a new model with randomized position ids, config.randomPositions)
 *   node dist/bench/techniques.js abacus <dir> [perCell]   direct vs the carry scratchpad, 1–8 digits, and the first wrong step of each reply (bench/techniques-abacus.ts)
 *   node dist/bench/techniques.js cot <dir> [perCell]     direct vs step by step, 1–8 digits (COT_TASKS=addition: long addition only; COT_TASKS=multiply: × one digit and × two digits; COT_TASKS=hints: long addition, index-hinted scratchpad; COT_DIGITS=2,3: the first operand's lengths)
 *   node dist/bench/techniques.js firstline <dir> [perCell]   step by step with the scratchpad's first line given (the length-generalisation diagnostic)
 *   node dist/bench/techniques.js hints <dir> [perCell]   where the index-hinted scratchpad goes wrong, step by step at COT_DIGITS (default 5–8): the first wrong step of each reply
 *   node dist/bench/techniques.js skill <dir> [n] [cot]   ask for success: expert / none / novice / out-of-distribution (cot: asked step by step)
 *   node dist/bench/techniques.js reflect <dir> [n] [digits]   reflection per feedback source
 *   node dist/bench/techniques.js sc <dir> [n] [digits]   self-consistency: accuracy and wall time vs k (SC_TEMPERATURE, default 0.7, 0: greedy samples; SC_SHARE=0: no shared histories; SC_KS=4,16: the k values (default 1,2,4,8,16); SC_STREAMS=s: one prefill, samples share rows only within their stream (i mod s), each stream its own reply ids; SC_GROUPS=g: g prefills a run, each its own draw of a randomized-position model's prompt ids; the abacus family for an abacus model)
 *   node dist/bench/techniques.js tot <dir> [n] [countdownDir]   tree of thoughts vs one chain of thought vs k samples at the same tokens (the game-of-24 model in countdownDir, default dir; TOT_VALUE=<value run>: also with that learned value)
 *   node dist/bench/techniques.js report <dir>            the tables and the SVG from techniques.json
 *   node dist/bench/techniques.js sccurve|verifier-data …   self-consistency's accuracy sweep and the verifier's data (bench/techniques-sc.ts)
 *   node dist/bench/techniques.js tot-value-data|tot-value-eval|tot-value-paired …   tree of thoughts' learned value: its rankings and its accuracy (bench/techniques-tot.ts)
 *
 * Training runs are accuracy runs (nice them on a shared machine); sc's wall times are a speed
 * measurement: run it alone.
 */
async function main(): Promise<void> {
  // --help (this comment, or a subcommand's), an unknown subcommand or flag, too few or too many arguments: before any work
  const cmd = checkBenchSubcommand(import.meta.url, {
    train: { args: [1, 3] },
    cot: { args: [1, 2] },
    firstline: { args: [1, 2] },
    hints: { args: [1, 2] },
    skill: { args: [1, 3] },
    reflect: { args: [1, 3] },
    sc: { args: [1, 3] },
    tot: { args: [1, 3] },
    report: { args: [1, 1] },
    ...ABACUS_SUBCOMMANDS,
    ...SC_SUBCOMMANDS,
    ...TOT_SUBCOMMANDS,
  });
  const [, dir, arg, arg2, arg3] = process.argv.slice(2);
  console.log(engineSummary());
  const t0 = Date.now();
  if (cmd === 'train') {
    // a misspelt mixture would silently train the default one; a bad number would reach the config as NaN
    const MIXTURES = ['all', 'addition', 'skill-cot', 'skill-crowd', 'multiply', 'hints', 'hints-varied', 'abacus', 'countdown'];
    if (arg2 !== undefined && !MIXTURES.includes(arg2)) throw new GptforgeError(`unknown mixture "${arg2}" (one of: ${MIXTURES.join(', ')})`, { field: 'train <dir> [steps] [mixture]' });
    for (const name of ['CHUNK_MINUTES', 'TRAIN_BATCH', 'TRAIN_EXAMPLES', 'RANDOM_POSITIONS', 'ABACUS_OFFSET', 'ABACUS_INIT_STD', 'ABACUS_STRETCH', 'ABACUS_COT_SHARE']) {
      const v = process.env[name];
      if (v !== undefined && !Number.isFinite(Number(v))) throw new GptforgeError(`must be a number, got ${JSON.stringify(v)}`, { field: name });
    }
    if (arg !== undefined && !(Number.isInteger(Number(arg)) && Number(arg) > 0)) throw new GptforgeError(`steps must be a positive whole number, got ${JSON.stringify(arg)}`, { field: 'train <dir> [steps]' });
    // one chunk of at most CHUNK_MINUTES (default 8): the stage saves and a rerun resumes, so heavy jobs interleave
    const minutes = Number(process.env.CHUNK_MINUTES ?? 8);
    const countdownOnly = arg2 === 'countdown';
    const r = await trainThinking(dir, {
      steps: arg ? Number(arg) : undefined,
      signal: AbortSignal.timeout(minutes * 60_000),
      // TRAIN_BATCH: rows per step (default 16); fewer rows, more steps for the same tokens
      batchSize: process.env.TRAIN_BATCH ? Number(process.env.TRAIN_BATCH) : undefined,
      // RANDOM_POSITIONS=L: randomized position ids over about [0, L) per row (Ruoss et al. 2023), kept in the checkpoint's config
      // with abacus, RANDOM_POSITIONS adds randomized position ids to the abacus model (model AB5)
      model:
        arg2 === 'abacus'
          ? (tok) => ({
              ...(process.env.RANDOM_POSITIONS ? { randomPositions: Number(process.env.RANDOM_POSITIONS) } : {}),
              abacus: abacusConfigFor(tok, {
                maxOffset: Number(process.env.ABACUS_OFFSET ?? 10),
                countdownIds: process.env.ABACUS_NEXT === '1' ? 'next' : undefined,
                initStd: process.env.ABACUS_INIT_STD ? Number(process.env.ABACUS_INIT_STD) : undefined,
                sumMarker: process.env.ABACUS_LAYOUT === 'sum' ? (process.env.ABACUS_SUM_MARKER ?? 'Sum:') : undefined,
                // ABACUS_STRETCH=s: that share of rows gets a random increasing map of the column ids (abacus.stretch, model AB5)
                stretch: process.env.ABACUS_STRETCH ? Number(process.env.ABACUS_STRETCH) : undefined,
              }),
            })
          : process.env.RANDOM_POSITIONS
            ? { randomPositions: Number(process.env.RANDOM_POSITIONS) }
            : undefined,
      ...(countdownOnly
        ? { mixture: COUNTDOWN_MIXTURE, examples: 20000, seqLen: 160 }
        : {
            examples: process.env.TRAIN_EXAMPLES ? Number(process.env.TRAIN_EXAMPLES) : undefined,
            mixture:
              arg2 === 'addition'
                ? ADDITION_MIXTURE
                : arg2 === 'skill-cot'
                  ? SKILL_COT_MIXTURE
                  : arg2 === 'skill-crowd'
                    ? SKILL_CROWD_MIXTURE
                    : arg2 === 'multiply'
                      ? MULTIPLY_MIXTURE
                      : arg2 === 'hints'
                        ? HINTS_MIXTURE
                        : arg2 === 'hints-varied'
                          ? HINTS_VARIED_MIXTURE
                          : arg2 === 'abacus'
                            ? [{ task: longAdditionAbacus, weight: 1, variant: { minDigits: 1, maxDigits: 6, mode: 'both', cotShare: Number(process.env.ABACUS_COT_SHARE ?? 0.75), filler: 0.25, layout: process.env.ABACUS_LAYOUT === 'sum' ? 'sum' : 'carry', sumMarker: process.env.ABACUS_SUM_MARKER ?? 'Sum:' } }]
                            : TECHNIQUE_MIXTURE,
          }),
    });
    console.log(`${r.interrupted ? 'chunk ended' : 'done'} at step ${r.step}: ${r.model.config.nLayer}×${r.model.config.nEmbd}, vocab ${r.tok.vocabSize}, loss ${r.lastLoss.toFixed(4)}, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return;
  }
  if (cmd === 'sccurve' || cmd === 'verifier-data') return scCommand(cmd, dir, arg, arg2, arg3);
  if (cmd === 'tot-value-data' || cmd === 'tot-value-eval' || cmd === 'tot-value-paired') return totCommand(cmd, dir, arg, arg2);
  const n = arg ? Number(arg) : undefined;
  if (cmd === 'abacus') return abacusCommand(dir, n ?? 30);
  if (cmd === 'hints') {
    const { model, tok } = loadModel(dir);
    const digits = process.env.COT_DIGITS ? process.env.COT_DIGITS.split(',').map(Number) : [5, 6, 7, 8];
    for (const r of diagnoseHinted(model, tok, { digits, perCell: n ?? 30 })) {
      const steps = Object.entries(r.firstWrong)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      console.log(
        `${r.digits} digits: Answer right ${r.correct}/${r.total}, Sum line right ${r.sumCorrect}/${r.total}; first wrong step: ${steps}; wrong columns ${JSON.stringify(r.wrongColumn)}; with both reads given: Answer right ${r.givenReads.correct}/${r.total}, whole reply right ${r.givenReads.allRight}/${r.total}`,
      );
      for (const e of r.examples) console.log(`  ${e.replace(/\n/g, '\n  ')}`);
    }
    return;
  }
  const parts: Record<string, SweepPart[]> = { cot: ['cot'], skill: ['skill'], reflect: ['reflect'], sc: ['sc'], tot: ['tot'], firstline: ['firstline'], report: [] };
  if (!(cmd in parts)) throw new Error(`unknown subcommand ${cmd}`);
  const { markdown } = runTechniqueSweep(dir, {
    parts: parts[cmd],
    perCell: n,
    cotFamilies: process.env.COT_TASKS === 'addition' || process.env.COT_TASKS === 'multiply' || process.env.COT_TASKS === 'hints' ? process.env.COT_TASKS : 'all',
    digits: process.env.COT_DIGITS ? process.env.COT_DIGITS.split(',').map(Number) : undefined,
    skillProblems: n,
    skillMode: cmd === 'skill' && arg2 === 'cot' ? 'cot' : undefined,
    reflectProblems: n,
    reflectDigits: cmd === 'reflect' && arg2 ? Number(arg2) : undefined,
    scProblems: n,
    scDigits: cmd === 'sc' && arg2 ? Number(arg2) : undefined,
    scTemperature: process.env.SC_TEMPERATURE ? Number(process.env.SC_TEMPERATURE) : undefined,
    scShare: process.env.SC_SHARE !== '0',
    scPositionGroups: process.env.SC_GROUPS ? Number(process.env.SC_GROUPS) : undefined,
    scStreams: process.env.SC_STREAMS ? Number(process.env.SC_STREAMS) : undefined,
    ks: process.env.SC_KS ? process.env.SC_KS.split(',').map(Number) : undefined,
    totProblems: n,
    totDir: cmd === 'tot' ? (arg2 ?? dir) : undefined,
    totValue: process.env.TOT_VALUE,
    log: (line) => console.log(line),
  });
  console.log(markdown);
}

main().catch((e: unknown) => {
  // a usage mistake is one line; anything else keeps its stack
  console.error(e instanceof GptforgeError ? `techniques: ${e.message}` : e);
  process.exit(1);
});
