import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { SWEEP_PARTS, type SweepPart } from '../assist/names.js';
import { stderrLog } from './common.js';
import { interruptSignal } from './interrupt.js';
import { GptforgeError } from '../util/errors.js';
import { number } from '../util/args.js';

export const command = new Command('eval')
  .summary('score base, SFT and later models on held-out task families; compare them (table in the run)')
  .description(
    "Scores each synthetic task family's held-out split with its checker: the base model few-shot prompted with a fake conversation, the SFT model with and without the calculator, and every later stage present (PPO, GRPO, REINFORCE, DPO). With a reward model, also compares base, SFT, SFT best-of-N and the RLHF models on held-out prompts: mean RM reward, win rate against SFT judged by the simulated labelers' rubric, sampled accuracy, and diversity (distinct-n, self-BLEU, entropy, list items). Writes eval.md, eval.json and eval-chart.svg into the run directory (--out: elsewhere).",
  )
  .option('-r, --run <dir>', 'run directory', 'runs/small')
  .option('--per-task <n>', "different held-out prompts per task family, at most (default: the preset's, else 50); with --techniques: problems per measurement (each tokens-to-think cell, ask-for-success, reflection, self-consistency, tot), the quick path (the defaults: 40 a cell, 200, 40, 30, 30)", number)
  .option('--few-shot <n>', "solved examples in the base model's prompt (default: the preset's, else 3)", number)
  .option('--tasks <names>', 'comma-separated task families (default: all)')
  .option('--no-compare', 'skip the base/SFT/RLHF comparison (RM reward, win rates, diversity)')
  .option('--compare-prompts <n>', "held-out prompts in the comparison (default: the preset's, else 48)", number)
  .option('--stages <names>', 'comma-separated extra stages to score beside base, SFT and the RL/DPO stages (sft-lora, rl-lora …: what --into trained)')
  .option('--reward-model <stage>', 'the reward model the comparison scores with (default rm): e.g. one trained with rm --into')
  .option('--out <dir>', "write eval.md, eval.json and eval-chart.svg here instead of into the run (a quick check with --per-task 3 then leaves the run's report, which gptforge pipeline reads, as it was)")
  .option('--quiet', 'no progress bar')
  .option('--rlhf-sweep', "the RLHF sweep over the demonstration writers' error rate e_w: SFT, RM best-of-N, PPO, GRPO, DPO per e_w in <run>/rlhf-sweep/ (resumable); rlhf-sweep.md/.json/.svg (docs/rlhf.md)")
  .option('--sweep-rates <list>', 'comma-separated e_w values of --rlhf-sweep', '0,0.1,0.25,0.5')
  .option('--techniques', "instead: the prompting-techniques sweep on --run's techniques model (docs/techniques.md); writes techniques.md, techniques.json, self-consistency.svg")
  .option('--parts <names>', `with --techniques: comma-separated parts of the sweep (${SWEEP_PARTS.join(', ')}; default all but tot)`)
  .option('--tot-run <dir>', 'with --techniques: the game-of-24 model for tree of thoughts (adds tot to the parts)')
  .option('--tot-value <run>', "with --techniques and --tot-run: value tree-of-thoughts states with this reward model (trained on the solver's solvable/unsolvable labels; docs/techniques.md)")
  .option('--addition-only', 'with --techniques: the tokens-to-think table on long addition alone (a model trained on ADDITION_MIXTURE)')
  .action(async (o) => {
    // the sweep's own flags mean nothing to a plain eval, which would overwrite eval.md/json/svg: refuse before any work
    if (!o.techniques) {
      for (const [flag, given] of [
        ['--parts', o.parts !== undefined],
        ['--tot-run', o.totRun !== undefined],
        ['--tot-value', o.totValue !== undefined],
        ['--addition-only', o.additionOnly === true],
      ] as const) {
        if (given) throw new GptforgeError(`${flag} is a flag of the prompting-techniques sweep: it needs --techniques (without it, eval would run the normal evaluation and overwrite eval.md)`, { field: flag });
      }
    }
    if (o.techniques) {
      if (o.totValue && !o.totRun) throw new GptforgeError('--tot-value values the states of --tot-run: give both', { field: '--tot-value' });
      const parts = (o.parts?.split(',').map((s) => s.trim()) ?? ['cot', 'skill', 'reflect', 'sc', ...(o.totRun ? ['tot'] : [])]) as SweepPart[];
      for (const p of parts) if (!SWEEP_PARTS.includes(p)) throw new GptforgeError(`expects parts among ${SWEEP_PARTS.join(', ')}, got "${p}"`, { field: '--parts' });
      // a pipeline run keeps its techniques model in <run>/techniques (pipeline --techniques)
      const own = join(o.run, 'techniques');
      const dir = existsSync(join(own, 'sft')) ? own : o.run;
      if (dir === o.run && existsSync(join(o.run, 'preset.json'))) console.error(`eval --techniques: ${o.run} has no techniques model (${own}, made by gptforge pipeline --techniques); measuring its chat model, which never trained on the techniques' families (docs/techniques.md)`);
      const { runTechniqueSweep } = await import('../assist/sweep.js');
      const sizes = o.perTask !== undefined ? techniqueSweepSizes(o.perTask) : {};
      const { markdown } = runTechniqueSweep(dir, { parts, totDir: o.totRun, totValue: o.totValue, cotFamilies: o.additionOnly ? 'addition' : 'all', ...sizes, log: o.quiet ? undefined : (line) => console.error(line) });
      console.log(markdown);
      return;
    }
    if (o.rlhfSweep) {
      const { runRlhfSweep } = await import('../run/rlhf-sweep.js');
      const r = await runRlhfSweep(o.run, { rates: o.sweepRates.split(',').map(Number), perTask: o.perTask, comparePrompts: o.comparePrompts, quiet: o.quiet, signal: interruptSignal(), log: stderrLog(o.quiet) });
      if (r.markdown !== '') console.log(r.markdown);
      if (r.interrupted) {
        // each cell's finished steps are kept (sweep-state.json): the same command continues
        console.error('rlhf-sweep: interrupted; run again to continue');
        process.exitCode = 130;
      }
      return;
    }
    const notice = reportNotice(o.run, o);
    if (notice) console.error(notice);
    const { runEval } = await import('../run/eval.js');
    const { markdown } = runEval(o.run, {
      ...o,
      tasks: o.tasks?.split(',').map((s) => s.trim()),
      stages: o.stages
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
      noCompare: !o.compare,
    });
    console.log(markdown);
  });

