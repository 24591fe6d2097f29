import type { StreamDecoder } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import type { TokenConstraint } from './constraint.js';
import type { RowView } from './processors.js';

/**
 * Why a row stopped, named as OpenAI's `finish_reason` where one maps:
 * - 'stop': an end token (end of turn / eos), a stop string, or a constraint that must end;
 * - 'length': the token limit (max_tokens) — also when a constraint was not yet complete;
 * - 'context': the context window is full;
 * - 'unclosed_tool_call': the model ended its turn inside a tool call (chat);
 * - 'abort': the row's AbortSignal fired.
 */
export type FinishReason = 'stop' | 'length' | 'context' | 'unclosed_tool_call' | 'abort';

/** A stopping criterion's verdict: the reason, and (for 'stop') what matched, as vLLM's `stop_reason`. */
export interface Finish {
  reason: FinishReason;
  /** The end token id or stop string that ended the row; null otherwise. */
  matched: number | string | null;
}

/** What a stopping criterion sees after a token (and whatever was forced after it) was appended. */
export interface RowProgress extends RowView {
  /** Tokens the model sampled in this row so far (forced ones not counted). */
  readonly sampledCount: number;
  /** Positions the cache would hold once this step's tokens are fed. */
  readonly contextNeeded: number;
  /** The context window (the cache's capacity). */
  readonly contextSize: number;
  /** The row's visible text stream. */
  readonly text: TextStream;
}

/** Checked after every sampled token; the first criterion that answers ends the row. */
export interface StoppingCriterion {
  check(row: RowProgress): Finish | null;
}

/** The token limit: `maxTokens` sampled tokens (OpenAI's max_tokens; forced tokens do not count). */
export class MaxTokens implements StoppingCriterion {
  constructor(readonly maxTokens: number) {}
  check(row: RowProgress): Finish | null {
    return row.sampledCount >= this.maxTokens ? { reason: 'length', matched: null } : null;
  }
}

/** The context window: the tokens to feed no longer fit the cache. */
export class ContextLimit implements StoppingCriterion {
  check(row: RowProgress): Finish | null {
    return row.contextNeeded > row.contextSize ? { reason: 'context', matched: null } : null;
  }
}

/** A stop string appeared in the visible text (the text stream has cut it off). */
export class StopStrings implements StoppingCriterion {
  check(row: RowProgress): Finish | null {
    return row.text.matched !== null ? { reason: 'stop', matched: row.text.matched } : null;
  }
}

/** The constraint is complete and nothing can extend it. */
export class ConstraintEnd implements StoppingCriterion {
  constructor(readonly constraint: TokenConstraint) {}
  check(): Finish | null {
    return this.constraint.mustEnd() ? { reason: 'stop', matched: null } : null;
  }
}

/**
 * A row's visible text: token ids → UTF-8-safe text (the tokenizer's stream decoder never
 * releases half a character), cut at the first stop string. Text that could still be the start
 * of a stop string is held back until it is not (the longest suffix that is a proper prefix of
 * a stop string, nothing more), so the released deltas never contain any part of a stop string,
 * even one split across tokens, and their concatenation is `text`.
 *
 * A hidden token (a tool call, say) ends a stretch of visible text: `interrupt()` releases
 * everything held (an incomplete character becomes U+FFFD); stop strings match within a stretch.
 */
export class TextStream {
  /** The text released so far. */
  text = '';
  /** The stop string that ended the text, once one has. */
  matched: string | null = null;
  private pending = '';

  constructor(
    private readonly decoder: StreamDecoder,
    readonly stops: readonly string[] = [],
  ) {
    for (const s of stops) if (s === '') throw new GptforgeError('a stop string must not be empty', { field: 'stop' });
  }

  /** A visible token; returns the text it releases (maybe ''). */
  push(id: number): string {
    const d = this.decoder.push(id);
    return this.matched === null ? this.take(d, false) : '';
  }

  /** Release everything held (a hidden token, or the end of the row); returns the text released. */
  interrupt(): string {
    const d = this.decoder.flush();
    return this.matched === null ? this.take(d, true) : '';
  }

  private take(delta: string, all: boolean): string {
    const p = (this.pending += delta);
    // the earliest stop string: it can only start inside `pending`, as everything released was no stop prefix
    let at = -1;
    for (const s of this.stops) {
      const i = p.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        this.matched = s;
      }
    }
    let out: string;
    if (at >= 0) {
      out = p.slice(0, at);
      this.pending = '';
    } else {
      const hold = all ? 0 : this.stopPrefixSuffix(p);
      out = p.slice(0, p.length - hold);
      this.pending = p.slice(p.length - hold);
    }
    this.text += out;
    return out;
  }

  /** Length of the longest suffix of `p` that is a proper prefix of a stop string. */
  private stopPrefixSuffix(p: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, p.length); k > best; k--) {
        if (p.endsWith(s.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
