/**
 * `gptforge serve --log`: fastify's request log (pino's JSON lines) as readable lines on a
 * terminal, in the manner of pino-pretty (not a dependency here; these few lines cover the
 * fields fastify logs), or kept as JSON lines when piped or asked for (`--log-format json`),
 * for a log collector.
 *
 *   11:30:02.120 INFO  req-1 → POST /v1/chat/completions (127.0.0.1)
 *   11:30:02.480 INFO  req-1 ← 200 POST /v1/chat/completions 360.2 ms
 *   11:30:03.015 INFO  req-2 ← 400 POST /v1/chat/completions 'messages' must be a non-empty array (invalid_request_error, param messages)
 */

export type LogFormat = 'pretty' | 'json';

/** `--log-format` as given, else pretty on a terminal and JSON lines when stderr is piped. */
export function logFormatFor(given: LogFormat | undefined, isTTY: boolean | undefined): LogFormat {
  return given ?? (isTTY ? 'pretty' : 'json');
}

/** pino's numeric levels (pino's `levels.values`) → the names pino-pretty prints. */
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** ANSI colour of a level (as pino-pretty's defaults: info green, warn yellow, error and fatal red). */
const LEVEL_COLOUR: Record<string, number> = { TRACE: 90, DEBUG: 34, INFO: 32, WARN: 33, ERROR: 31, FATAL: 31 };
/** The fields a line is made of; any other field is printed after them as key=value. */
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'reqId', 'req', 'res', 'responseTime', 'msg', 'err', 'error']);

interface PinoLine {
  level?: number;
  time?: number;
  reqId?: string;
  req?: { method?: string; url?: string; remoteAddress?: string };
  res?: { statusCode?: number };
  responseTime?: number;
  msg?: string;
  err?: { message?: string; type?: string };
  /** A refused request's OpenAI error object (the server logs it beside a 4xx status). */
  error?: { message?: string; type?: string; param?: string | null; code?: string | null };
  [key: string]: unknown;
}

/**
 * Readable lines from pino's JSON lines. It remembers each request's method and URL from its
 * "incoming request" line, since fastify's "request completed" line carries only the status
 * and the time; a line that is not JSON passes through as it is.
 */
export class PrettyLog {
  private readonly open = new Map<string, string>();

  constructor(private readonly colour: boolean) {}

  /** One JSON line (no newline) → its readable line. */
  line(text: string): string {
    let o: PinoLine;
    try {
      o = JSON.parse(text) as PinoLine;
    } catch {
      return text;
    }
    if (o === null || typeof o !== 'object') return text;
    const paint = (code: number, s: string): string => (this.colour ? `\x1b[${code}m${s}\x1b[0m` : s);
    const level = LEVELS[o.level ?? 30] ?? String(o.level);
    // local time of day to the millisecond, as a terminal's reader lives in it
    const d = typeof o.time === 'number' ? new Date(o.time) : undefined;
    const time = d ? `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0')}` : '';
    const parts = [paint(2, time), paint(LEVEL_COLOUR[level] ?? 0, level.padEnd(5))];
    if (o.reqId !== undefined) parts.push(paint(2, String(o.reqId)));
    const request = o.req?.method !== undefined ? `${o.req.method} ${o.req.url ?? ''}` : undefined;
    if (request !== undefined && o.reqId !== undefined) this.open.set(String(o.reqId), request);
    if (o.res?.statusCode !== undefined) {
      // the end of a request: status, what it was, how long it took
      const status = o.res.statusCode;
      const was = o.reqId !== undefined ? this.open.get(String(o.reqId)) : undefined;
      // an error logged on its way out carries the status too; only the completion ends the request
      if (o.reqId !== undefined && typeof o.responseTime === 'number') this.open.delete(String(o.reqId));
      parts.push(`← ${paint(status >= 500 ? 31 : status >= 400 ? 33 : 32, String(status))}`);
      if (was !== undefined) parts.push(was);
      if (typeof o.responseTime === 'number') parts.push(`${o.responseTime.toFixed(1)} ms`);
      if (o.msg !== undefined && o.msg !== 'request completed') parts.push(o.msg);
    } else if (request !== undefined) {
      parts.push(`→ ${request}${o.req?.remoteAddress ? ` (${o.req.remoteAddress})` : ''}`);
      if (o.msg !== undefined && o.msg !== 'incoming request') parts.push(o.msg);
    } else if (o.msg !== undefined) parts.push(o.msg);
    if (o.error !== undefined && o.error !== null && typeof o.error === 'object') {
      // the reason of a refusal: its code (else type) and the field at fault; the message is the line's msg
      const why = [o.error.code ?? o.error.type, o.error.param ? `param ${o.error.param}` : undefined].filter((x) => x).join(', ');
      if (o.error.message !== undefined && o.error.message !== o.msg) parts.push(o.error.message);
      if (why) parts.push(`(${why})`);
    }
    if (o.err?.message !== undefined) parts.push(o.err.message === o.msg ? `(${o.err.type ?? 'Error'})` : `${o.err.type ?? 'Error'}: ${o.err.message}`);
    for (const [k, v] of Object.entries(o)) if (!SHOWN.has(k)) parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    return parts.join(' ');
  }
}

/**
 * Where fastify's logger writes (its `stream` option: pino calls `write` with one JSON line
 * and its newline at a time): `out` unchanged for 'json', else each line made readable.
 */
export function logStream(format: LogFormat, out: { write(s: string): unknown }, colour = false): { write(s: string): void } {
  if (format === 'json') return { write: (s) => void out.write(s) };
  const pretty = new PrettyLog(colour);
  let partial = '';
  return {
    write(s: string): void {
      partial += s;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.trim() !== '') out.write(`${pretty.line(line)}\n`);
      }
    },
  };
}
