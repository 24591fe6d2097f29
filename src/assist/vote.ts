/**
 * Final-answer extraction and voting for self-consistency (Wang et al. 2022, "Self-Consistency
 * Improves Chain of Thought Reasoning in Language Models"): sample several reasoning paths,
 * read each one's final answer, and take the answer most paths agree on. The vote can be
 * weighted (Wang et al. §3 weigh by the path's normalised probability; with a reward model,
 * by its score).
 */

/**
 * The final answer of a reply: the number after the last "Answer:" (the scratchpads'
 * closing line), else the reply's last number, else its last line, normalised for voting
 * (lower-cased, runs of whitespace as one space, trailing . ! ? dropped: "The  Star." and
 * "the star" vote together); undefined for an empty reply. Numbers are normalised (commas and
 * a leading "+" dropped, either minus sign), so "1,234" and "1234" vote together.
 */
export function extractAnswer(text: string): string | undefined {
  const norm = (s: string): string => {
    const n = s.replace(/,/g, '').replace('−', '-').replace(/^\+/, '');
    // integers exactly at any length ("007" and "7" vote together); decimals as numbers
    if (/^-?\d+$/.test(n)) return BigInt(n).toString();
    return /^-?\d+\.\d+$/.test(n) ? String(Number(n)) : n;
  };
  const tagged = [...text.matchAll(/Answer:\s*([-−]?\d[\d,]*(?:\.\d+)?)/g)];
  if (tagged.length > 0) return norm(tagged[tagged.length - 1][1]);
  const nums = text.match(/[-−]?\d[\d,]*(?:\.\d+)?/g);
  if (nums) return norm(nums[nums.length - 1]);
  const lines = text.trim().split('\n');
  const last = lines[lines.length - 1]
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/\s*[.!?]+$/, '');
  return last === '' ? undefined : last;
}

/** One answer's share of a vote. */
export interface VoteTally {
  answer: string;
  /** How many samples gave it. */
  count: number;
  /** The sum of their weights (= count for an unweighted vote). */
  weight: number;
  /** The index of the first sample that gave it. */
  first: number;
}

/** The outcome of a vote: the winner (undefined when no sample had an answer) and the tally, best first. */
export interface VoteResult {
  answer: string | undefined;
  tally: VoteTally[];
}

/**
 * Majority (or weighted) vote over the samples' answers. Samples without an answer
 * (undefined) do not vote. The winner has the largest total weight; ties go to the answer
 * that appeared first, so the result is deterministic in the samples' order.
 *
 * @param weights one per answer (default 1 each); must be finite and ≥ 0.
 * @throws Error when `weights` has another length or a bad value.
 */
export function vote(answers: readonly (string | undefined)[], weights?: readonly number[]): VoteResult {
  if (weights && weights.length !== answers.length) throw new Error(`vote: ${answers.length} answers but ${weights.length} weights`);
  const byAnswer = new Map<string, VoteTally>();
  answers.forEach((a, i) => {
    if (a === undefined) return;
    const w = weights ? weights[i] : 1;
    if (!(Number.isFinite(w) && w >= 0)) throw new Error(`vote: weight ${i} is ${w}; weights must be finite and ≥ 0`);
    const t = byAnswer.get(a);
    if (t) {
      t.count++;
      t.weight += w;
    } else byAnswer.set(a, { answer: a, count: 1, weight: w, first: i });
  });
  const tally = [...byAnswer.values()].sort((x, y) => y.weight - x.weight || x.first - y.first);
  return { answer: tally[0]?.answer, tally };
}

/** Softmax weights exp(s − max s) of scores (reward-model scores or log-probabilities): positive, largest 1. */
export function softmaxWeights(scores: readonly number[]): number[] {
  const mx = Math.max(...scores);
  return scores.map((s) => Math.exp(s - mx));
}

/**
 * Best-of-k by score (Cobbe et al. 2021's verifier selection): the answer of the highest-scoring
 * sample that has one (ties: the earliest), and its index; undefined / −1 when no sample has an
 * answer. Unlike a weighted vote, agreement between samples counts for nothing.
 *
 * @throws Error when `scores` has another length than `answers` or a NaN.
 */
export function bestOf(answers: readonly (string | undefined)[], scores: readonly number[]): { answer: string | undefined; index: number } {
  if (scores.length !== answers.length) throw new Error(`bestOf: ${answers.length} answers but ${scores.length} scores`);
  let index = -1;
  answers.forEach((a, i) => {
    if (Number.isNaN(scores[i])) throw new Error(`bestOf: score ${i} is NaN`);
    if (a !== undefined && (index < 0 || scores[i] > scores[index])) index = i;
  });
  return { answer: index < 0 ? undefined : answers[index], index };
}
