/**
 * The context block: retrieved passages rendered into the user's turn of the chat layout
 * (data/chat.ts), numbered so the answer can cite them, and citations parsed back out.
 *
 *   <|user_start|>Passages:
 *   [1] dog: (dictionary:812) Dog (noun): a member of the genus Canis… A dog is one sort of canine.
 *   [2] (notes/pets.md:3) …
 *   Question: What does dog mean?<|user_end|>
 *   <|assistant_start|>The word dog means a member of the genus Canis [1].<|assistant_end|>
 *
 * The block is plain text inside the user message, not new special tokens: every tokenizer
 * and checkpoint keeps working, the user still cannot forge a turn boundary (chat.ts encodes
 * message text with special tokens as plain text), and the SFT family `passages`
 * (data/synthetic/passages.ts) teaches exactly this layout. A passage is one line (its
 * whitespace collapsed), so the numbering is unambiguous. When no passage holds the answer,
 * the model is taught to say NO_ANSWER.
 *
 * A passage may have a **title**, shown right after its number (`[1] dog: (…) …`): a
 * dictionary entry's word (generate.ts `passageTitle`). The decision the `passages` family
 * trains — "is the asked word's entry shown?" — is then a match of the question's word against
 * the token after each "[n]", at a fixed place, instead of finding the entry's word inside its
 * first sentence in one of a dozen phrasings (docs/journal/rag.md "Fifteenth attempt").
 *
 * Citation style follows the numbered-reference convention of retrieval QA systems (WebGPT,
 * Nakano et al. 2021; Bing/Perplexity-style "[1]"): "[1]", "[2]" or "[1, 2]" after the claim.
 */

/** A passage as the prompt shows it. */
export interface Passage {
  text: string;
  /** Where it comes from, shown in parentheses: "file.md:12", "dictionary:812". */
  source: string;
  /** What the passage is about, shown before the source: a dictionary entry's word ("dog"). One line, without ":", "(" or ")" (they are dropped: see {@link passageTitleText}). */
  title?: string;
}

/** What the model says when the passages do not contain the answer (the `passages` family's reply). */
export const NO_ANSWER = "The passages don't say.";

/** The header line of the context block and the label before the question. */
export const PASSAGES_HEADER = 'Passages:';
export const QUESTION_LABEL = 'Question:';

/** A passage's text on one line: whitespace runs (newlines included) become one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * A title as the block shows it: one line, with ":", "(" and ")" dropped (they delimit the title
 * and the source, so a title holding them could not be parsed back); "" when nothing is left.
 */
export function passageTitleText(title: string | undefined): string {
  return title === undefined ? '' : oneLine(title.replace(/[:()]/g, ' '));
}

/** The context block: the header, then "[i] (source) text" per passage — "[i] title: (source) text" when it has a title — numbered from 1. */
export function contextBlock(passages: readonly Passage[]): string {
  return [
    PASSAGES_HEADER,
    ...passages.map((p, i) => {
      const title = passageTitleText(p.title);
      return `[${i + 1}] ${title ? `${title}: ` : ''}(${oneLine(p.source)}) ${oneLine(p.text)}`;
    }),
  ].join('\n');
}

/** The user message with the context block: block, then "Question: …". No passages: the question alone. */
export function passagePrompt(question: string, passages: readonly Passage[]): string {
  if (passages.length === 0) return question;
  return `${contextBlock(passages)}\n${QUESTION_LABEL} ${question.trim()}`;
}

/** A user message parsed back: its passages (in order) and its question; undefined when it has no context block. */
export function parsePassagePrompt(content: string): { passages: Passage[]; question: string } | undefined {
  const lines = content.split('\n');
  if (lines[0]?.trim() !== PASSAGES_HEADER) return undefined;
  const passages: Passage[] = [];
  let i = 1;
  for (; i < lines.length; i++) {
    const m = /^\[(\d+)\] (?:([^:()]+): )?\(([^)]*)\) (.*)$/.exec(lines[i]);
    if (!m || Number(m[1]) !== passages.length + 1) break;
    passages.push({ source: m[3], text: m[4], ...(m[2] !== undefined ? { title: m[2] } : {}) });
  }
  const rest = lines.slice(i).join('\n').trim();
  if (!rest.startsWith(QUESTION_LABEL)) return undefined;
  return { passages, question: rest.slice(QUESTION_LABEL.length).trim() };
}

/** Passage numbers cited in an answer, in order of first citation: "[1]", "[2, 3]", "[1][2]". */
export function citedNumbers(answer: string): number[] {
  const out: number[] = [];
  for (const m of answer.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const n of m[1].split(',').map((s) => Number(s.trim()))) if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** The answer with its citation marks removed (for checkers that read the claim alone). */
export function stripCitations(answer: string): string {
  return answer
    .replace(/\s*\[\d+(?:\s*,\s*\d+)*\]/g, '')
    .replace(/\s+([.,;!?])/g, '$1')
    .trim();
}

/** Does the answer say the passages do not hold the answer ("The passages don't say", "…do not say…")? */
export function saysNoAnswer(answer: string): boolean {
  return /\bpassages?\s+(don't|do not|doesn't|does not)\s+say\b/i.test(answer.replace(/’/g, "'"));
}

/**
 * A reply that quotes a passage, as the `passages` and `lookup` families write it: with a
 * leading space. A GPT-style BPE splits text into words *with* their leading space
 * (" capital"), so a word at the very start of a message has no match in the passage it
 * quotes — under a 2,048-token vocabulary "capital" is `c ap it al` at the start of a reply
 * and ` cap it al` in the passage — and copying (an induction head: find the current token
 * earlier in the context, emit what followed it) cannot start from the reply's first word
 * (docs/journal/rag.md "Sixth attempt"). The space is SentencePiece's `add_dummy_prefix` applied to one
 * message; the chat engine trims it from the visible text.
 */
export function quotedReply(text: string): string {
  return ` ${text.trimStart()}`;
}
