import { Rng } from '../engine/rng.js';
import { GptforgeError } from '../util/errors.js';
import { completionMessages, completionText, type Completion, type Ranking } from './preferences.js';
import { detectChatIntent, phrasingOf, promptItem, taskByName, TASKS } from './synthetic/tasks.js';

/**
 * The simulated labelers: a written rubric that scores a reply to a prompt, and a noisy
 * ranker built on it, so the reward-model and RL stages can be trained and measured without
 * a person at the keyboard (and `gptforge label` rankings and simulated ones share a format).
 *
 * The rubric, in order of weight. Correctness dominates: for any one prompt, terms 2–7
 * together span less than 10 points (arithmetic: +3.53 at best, −6.05 at worst; other
 * families: +1.53 / −6.55), so a correct reply always outscores a wrong one.
 *
 *   1. Correct: +10 when the family's checker accepts the reply's visible text
 *      (`taskByName(task).check(prompt, text)`). With no task given, the family is guessed
 *      from the prompt: an arithmetic problem the checker can parse, a prompt in any family's
 *      phrasing, or a chat intent other than out-of-scope; when nothing matches, correctness
 *      is unknown (`correct: null`) and scores nothing.
 *      A wrong arithmetic answer earns a little for being close: +0.5 / (1 + 10·relative error),
 *      so a near miss beats a wild guess but never a correct answer.
 *   2. Tools: on arithmetic, +2 for a calculator call that returned a result (showing the work
 *      with the tool is what we want the model to learn); −1 for each call whose output starts
 *      with "error" (at most −2); on any other family, −0.5 for calling a tool at all (needless).
 *   3. Well-formed: +1 when the visible text is non-empty, ends with sentence punctuation
 *      (. ! ?, optionally followed by a closing quote or bracket), has balanced brackets and
 *      double quotes, and no garbled text (U+FFFD, control characters, chat-token text "<|…|>").
 *   4. Concise: −0.05 per word beyond 25, at most −2.
 *   5. No repetition: −0.5 for each repeated word 3-gram (every occurrence after the first),
 *      at most −2.
 *   6. Polite refusals: +0.5 when an out-of-scope chat request is declined with an apology
 *      ("sorry", "apologise"). The refusal itself ("can't", "cannot") is what the chat
 *      checker already pays for in 1.; this term rewards the manners.
 *   7. Small touches (under 0.1 together): −0.001 per visible character (at most −0.05),
 *      preferring the shorter; +0.03 × the share of distinct words, preferring varied wording.
 *      This term orders nothing by itself: replies within TIE_MARGIN (0.1 points) are ties
 *      (rubricPrefers returns 0, simulatedRanking puts them in one tier), because a person
 *      would call two replies that differ only by a few characters equally good. It still
 *      counts in the score, so it can tip a difference from just under to just over 0.1.
 */
export interface RubricScore {
  /** The family checker's verdict; null when the family is unknown. */
  correct: boolean | null;
  score: number;
  /** One line per term that applied, e.g. "+10 correct (arithmetic)". */
  reasons: string[];
}

const CORRECT_POINTS = 10;
const NEAR_MISS_MAX = 0.5;
const CALCULATOR_POINTS = 2;
const TOOL_ERROR_PENALTY = 1;
const TOOL_ERROR_CAP = 2;
const NEEDLESS_TOOL_PENALTY = 0.5;
const WELL_FORMED_POINTS = 1;
const CONCISE_WORDS = 25;
const PER_EXTRA_WORD = 0.05;
const LENGTH_CAP = 2;
const PER_REPEAT = 0.5;
const REPEAT_CAP = 2;
const APOLOGY_POINTS = 0.5;
const PER_CHAR = 0.001;
const CHAR_CAP = 0.05;
const VARIETY_POINTS = 0.03;

/**
 * Replies whose rubric scores differ by less than this are equally good (a tie). It is above
 * the whole span of term 7 (at most 0.05 + 0.03), so replies equal on terms 1–6 always tie,
 * and below the steps of terms 1–3, 5 and 6. Terms with finer steps can tie too: two wrong
 * arithmetic answers with near-miss bonuses within 0.1, two long replies one word (0.05) apart.
 * A correct reply is never tied with a wrong one, not even through a chain of ties: the best
 * wrong score is at least 0.42 below the worst correct one (arithmetic: 3.53 vs 3.95), and
 * no score falls in between.
 */
export const TIE_MARGIN = 0.1;

