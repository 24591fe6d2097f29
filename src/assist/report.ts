import { lossCurveSVG } from '../eval/plot.js';
import type { ConsistencyRow, ReflectRow, SkillRow, TotResult } from './measure.js';
import type { ThinkingCell } from './thinking.js';

/**
 * The techniques tables (markdown) and the self-consistency curve (SVG) from the results
 * bench/techniques.ts collects: `{ cot?, skill?, reflect?, sc?, engine? }`, each as the
 * measure functions return it. Missing parts are left out.
 */
export interface TechniquesResults {
  cot?: ThinkingCell[];
  skill?: SkillRow[];
  reflect?: { digits: number; rows: ReflectRow[] };
  sc?: { digits: number; greedy: ConsistencyRow; rows: ConsistencyRow[] };
  tot?: TotResult;
  engine?: string;
  [key: string]: unknown;
}

const pct = (c: number, n: number): string => (n > 0 ? `${Math.round((100 * c) / n)}%` : '—');

export function techniquesReport(r: TechniquesResults): { markdown: string; svg: string | undefined } {
  const out: string[] = ['# Prompting techniques', ''];
  if (r.engine) out.push(`Engine: ${r.engine}`, '');
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
    out.push('');
  }
  if (r.skill) {
    out.push('## Ask for success: the same problems under each system prompt (greedy)', '', '| system prompt | correct | with a carry |', '| --- | --- | --- |');
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
    out.push(`## Self-consistency: ${digits}-digit additions, step by step, T = 0.7, shared prefill`, '', "| k | majority | logprob-weighted | some sample right (checker's pick) | wall time | × greedy time | tokens |", '| --- | --- | --- | --- | --- | --- | --- |');
    for (const x of [greedy, ...rows]) out.push(`| ${x.k === 0 ? 'greedy' : x.k} | ${pct(x.majority, x.total)} | ${pct(x.logprob, x.total)} | ${pct(x.oracle, x.total)} | ${(x.ms / 1000).toFixed(1)} s | ${(x.ms / greedy.ms).toFixed(2)} | ${x.tokens} |`);
    out.push('');
    const acc = (f: (x: ConsistencyRow) => number): [number, number][] => rows.map((x) => [Math.log2(x.k), (100 * f(x)) / x.total]);
    svg = lossCurveSVG(
      [
        { name: 'majority vote', points: acc((x) => x.majority) },
        { name: 'logprob-weighted', points: acc((x) => x.logprob) },
        { name: "checker's pick", points: acc((x) => x.oracle) },
        { name: 'greedy', points: rows.map((x) => [Math.log2(x.k), (100 * greedy.majority) / greedy.total]) },
      ],
      { title: `Self-consistency, ${digits}-digit addition: accuracy vs k`, xLabel: 'log2 k', yLabel: 'accuracy (%)' },
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
      `| ${t.k} sampled chains at about the same tokens, some sample right (checker's pick) | ${pct(t.sampled, t.problems)} (${t.sampled}/${t.problems}) | ${t.sampledTokens} | ${(t.ms.sampled / 1000).toFixed(1)} s |`,
      '',
    );
  }
  return { markdown: out.join('\n'), svg };
}
