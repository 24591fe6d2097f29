/**
 * Server-sent events for the streamed endpoints: `data: <JSON>\n\n` lines (the OpenAI stream
 * format; the clients split on the blank line and JSON.parse each `data:`).
 *
 * The per-token chunk of a stream differs from its neighbours only in the choice index and the
 * delta's text, so it is stringified once per request with two holes and each token fills
 * them in: only the token's text is escaped (`JSON.stringify` of that string alone), as
 * llama.cpp's server and vLLM build their stream chunks, instead of a fresh chunk object (six
 * fields, a choices array, a delta) stringified whole for every token of every row.
 */

/** The response headers of an event stream (as OpenAI's API sends them). */
export const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' } as const;

/** `data: ${JSON.stringify(obj)}\n\n`: one SSE event. */
export function sseLine(obj: unknown): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}

// strings no chunk holds (JSON.stringify writes U+0000 as \u0000, so each appears quoted once)
const INDEX_HOLE = '\u0000gptforge:index';
const TEXT_HOLE = '\u0000gptforge:text';

/**
 * A prebuilt SSE line with two holes: `make(index, text)` builds the chunk object with the
 * values it is given at the two places that vary (it is called once, with placeholders); the
 * returned function gives, for an integer `index` and any string `text`, exactly
 * `sseLine(make(index, text))`, byte for byte (tested). Throws when `make` does not put each
 * placeholder in the chunk exactly once, as a JSON value (not inside a key or another string).
 */
export function sseTemplate(make: (index: unknown, text: unknown) => unknown): (index: number, text: string) => string {
  const line = sseLine(make(INDEX_HOLE, TEXT_HOLE));
  const cut = (s: string, hole: string): [string, string] => {
    const q = JSON.stringify(hole);
    const at = s.indexOf(q);
    if (at < 0 || s.indexOf(q, at + 1) >= 0) throw new Error(`sseTemplate: the chunk must hold ${q} exactly once as a value: ${s}`);
    return [s.slice(0, at), s.slice(at + q.length)];
  };
  const [a, rest] = cut(line, INDEX_HOLE);
  const [b, c] = cut(rest, TEXT_HOLE);
  return (index, text) => a + index + b + JSON.stringify(text) + c;
}
