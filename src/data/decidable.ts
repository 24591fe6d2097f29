/**
 * Where a reply's correctness can be read from (issue #24): from the conversation itself —
 * a tool's output, the prompt's word or required format, retrieved passages — or only from
 * knowledge of the world the model may lack. A reward model that sees the whole conversation
 * can learn the first kind; the second needs the fact itself ("what does *shape* mean?"),
 * which a 4M-parameter model mostly does not have. RM evaluation reports its accuracy on the
 * two kinds of pairs separately (`rm-eval.json` `accuracyCleanByContext`, eval.md).
 */
export type CorrectnessSource = 'decidable' | 'knowledge' | 'unknown';

/** The families whose answers are checkable from the context, and what in the context shows it. */
export const DECIDABLE_FAMILIES: Readonly<Record<string, string>> = {
  arithmetic: "the calculator's output in the reply (the answer must repeat it)",
  syllables: "the prompt's word (its spelling and vowel groups)",
  rhymes: "the prompt's word (its ending)",
  chat: "the prompt's intent (a greeting, thanks, an out-of-scope request to decline)",
  passages: 'the retrieved passages in the prompt',
  structured: 'the format the prompt requires',
  countdown: "the prompt's numbers and the calculator's outputs",
  longarith: "the calculator's outputs",
};

/** The knowledge families: the answer is a fact about a word the prompt does not state. */
export const KNOWLEDGE_FAMILIES: readonly string[] = ['definitions', 'kinds', 'synonyms', 'antonyms'];

/**
 * Whether a family's correctness is decidable from the context; 'unknown' without a family
 * (your own rankings) or for a family in neither list — a new family is not counted as
 * knowledge until someone says where its correctness can be read.
 * @example correctnessSource('rhymes') // 'decidable'; correctnessSource('kinds') // 'knowledge'; correctnessSource('my-task') // 'unknown'
 */
export function correctnessSource(task: string | undefined): CorrectnessSource {
  if (task === undefined) return 'unknown';
  if (task in DECIDABLE_FAMILIES) return 'decidable';
  return KNOWLEDGE_FAMILIES.includes(task) ? 'knowledge' : 'unknown';
}