/** The family a prompt most likely belongs to, by cheap pattern rules; undefined when none fits. */
function guessTask(prompt: string): string | undefined {
  if (promptItem('arithmetic', prompt) !== undefined) return 'arithmetic';
  const byPhrasing = TASKS.find((t) => phrasingOf(t.name, prompt) !== undefined);
  if (byPhrasing) return byPhrasing.name;
  // out-of-scope is detectChatIntent's fallback for anything, so it proves nothing here
  return detectChatIntent(prompt) !== 'out-of-scope' ? 'chat' : undefined;
}

const fmt = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(Math.round(x * 100) / 100)}`;

/** Lower-case words of the visible text, punctuation stripped. */
function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu) ?? [];
}

/** The exact value of an arithmetic prompt's problem (the item is "a op b"). */
function arithmeticTruth(prompt: string): number | undefined {
  const m = /^(\d+)([-+*/])(\d+)$/.exec(promptItem('arithmetic', prompt) ?? '');
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[3]);
  return m[2] === '+' ? a + b : m[2] === '-' ? a - b : m[2] === '*' ? a * b : a / b;
}

/** The last number in the text, as the arithmetic checker reads answers. */
function lastNumber(text: string): number | undefined {
  const all = text.match(/[-−]?\d[\d,]*(?:\.\d+)?/g);
  return all ? Number(all[all.length - 1].replace(/,/g, '').replace('−', '-')) : undefined;
}

interface ToolUse {
  calls: number;
  /** Calls whose output is an error. */
  errors: number;
  /** Calculator calls that returned a result. */
  calculatorResults: number;
}

function toolUse(reply: Completion): ToolUse {
  const msgs = completionMessages(reply);
  const use: ToolUse = { calls: 0, errors: 0, calculatorResults: 0 };
  msgs.forEach((m, i) => {
    if (!m.tool_call) return;
    use.calls++;
    const output = msgs[i + 1]?.role === 'tool' ? msgs[i + 1].content.trim() : 'error: no output';
    if (/^error/i.test(output)) use.errors++;
    else if (m.tool_call.name.toLowerCase() === 'calculator') use.calculatorResults++;
  });
  return use;
}

/** Why the text is not well-formed, or undefined when it is. */
function malformation(text: string): string | undefined {
  const t = text.trim();
  if (t === '') return 'empty';
  if (/\uFFFD|<\||[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(t)) return 'garbled text';
  if (!/[.!?]["'”’)\]]?$/.test(t)) return 'no closing punctuation';
  const count = (re: RegExp): number => (t.match(re) ?? []).length;
  if (count(/\(/g) !== count(/\)/g) || count(/\[/g) !== count(/\]/g) || count(/"/g) % 2 !== 0) return 'unclosed bracket or quote';
  return undefined;
}

/** Occurrences of word 3-grams after their first. */
function repeatedTrigrams(ws: readonly string[]): number {
  const seen = new Set<string>();
  let repeats = 0;
  for (let i = 0; i + 3 <= ws.length; i++) {
    const g = `${ws[i]} ${ws[i + 1]} ${ws[i + 2]}`;
    if (seen.has(g)) repeats++;
    else seen.add(g);
  }
  return repeats;
}

/** The rubric above, term by term. */
export function rubricScore(prompt: string, reply: Completion, task?: string): RubricScore {
  const text = completionText(reply);
  const ws = words(text);
  const reasons: string[] = [];
  let score = 0;
  const add = (points: number, why: string): void => {
    if (points === 0) return;
    score += points;
    reasons.push(`${fmt(points)} ${why}`);
  };

  // 1. correctness
  const family = task ?? guessTask(prompt);
  const guessed = task === undefined && family !== undefined ? ', family guessed' : '';
  let correct: boolean | null = null;
  if (family !== undefined) {
    correct = taskByName(family).check(prompt, text);
    add(correct ? CORRECT_POINTS : 0, `correct (${family}${guessed})`);
    if (!correct) reasons.push(`+0 wrong (${family}${guessed})`);
    if (!correct && family === 'arithmetic') {
      const truth = arithmeticTruth(prompt);
      const got = lastNumber(text);
      if (truth !== undefined && got !== undefined && Number.isFinite(got)) {
        const rel = Math.abs(got - truth) / Math.max(1, Math.abs(truth));
        // always scored (it separates wrong answers), listed only when it is worth reading
        const bonus = NEAR_MISS_MAX / (1 + 10 * rel);
        score += bonus;
        if (bonus >= 0.01) reasons.push(`${fmt(bonus)} near miss`);
      }
    }
  }

  // 2. tools
  const tools = toolUse(reply);
  if (family === 'arithmetic' && tools.calculatorResults > 0) add(CALCULATOR_POINTS, 'used the calculator');
  if (tools.errors > 0) add(-Math.min(TOOL_ERROR_CAP, TOOL_ERROR_PENALTY * tools.errors), `${tools.errors} tool call${tools.errors > 1 ? 's' : ''} failed`);
  if (family !== undefined && family !== 'arithmetic' && tools.calls > 0) add(-NEEDLESS_TOOL_PENALTY, 'needless tool call');

  // 3. form
  const bad = malformation(text);
  if (bad === undefined) add(WELL_FORMED_POINTS, 'well-formed');
  else reasons.push(`+0 not well-formed (${bad})`);

  // 4. length, 5. repetition
  if (ws.length > CONCISE_WORDS) add(-Math.min(LENGTH_CAP, PER_EXTRA_WORD * (ws.length - CONCISE_WORDS)), `long (${ws.length} words)`);
  const repeats = repeatedTrigrams(ws);
  if (repeats > 0) add(-Math.min(REPEAT_CAP, PER_REPEAT * repeats), `repetitive (${repeats} repeated 3-gram${repeats > 1 ? 's' : ''})`);

  // 6. manners
  if (family === 'chat' && detectChatIntent(prompt) === 'out-of-scope' && /\b(sorry|apologi[sz]e)\b/i.test(text)) add(APOLOGY_POINTS, 'polite refusal');

  // 7. small touches (not listed in reasons: under TIE_MARGIN together, they decide nothing alone)
  score -= Math.min(CHAR_CAP, PER_CHAR * text.length);
  if (ws.length > 0) score += (VARIETY_POINTS * new Set(ws).size) / ws.length;

  return { correct, score, reasons };
}

/**
 * Which reply the rubric prefers: 1 if a, −1 if b, 0 if their scores differ by less than
 * TIE_MARGIN (a tie, the same rule the simulated labelers' tiers use). Noise-free.
 */
export function rubricPrefers(prompt: string, a: Completion, b: Completion, task?: string): 1 | -1 | 0 {
  const d = rubricScore(prompt, a, task).score - rubricScore(prompt, b, task).score;
  return Math.abs(d) < TIE_MARGIN ? 0 : d > 0 ? 1 : -1;
}

/**
 * Tiers for scores sorted best first: a new tier starts wherever a score is TIE_MARGIN or
 * more below the one before it. So each tier is a maximal run of replies whose neighbouring
 * scores differ by less than the margin (a chain: the first and last of a tier may differ by
 * more, e.g. 5.00, 4.93, 4.86 is one tier).
 */
export function tiersOfSorted(scores: readonly number[]): number[] {
  const tiers: number[] = [];
  scores.forEach((s, i) => tiers.push(i === 0 ? 0 : tiers[i - 1] + (scores[i - 1] - s < TIE_MARGIN ? 0 : 1)));
  return tiers;
}

/**
 * How strongly a labeler prefers reply a to reply b, on Llama 2's four-point scale (Touvron et
 * al. 2023 §3.2.2: significantly better, better, slightly better, negligibly better / unsure),
 * as 1, ⅔, ⅓, 0 — what the reward model's margin or pair weight reads (rm.train.marginScale,
 * strengthWeight; src/train/reward.ts StrengthUse). The labeler knows why it prefers a:
 *
 *   1  "significantly better": a is right and b wrong (the family's checker decided; term 1)
 *   ⅔  "better": otherwise a scores at least STRONG_GAP (1.5) points above b (a tool that worked,
 *       a well-formed reply against a long or repetitive one …)
 *   ⅓  "slightly better": at least SLIGHT_GAP (0.5) points above
 *   0  "negligibly better": less, a tie (under TIE_MARGIN), or a below b — the labeler who put
 *       a first by mistake (the noise) thought them close, so such a pair carries no margin.
 */
export function pairStrength(a: RubricScore, b: RubricScore): number {
  const gap = a.score - b.score;
  if (gap < TIE_MARGIN) return 0;
  if (a.correct === true && b.correct === false) return 1;
  return gap >= STRONG_GAP ? 2 / 3 : gap >= SLIGHT_GAP ? 1 / 3 : 0;
}

const STRONG_GAP = 1.5;
const SLIGHT_GAP = 0.5;

/**
 * The labelers' strength for every pair i < j of replies listed in the ranking's order,
 * row-major (Ranking.margin): pairStrength of their rubric scores, 0 for tied pairs. For a
 * cached ranking written before strengths existed this is what the labelers would have said.
 */
export function rankingStrengths(prompt: string, replies: readonly Completion[], tiers: readonly number[] | undefined, task?: string): number[] {
  return strengthsOfScores(
    replies.map((c) => rubricScore(prompt, c, task)),
    tiers,
  );
}

/** rankingStrengths from the replies' rubric scores, already in the ranking's order (simulatedRanking has them). */
function strengthsOfScores(scores: readonly RubricScore[], tiers: readonly number[] | undefined): number[] {
  const out: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    for (let j = i + 1; j < scores.length; j++) out.push(tiers !== undefined && tiers[i] === tiers[j] ? 0 : pairStrength(scores[i], scores[j]));
  }
  return out;
}

export interface LabelerOptions {
  /** Probability (0..1) that the labeler gets one adjacent comparison wrong. */
  noise: number;
  seed: number;
}

/**
 * Reverse every maximal run of consecutive flagged adjacent comparisons. Flagging position i
 * means "the labeler put items i and i+1 the wrong way round"; reversing a run of flags
 * i..j (items i..j+1) inverts exactly those adjacent pairs and no others, so the share of
 * inverted adjacent pairs in the output is exactly the share of flags (a left-to-right
 * bubble pass of swaps would not be: a second swap undoes part of the first).
 */
export function applyAdjacentErrors<T>(items: readonly T[], flips: readonly boolean[]): T[] {
  const out = [...items];
  let i = 0;
  while (i < flips.length) {
    if (!flips[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < flips.length && flips[j + 1]) j++;
    const run = out.slice(i, j + 2).reverse();
    out.splice(i, run.length, ...run);
    i = j + 1;
  }
  return out;
}

/**
 * Order candidate replies best→worst by the rubric, with ties: consecutive replies whose
 * scores differ by less than TIE_MARGIN share a tier (tiersOfSorted). The ranking always
 * carries `tiers`; one with a single tier (all replies equally good) has no pairs.
 *
 * Noise: the labeler errs on an adjacent comparison across a tier boundary with probability
 * `noise` (that pair comes out swapped), so labels are as imperfect as people's; tied
 * neighbours have no order to get wrong. One random number is drawn per adjacent position,
 * tied or not, even at noise 0, so the stream advances the same whatever the noise and the
 * ties. The swaps are applied with applyAdjacentErrors and the tiers stay by position: the
 * reply moved up takes the better tier (and is tied with whatever else is in it), the one
 * moved down the worse. So with tiers 0,0,1,1 (a, b | c, d) an error at the boundary gives
 * a, c | b, d: c now beats b and d, b is tied with d — what a labeler who misjudged b
 * against c would hand in. Two replies the rubric ties never come out reversed: the swapped
 * runs never cross a position inside a tier. The ranking carries the labeler's strength per
 * pair (`margin`, rankingStrengths): a pair the noise reversed gets 0.
 *
 * Deterministic: the errors are drawn from `rng` when given (one stream for many rankings),
 * else from a fresh Rng(opts.seed). Exact score ties keep the input order. Callers should
 * drop duplicate replies first (dedupeCompletions): a ranking compares different replies,
 * and readPreferencesJSONL rejects duplicates.
 */
export function simulatedRanking(prompt: string, replies: readonly Completion[], task: string | undefined, opts: LabelerOptions, rng?: Rng): Ranking {
  if (!(opts.noise >= 0 && opts.noise <= 1)) throw new GptforgeError(`labeler noise must be between 0 and 1, got ${opts.noise}`, { field: 'noise' });
  if (replies.length < 2) throw new GptforgeError(`a ranking needs at least two replies, got ${replies.length}`);
  const r = rng ?? new Rng(opts.seed);
  const scored = replies.map((c) => ({ c, s: rubricScore(prompt, c, task) }));
  // Array.prototype.sort is stable, so exact ties keep the input order
  const sorted = scored.sort((a, b) => b.s.score - a.s.score);
  const tiers = tiersOfSorted(sorted.map((x) => x.s.score));
  // one draw per comparison even at noise 0 or within a tier, so the stream advances the same
  // for any noise and any ties; only comparisons across a tier boundary can go wrong
  const flips = sorted.slice(1).map((_, i) => r.random() < opts.noise && tiers[i] !== tiers[i + 1]);
  const ranked = applyAdjacentErrors(sorted, flips);
  const ranking: Ranking = { prompt, completions: ranked.map((x) => x.c), tiers };
  if (task !== undefined) ranking.task = task;
  ranking.margin = strengthsOfScores(
    ranked.map((x) => x.s),
    tiers,
  ); // the scores above: each reply is scored once
  return ranking;
}