/**
 * The stderr line a plain `eval` prints before its work when it is about to replace a report the
 * run already holds with one made under other settings (`--per-task 3`, `--tasks …`, `--few-shot`,
 * `--compare-prompts`, `--no-compare`): the run's eval.md is what `gptforge pipeline` reports and
 * checks, so a quick check silently overwriting it was a newcomer's surprise. Null when `--out`
 * sends the report elsewhere, when the run has no eval.md yet, or when no such flag was given.
 */
export function reportNotice(run: string, o: { out?: string; perTask?: number; fewShot?: number; tasks?: string; compare?: boolean; comparePrompts?: number }): string | null {
  if (o.out !== undefined || !existsSync(join(run, 'eval.md'))) return null;
  const flags = [o.perTask !== undefined ? `--per-task ${o.perTask}` : '', o.fewShot !== undefined ? `--few-shot ${o.fewShot}` : '', o.tasks !== undefined ? `--tasks ${o.tasks}` : '', o.compare === false ? '--no-compare' : '', o.comparePrompts !== undefined ? `--compare-prompts ${o.comparePrompts}` : ''].filter(
    (f) => f !== '',
  );
  if (flags.length === 0) return null;
  const files = o.compare === false ? 'eval.json' : 'eval.json, eval-chart.svg';
  return `eval: replacing the run's report, ${join(run, 'eval.md')} (with ${files}: what gptforge pipeline shows), by one made with ${flags.join(' ')}; --out DIR writes it elsewhere and keeps the run's report`;
}

/**
 * The sweep's sizes under `eval --techniques --per-task n` (lm-evaluation-harness's `--limit`, in
 * this CLI's name): every measurement's problems capped at n — each tokens-to-think cell, ask for
 * success, reflection, self-consistency, tree of thoughts. The full sweep's sizes stay the defaults.
 * @throws GptforgeError for n that is not a positive whole number.
 */
export function techniqueSweepSizes(n: number): { perCell: number; skillProblems: number; reflectProblems: number; scProblems: number; totProblems: number } {
  if (!(Number.isInteger(n) && n >= 1)) throw new GptforgeError(`--per-task: expects a whole number of problems ≥ 1, got ${n}`, { field: '--per-task' });
  return { perCell: n, skillProblems: n, reflectProblems: n, scProblems: n, totProblems: n };
}
