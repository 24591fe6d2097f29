import { lossCurveSVG } from '../eval/plot.js';
import { signTestP } from './consistency-curve.js';
import type { ConsistencyRow, ReflectRow, SkillRow, TotResult } from './measure.js';
import type { ThinkingCell } from './thinking.js';

/**
 * The techniques tables (markdown) and the self-consistency curve (SVG) from the results
 * bench/techniques.ts collects: `{ cot?, skill?, reflect?, sc?, engine? }`, each as the
 * measure functions return it. Missing parts are left out.
 */
export interface TechniquesResults {
  cot?: ThinkingCell[];
  /** Long addition step by step with the scratchpad's first line given (evalGivenFirstLine). */
  firstLine?: Array<{ digits: number; correct: number; total: number }>;
  skill?: SkillRow[];
  reflect?: { digits: number; rows: ReflectRow[] };
  sc?: { digits: number; temperature?: number; share?: boolean; positionGroups?: number; historyStreams?: number; task?: string; greedy: ConsistencyRow; rows: ConsistencyRow[] };
  tot?: TotResult;
  /** The engine of the newest part measured; `<part>Engine` holds each part's own. */
  engine?: string;
  [key: string]: unknown;
}

const pct = (c: number, n: number): string => (n > 0 ? `${Math.round((100 * c) / n)}%` : '—');

/** One cell of the technique × family table: correct of total, and what was asked. */
export interface TechniqueCell {
  technique: string;
  family: string;
  correct: number;
  total: number;
}

/**
 * The technique × family cells from the measurements: each technique's accuracy on each
 * family it was measured on (the column names the operand lengths, since the measurements
 * ask different held-out sets). Direct and step by step pool the cot cells over 5–6 and
 * 7–8 digits; self-consistency is its largest k's majority vote; reflection is the last
 * round per feedback source; ask for success is one row per system prompt; tree of thoughts
 * and its baselines are on the game of 24.
 */
export function techniqueCells(r: TechniquesResults): TechniqueCell[] {
  const out: TechniqueCell[] = [];
  const add = (technique: string, family: string, correct: number, total: number): void => {
    if (total > 0) out.push({ technique, family, correct, total });
  };
  for (const c of r.cot ?? []) {
    const band = c.digits <= 4 ? '1–4' : c.digits <= 6 ? '5–6' : '7–8';
    const technique = c.mode === 'cot' ? 'step by step (greedy)' : 'direct (greedy)';
    const family = `${c.task}, ${band} digits`;
    const prev = out.find((x) => x.technique === technique && x.family === family);
    if (prev) {
      prev.correct += c.correct;
      prev.total += c.total;
    } else add(technique, family, c.correct, c.total);
  }
  for (const c of r.firstLine ?? []) {
    const family = `long-addition, ${c.digits <= 4 ? '1–4' : c.digits <= 6 ? '5–6' : '7–8'} digits`;
    const technique = 'step by step, first line given (diagnostic)';
    const prev = out.find((x) => x.technique === technique && x.family === family);
    if (prev) {
      prev.correct += c.correct;
      prev.total += c.total;
    } else add(technique, family, c.correct, c.total);
  }
  if (r.sc && r.sc.rows.length > 0) {
    const family = `${r.sc.task ?? 'long-addition'}, ${r.sc.digits} digits`;
    const top = r.sc.rows[r.sc.rows.length - 1];
    add('step by step (greedy)', family, r.sc.greedy.majority, r.sc.greedy.total);
    add(`self-consistency, k = ${top.k}, majority`, family, top.majority, top.total);
    add(`self-consistency, k = ${top.k}, logprob-weighted`, family, top.logprob, top.total);
    add(`self-consistency, k = ${top.k}, checker's pick`, family, top.oracle, top.total);
  }
  if (r.reflect) {
    const family = `long-addition, ${r.reflect.digits} digits`;
    const first = r.reflect.rows[0];
    if (first) add('direct (greedy)', family, first.correct[0], first.total);
    for (const x of r.reflect.rows) add(`reflection, ${x.source} feedback`, family, x.correct[x.correct.length - 1], x.total);
  }
  for (const s of r.skill ?? []) add(`ask for success: ${s.condition}`, `skill-levels, 2–4 digits${s.mode === 'cot' ? ', step by step' : ''}`, s.correct, s.total);
  if (r.tot) {
    add('step by step (greedy)', 'game of 24', r.tot.cot, r.tot.problems);
    add('tree of thoughts', 'game of 24', r.tot.tot, r.tot.problems);
    if (r.tot.totTool !== undefined) add('tree of thoughts, calculator-checked thoughts', 'game of 24', r.tot.totTool, r.tot.problems);
    if (r.tot.totLearned !== undefined) add('tree of thoughts, calculator-checked thoughts, learned value', 'game of 24', r.tot.totLearned, r.tot.problems);
    if (r.tot.sampledOne !== undefined) add('one sampled chain (T = 0.7)', 'game of 24', r.tot.sampledOne, r.tot.problems);
    if (r.tot.cotCalc !== undefined) add('step by step, calculator-checked steps (greedy)', 'game of 24', r.tot.cotCalc, r.tot.problems);
    if (r.tot.sampledCalc !== undefined) add(`${r.tot.k} samples with calculator-checked steps, checker's pick`, 'game of 24', r.tot.sampledCalc, r.tot.problems);
    add(`${r.tot.k} samples at equal tokens, checker's pick`, 'game of 24', r.tot.sampled, r.tot.problems);
  }
  return out;
}

