import { GptforgeError } from '../../util/errors.js';
import { closestKey } from '../../util/closest.js';
import { antonyms } from './antonyms.js';
import { arithmetic } from './arithmetic.js';
import { chat } from './chat.js';
import { definitions } from './definitions.js';
import { kinds } from './kinds.js';
import { lookup } from './lookup.js';
import { passagesTask } from './passages.js';
import { rhymes } from './rhymes.js';
import { syllables } from './syllables.js';
import { structured } from './structured.js';
import { synonyms } from './synonyms.js';
import type { SyntheticTask } from './task.js';
import { matchTemplates } from './text.js';

/**
 * The registry of synthetic SFT task families. Each one pairs a generator of short,
 * programmatically checkable conversations with the checker the evaluation scores them by,
 * one module per family:
 *
 *   definitions  kinds  synonyms  antonyms  rhymes  syllables   (WordNet + CMUdict words; words.ts)
 *   arithmetic                                                   (calculator tool calls)
 *   chat                                                         (greetings, identity, refusals…)
 *
 * Shared pieces: the held-out split by hash (split.ts), templates and text helpers (text.ts),
 * the word-family frame (words.ts), word facts for the built-in dictionary (facts.ts).
 * A new family is a new module exporting a SyntheticTask, listed once in TASKS below.
 */

export { fnv1a, isHeldOut, splitOf } from './split.js';
export { CORE_WORDS, coreWords } from './words.js';
export { type WordFacts, wordFacts } from './facts.js';
export { detectChatIntent } from './chat.js';

/** Every family, in the order of the eval table. */
export const TASKS: readonly SyntheticTask[] = [definitions, kinds, synonyms, antonyms, arithmetic, rhymes, syllables, chat];

/**
 * Families a mixture or `eval --tasks` names, left out of the defaults (eval table, RM/RL
 * prompts): passages needs a 256-token context; structured is the constrained-decoding
 * measurement (issue #17), trained and scored only when a mixture asks for it; lookup is
 * the key → value recall the passages reader needs (docs/journal/rag.md "Fifth attempt").
 */
export const OPT_IN_TASKS: readonly SyntheticTask[] = [passagesTask(), structured, lookup];

const anyTask = (name: string): SyntheticTask | undefined => TASKS.find((t) => t.name === name) ?? OPT_IN_TASKS.find((t) => t.name === name);

/**
 * A task family by name.
 * @param where the file and field the name came from (a preset's `sft.mixture.sources[0].task`), named in the error
 * @throws GptforgeError for an unknown name, with the closest one when it is near (`definitons` → "definitions")
 */
export function taskByName(name: string, where: { file?: string; field?: string } = {}): SyntheticTask {
  const task = anyTask(name);
  if (!task) {
    const names = [...TASKS, ...OPT_IN_TASKS].map((t) => t.name);
    const near = closestKey(String(name), names);
    throw new GptforgeError(`unknown task "${name}"${near ? `; did you mean "${near}"?` : ''} (one of: ${names.join(', ')})`, where);
  }
  return task;
}

/** The prompt template a prompt of the family was made from (for per-phrasing breakdowns), if any. */
export function phrasingOf(taskName: string, prompt: string): string | undefined {
  return matchTemplates(anyTask(taskName)?.prompts ?? [], prompt)?.template;
}

/**
 * The item a prompt asks about, the unit the train/test split is made of: the word (word
 * families), the calculator input "345*67" (arithmetic) or the prompt itself (chat).
 */
export function promptItem(taskName: string, prompt: string): string | undefined {
  return anyTask(taskName)?.item?.(prompt);
}
