import type { Conversation } from '../conversation.js';

/**
 * A synthetic task family: a seeded generator of conversations whose answers a program can
 * check, with a held-out split that training never sees. The SFT data pipeline mixes
 * families; the evaluation scores each family's held-out split.
 */
export type Split = 'train' | 'test';

export interface TaskExample {
  /** The full conversation (user prompt → ideal assistant answer, tool calls included). */
  conversation: Conversation;
  /** The user's prompt (the first user message's content). */
  prompt: string;
}

export interface GenerateOptions {
  /** Family-specific variant, e.g. arithmetic's { ops: ['*'], minDigits: 3, maxDigits: 4 }. */
  variant?: Record<string, unknown>;
}

export interface SyntheticTask {
  /** Family name as it appears in the eval table: definitions, kinds, synonyms, antonyms, arithmetic, rhymes, syllables, chat. */
  readonly name: string;
  /** One line for docs and --help. */
  readonly description: string;
  /** Whether answers need the calculator tool. */
  readonly usesTool: boolean;
  /**
   * n examples from one split, deterministic in (split, n, seed). Items (words, number
   * pairs, chat intents…) are assigned to splits by a fixed hash, so no test item ever
   * appears in train, whatever the seed.
   */
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[];
  /**
   * Is `answer` (the assistant's visible text: tool calls and outputs excluded) a correct
   * reply to `prompt`? Works from the prompt text alone (it re-parses the item from it).
   */
  check(prompt: string, answer: string): boolean;
  /** The prompt templates the family phrases its prompts with (for per-phrasing breakdowns). */
  readonly prompts?: readonly string[];
  /**
   * The item a prompt asks about, the unit the train/test split is made of (a word, the
   * calculator input "345*67", the chat prompt itself); undefined when it cannot be parsed.
   */
  item?(prompt: string): string | undefined;
}