/** The technique × family table (markdown): rows are techniques, columns families; "—" where not measured. */
export function techniqueFamilyTable(cells: readonly TechniqueCell[]): string {
  if (cells.length === 0) return '';
  const techniques = [...new Set(cells.map((c) => c.technique))];
  const families = [...new Set(cells.map((c) => c.family))];
  const lines = [`| technique | ${families.join(' | ')} |`, `| --- | ${families.map(() => '---').join(' | ')} |`];
  for (const t of techniques) {
    const row = families.map((f) => {
      const c = cells.find((x) => x.technique === t && x.family === f);
      return c ? `${pct(c.correct, c.total)} (${c.correct}/${c.total})` : '—';
    });
    lines.push(`| ${t} | ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function techniquesReport(r: TechniquesResults): { markdown: string; svg: string | undefined } {
  const out: string[] = ['# Prompting techniques', ''];
  // parts kept from earlier runs (--parts) may have run on another engine or thread count: say which
  const byEngine = new Map<string, string[]>();
  for (const part of ['cot', 'firstLine', 'skill', 'reflect', 'sc', 'tot']) {
    const e = r[`${part}Engine`];
    if (r[part] !== undefined && typeof e === 'string') byEngine.set(e, [...(byEngine.get(e) ?? []), part]);
  }
  if (byEngine.size > 1) out.push(`Engine, by part (parts measured in separate runs): ${[...byEngine].map(([e, parts]) => `${parts.join(', ')}: ${e}`).join('; ')}`, '');
  else if (r.engine) out.push(`Engine: ${r.engine}`, '');
  const table = techniqueFamilyTable(techniqueCells(r));
  if (table) out.push("## Technique × family (held-out, checked by the family's checker)", '', table, '');
  if (r.cot) {
    out.push('## Tokens to think: direct vs "Let\'s think step by step." (greedy, held-out)', '');
    const tasks = [...new Set(r.cot.map((c) => c.task))];
    const digits = [...new Set(r.cot.map((c) => c.digits))].sort((a, b) => a - b);
    out.push(`| family | mode | ${digits.map((d) => `${d} digits`).join(' | ')} |`, `| --- | --- | ${digits.map(() => '---').join(' | ')} |`);
    for (const t of tasks)
      for (const mode of ['direct', 'cot'] as const) {
        const cells = digits.map((d) => r.cot!.find((c) => c.task === t && c.digits === d && c.mode === mode)).map((c) => (c ? `${pct(c.correct, c.total)} (${c.correct}/${c.total})` : '—'));
        out.push(`| ${t} | ${mode === 'cot' ? 'step by step' : 'direct'} | ${cells.join(' | ')} |`);
      }
    if (r.firstLine && tasks.includes('long-addition')) {
      const cells = digits.map((d) => r.firstLine!.find((c) => c.digits === d)).map((c) => (c ? `${pct(c.correct, c.total)} (${c.correct}/${c.total})` : '—'));
      out.push(`| long-addition | step by step, first line given | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  if (r.skill) {
    out.push(`## Ask for success: the same problems under each system prompt (greedy${r.skill[0]?.mode === 'cot' ? ', step by step' : ', answered directly'})`, '', '| system prompt | correct | with a carry |', '| --- | --- | --- |');
    for (const s of r.skill) out.push(`| ${s.condition}${s.system ? `: "${s.system}"` : ''} | ${pct(s.correct, s.total)} (${s.correct}/${s.total}) | ${pct(s.carryCorrect, s.carryTotal)} (${s.carryCorrect}/${s.carryTotal}) |`);
    out.push('');
  }
  if (r.reflect) {
    const rounds = r.reflect.rows[0]?.correct.length ?? 1;
    out.push(
      `## Reflection: ${r.reflect.digits}-digit additions answered directly, then reviewed (greedy)`,
      '',
      `| feedback | first answer | ${Array.from({ length: rounds - 1 }, (_, i) => `after round ${i + 1}`).join(' | ')} | right → wrong | tokens | time |`,
      `| --- | --- | ${Array.from({ length: rounds - 1 }, () => '---').join(' | ')} | --- | --- | --- |`,
    );
    for (const x of r.reflect.rows) out.push(`| ${x.source} | ${x.correct.map((c) => `${pct(c, x.total)} (${c}/${x.total})`).join(' | ')} | ${x.broke} | ${x.tokens} | ${(x.ms / 1000).toFixed(1)} s |`);
    out.push('');
  }
  let svg: string | undefined;
  if (r.sc) {
    const { greedy, rows, digits } = r.sc;
    const groups = r.sc.positionGroups ?? 1;
    const prefill = groups > 1 ? `${groups} prefills (position groups)` : 'shared prefill';
    const streams = r.sc.historyStreams ?? 1;
    const sharing = r.sc.share === false ? `${prefill}, each sample its own decoding row` : `${prefill} and shared histories${streams > 1 ? ` in ${streams} streams` : ''}`;
    const paired = (x: ConsistencyRow): string => (x.majorityWins === undefined ? '—' : `${x.majorityWins} / ${x.majorityLosses}, p = ${signTestP(x.majorityWins, x.majorityLosses!).toPrecision(2)}`);
    const cpu = (x: ConsistencyRow): string => (x.cpuMs === undefined || greedy.cpuMs === undefined ? '—' : `${(x.cpuMs / 1000).toFixed(1)} s (${(x.cpuMs / greedy.cpuMs).toFixed(2)}×)`);
    const pos = (x: ConsistencyRow): string => (x.positions === undefined ? '—' : `${x.positions} (${(x.positions / (greedy.positions ?? x.positions)).toFixed(2)}×)`);
    out.push(
      `## Self-consistency: ${digits}-digit additions (${r.sc.task ?? 'long-addition'}), step by step, T = ${r.sc.temperature ?? 0.7}, ${sharing}`,
      '',
      "| k | majority | majority vs greedy (wins / losses, sign test) | logprob-weighted | some sample right (checker's pick) | wall time | × greedy time | CPU time (× greedy) | tokens sampled | positions run (× greedy) |",
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const x of [greedy, ...rows]) out.push(`| ${x.k === 0 ? 'greedy' : x.k} | ${pct(x.majority, x.total)} | ${paired(x)} | ${pct(x.logprob, x.total)} | ${pct(x.oracle, x.total)} | ${(x.ms / 1000).toFixed(1)} s | ${(x.ms / greedy.ms).toFixed(2)} | ${cpu(x)} | ${x.tokens} | ${pos(x)} |`);
    out.push('');
    const acc = (f: (x: ConsistencyRow) => number): [number, number][] => rows.map((x) => [Math.log2(x.k), (100 * f(x)) / x.total]);
    svg = lossCurveSVG(
      [
        { name: 'majority vote', points: acc((x) => x.majority) },
        { name: 'logprob-weighted', points: acc((x) => x.logprob) },
        { name: "checker's pick", points: acc((x) => x.oracle) },
        { name: 'greedy', points: rows.map((x) => [Math.log2(x.k), (100 * greedy.majority) / greedy.total]) },
      ],
      { title: `Self-consistency, ${digits}-digit addition${groups > 1 ? `, ${groups} position groups` : ''}: accuracy vs k`, xLabel: 'log2 k', yLabel: 'accuracy (%)' },
    );
  }
  if (r.tot) {
    const t = r.tot;
    out.push(
      `## Tree of thoughts: ${t.problems} held-out solvable games of 24 (the game-of-24 model)`,
      '',
      '| method | solved | tokens sampled | time |',
      '| --- | --- | --- | --- |',
      `| one chain of thought (greedy) | ${pct(t.cot, t.problems)} (${t.cot}/${t.problems}) | ${t.cotTokens} | ${(t.ms.cot / 1000).toFixed(1)} s |`,
      `| tree of thoughts (BFS, the model's own values) | ${pct(t.tot, t.problems)} (${t.tot}/${t.problems}) | ${t.totTokens} | ${(t.ms.tot / 1000).toFixed(1)} s |`,
      ...(t.totTool === undefined ? [] : [`| tree of thoughts, calculator-checked thoughts (the model picks the operation, the tool computes it) | ${pct(t.totTool, t.problems)} (${t.totTool}/${t.problems}) | ${t.totToolTokens} | ${((t.ms.totTool ?? 0) / 1000).toFixed(1)} s |`]),
      ...(t.totLearned === undefined
        ? []
        : [`| the same with a learned value (a reward model trained on the solver's solvable/unsolvable labels; ${t.totLearnedScored} thoughts scored) | ${pct(t.totLearned, t.problems)} (${t.totLearned}/${t.problems}) | ${t.totLearnedTokens} | ${((t.ms.totLearned ?? 0) / 1000).toFixed(1)} s |`]),
      ...(t.totExact === undefined ? [] : [`| the same with exact values (the solver; a ceiling for any value function) | ${pct(t.totExact, t.problems)} (${t.totExact}/${t.problems}) | ${t.totExactTokens ?? '—'} | — |`]),
      ...(t.sampledOne === undefined ? [] : [`| one sampled chain of thought (T = 0.7) | ${pct(t.sampledOne, t.problems)} (${t.sampledOne}/${t.problems}) | — | — |`]),
      ...(t.cotCalc === undefined ? [] : [`| one chain of thought with calculator-checked steps (greedy) | ${pct(t.cotCalc, t.problems)} (${t.cotCalc}/${t.problems}) | ${t.cotCalcTokens} | — |`]),
      ...(t.sampledCalc === undefined
        ? []
        : [`| ${t.k} sampled chains with calculator-checked steps, some sample right (checker's pick); the first alone | ${pct(t.sampledCalc, t.problems)} (${t.sampledCalc}/${t.problems}); ${pct(t.sampledOneCalc ?? 0, t.problems)} (${t.sampledOneCalc}/${t.problems}) | ${t.sampledCalcTokens} | — |`]),
      `| ${t.k} sampled chains at about the same tokens, some sample right (checker's pick) | ${pct(t.sampled, t.problems)} (${t.sampled}/${t.problems}) | ${t.sampledTokens} | ${(t.ms.sampled / 1000).toFixed(1)} s |`,
      '',
    );
  }
  return { markdown: out.join('\n'), svg };
}
