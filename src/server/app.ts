import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { chatTokenIds, renderForReward, turnEndIds } from '../data/chat.js';
import { noGrad } from '../engine/tensor.js';
import { type DecodeEvent, type RowRequest, type RowResult, type TokenLogprob } from '../infer/pipeline.js';
import { buildProcessors } from '../infer/processors.js';
import { DEFAULT_MAX_TOOL_CALLS, MAX_TOOL_CALLS_LIMIT } from '../infer/engine.js';
import { defaultTools } from '../infer/tools/registry.js';
import { scoreSequences } from '../train/reward.js';
import { GptforgeError } from '../util/errors.js';
import { parseJsonFile } from '../util/json.js';
import type { GrammarConstraint } from '../infer/constrain/matcher.js';
import { declaredToolCallConstraint, type ToolDeclaration } from '../infer/constrain/toolcall.js';
import { ReplyConstraint } from '../infer/constrain/reply.js';
import { BuiltinCallPlaces, chatPrompt, TOOL_HINT, toConversation, ToolRowController, type ApiToolCall, type ToolChoice } from './chat.js';
import { runAssist } from './assist.js';
import { ApiError, badRequest } from './errors.js';
import { responseFormatConstraint } from './formats.js';
import { ServerMetrics } from './metrics.js';
import { REWARD_STAGE, type ServedModel } from './models.js';
import { citationsJSON, emptyContextReply, RagReplyStream, ragExtractiveConstraint, ragReplyRoom, ragReplyText, ragRequest, ServerRag, type RagContext } from './rag.js';
import { Scheduler } from './scheduler.js';
import { cachedDefaultChatModel } from '../run/models.js';
import { SSE_HEADERS, sseLine, sseTemplate } from './sse.js';
import { isPublicWebPath } from './web.js';
import { asBody, logitBias, optBool, optNumber, optString, stopStrings, type Body } from './validate.js';

/**
 * gptforge's OpenAI-compatible HTTP server (fastify): chat completions (streamed or not, with
 * tools), completions, embeddings, models, reward scoring, tokenize/detokenize, health and
 * Prometheus metrics. Requests to one model are decoded together by its Scheduler.
 * Field semantics follow the OpenAI API reference (chat/create, completions/create,
 * embeddings/create); tokenize/detokenize follow vLLM's routes of the same names.
 */
export interface ServerOptions {
  /** API keys; empty: no authentication. */
  apiKeys?: readonly string[];
  /** Most rows decoded together per model (default 8). */
  parallel?: number;
  /** Most rows waiting per model before 429 (default 8 × parallel). */
  maxQueue?: number;
  /** Largest request body in bytes (default 4 MiB; larger: 413). */
  bodyLimit?: number;
  /**
   * Log each request (fastify's pino logger): true for pino's JSON lines on stdout, or where its
   * lines go (`write` gets each JSON line; `gptforge serve --log` passes stderr, as JSON or made
   * readable, src/cli/log-format.ts).
   */
  log?: boolean | { write(line: string): void };
  /** A RAG store (`gptforge rag index`) the chat route retrieves from when a request asks (`rag`); opened read-only. */
  ragStore?: string;
  /** Reuse cached prompt prefixes across requests (BatchOptions.prefixCache; default true). */
  prefixCache?: boolean;
  /** Run each model's decode steps' forward on a thread of its own (SchedulerOptions.decodeThread; default true). */
  decodeThread?: boolean;
}

interface Served extends ServedModel {
  scheduler: Scheduler | null;
}

const MAX_N = 16;

function sha(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** A model in OpenAI's fields, plus gptforge's `context_length` and `kind` (`generation`, or `reward`: served on /v1/rewards only). */
function modelJSON(m: ServedModel): { id: string; object: 'model'; created: number; owned_by: string; context_length: number; kind: 'generation' | 'reward' } {
  return { id: m.id, object: 'model', created: m.created, owned_by: 'gptforge', context_length: m.model.config.blockSize, kind: m.reward ? 'reward' : 'generation' };
}

/**
 * A request's `stream` and `stream_options.include_usage` (OpenAI's fields, for chat and text
 * completions alike). 400 naming `stream_options` when it comes without `stream`, as OpenAI answers.
 */
function streamSettings(b: Body): { stream: boolean; includeUsage: boolean } {
  const stream = optBool(b, 'stream') ?? false;
  if (b.stream_options != null && !stream) throw badRequest("'stream_options' is only allowed when 'stream' is true", 'stream_options');
  return { stream, includeUsage: stream && (b.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true };
}

/**
 * A reply's tool calls: the closed ones, or, when the reply was cut inside a client's call, that
 * call with the arguments generated so far (OpenAI's behaviour at max_tokens), marked `partial`.
 */
function callsOf(r: RowResult, c: ToolRowController): { calls: readonly ApiToolCall[]; partial: boolean } {
  if (c.calls.length > 0 || r.finishReason === 'stop' || r.finishReason === 'abort') return { calls: c.calls, partial: false };
  const open = c.partialCall();
  return open ? { calls: [open], partial: true } : { calls: c.calls, partial: false };
}

/** Finish reason names of the API: a call cut by the budget (`partial`) is returned, but the reply says 'length'. */
function apiFinish(r: RowResult, calls: readonly ApiToolCall[], partial = false): 'stop' | 'length' | 'tool_calls' {
  if (calls.length > 0 && !partial) return 'tool_calls';
  return r.finishReason === 'stop' || r.finishReason === 'abort' ? 'stop' : 'length';
}

/**
 * OpenAI's `max_completion_tokens` (else its older `max_tokens`): a whole number of tokens,
 * at least 1; refused below that naming the model's context `ctx` as the limit, as the web
 * pages' own max_tokens fields do. More than the room left (up to `ctx` with the prompt) is
 * not refused here: `budget` answers it as OpenAI does, context_length_exceeded with the counts.
 */
function askedMaxTokens(b: Body, ctx: number): number | undefined {
  for (const key of ['max_completion_tokens', 'max_tokens']) {
    const v = optNumber(b, key, -Infinity, Infinity, { integer: true });
    if (v === undefined) continue;
    if (v < 1) throw badRequest(`'${key}' must be between 1 and ${ctx}, got ${v}`, key);
    return v;
  }
  return undefined;
}

export class GptforgeServer {
  readonly app: FastifyInstance;
  readonly metrics = new ServerMetrics();
  private models = new Map<string, Served>();
  /** The `default` of /v1/models, remembered until the map is replaced (setModels) or a stage saves a checkpoint. */
  private readonly defaultChatModel = cachedDefaultChatModel();
  private loading = true;
  private loadError: string | null = null;
  private readonly keyHashes: Buffer[];
  private readonly parallel: number;
  private readonly maxQueue: number;
  private readonly prefixCache: boolean;
  private readonly decodeThread: boolean;
  /** Retrieval for chat requests with `rag` (null: none; 400 when asked). */
  readonly rag: ServerRag | null;

  constructor(opts: ServerOptions = {}) {
    this.parallel = opts.parallel ?? 8;
    if (!Number.isInteger(this.parallel) || this.parallel < 1) throw new GptforgeError(`--parallel: expects a whole number ≥ 1, got ${this.parallel}`, { field: 'parallel' });
    this.maxQueue = opts.maxQueue ?? 8 * this.parallel;
    this.prefixCache = opts.prefixCache ?? true;
    this.decodeThread = opts.decodeThread ?? true;
    this.keyHashes = (opts.apiKeys ?? []).map(sha);
    this.app = Fastify({ bodyLimit: opts.bodyLimit ?? 4 * 1024 * 1024, logger: typeof opts.log === 'object' ? { stream: opts.log } : (opts.log ?? false) });
    // Fastify's own JSON parser (prototype-poisoning checks included); a syntax error is answered
    // with its line and column, which Fastify's message leaves out
    const json = this.app.getDefaultJsonParser('error', 'error');
    this.app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      json(req, text, (err, value) => {
        if (!err || text.trim() === '') return done(err, value);
        try {
          parseJsonFile(text, 'the request body');
        } catch (e) {
          if (e instanceof GptforgeError) {
            const what = e.message.replace(/^.*?not valid JSON: /, '').replace(' at column ', ` at line ${e.line ?? 1}, column `);
            return done(badRequest(`the request body is not valid JSON: ${what} (check it with a JSON parser, e.g. jq .)`, null));
          }
        }
        done(err, value); // valid JSON refused for another reason (__proto__): Fastify's answer
      });
    });
    this.rag = opts.ragStore !== undefined ? ServerRag.open(opts.ragStore) : null;
    this.app.addHook('onClose', async () => {
      this.rag?.close();
      await Promise.all([...this.models.values()].map((m) => m.scheduler?.close()));
    });
    this.routes();
  }

  /** Serve these models (a run's stages, see loadRunModels); /health turns 200. */
  setModels(models: ReadonlyMap<string, ServedModel>): void {
    // a reload: the old schedulers finish their requests in flight, then end their decode threads
    for (const m of this.models.values()) void m.scheduler?.closeWhenIdle().catch(() => {});
    this.models = new Map();
    for (const [id, m] of models) {
      const scheduler = m.reward
        ? null
        : new Scheduler(m.model, m.tok, {
            parallel: this.parallel,
            maxQueue: this.maxQueue,
            padId: 0,
            prefixCache: this.prefixCache,
            decodeThread: this.decodeThread,
            onStep: (n, seconds) => {
              this.metrics.batchRows.observe(n);
              this.metrics.stepSeconds.observe(seconds);
            },
          });
      this.models.set(id, { ...m, scheduler });
    }
    this.loading = false;
  }

  /** Loading failed: /health answers 503 with the reason, model routes 503. */
  setLoadError(message: string): void {
    this.loadError = message;
  }

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    try {
      return await this.app.listen({ port, host });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new GptforgeError(`port ${port} on ${host} is already in use (another server?): choose another with --port, or --port 0 for a free one`, { field: '--port' });
      if (code === 'EACCES') throw new GptforgeError(`no permission to listen on ${host}:${port} (ports below 1024 need privileges)`, { field: '--port' });
      // a host that does not resolve, or an address no interface of this machine has
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EADDRNOTAVAIL')
        throw new GptforgeError(`--host ${host}: ${code === 'EADDRNOTAVAIL' ? 'no interface of this machine has that address' : 'not an IP address or a host name that resolves'} (${code}); use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of this machine's addresses`, { field: '--host' });
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  private authorized(req: FastifyRequest): boolean {
    if (this.keyHashes.length === 0) return true;
    const given = sha(bearerKey(req.headers.authorization) ?? '');
    // every key is compared (no early exit), each comparison in constant time over equal-length hashes
    let ok = false;
    for (const k of this.keyHashes) ok = timingSafeEqual(k, given) || ok;
    return ok;
  }

  private model(body: Body, opts: { generation?: boolean; reward?: boolean; embedding?: boolean } = {}): Served {
    if (this.loadError) throw new ApiError(503, `the models failed to load: ${this.loadError}`, 'service_unavailable');
    if (this.loading) throw new ApiError(503, 'the models are still loading', 'service_unavailable', null, null, { 'retry-after': '1' });
    let id = body.model;
    // the models this route can use: a reward model scores, it does not generate
    const ok = [...this.models.values()].filter((x) => (opts.reward ? x.reward : opts.generation ? x.scheduler !== null : true)).map((x) => x.id);
    // no `model`: the server's default, as llama.cpp's server and vLLM's single-model mode take one — the reward
    // route's the stage rm; the others' the model /v1/models marks `default` (chat's rule), else the only one served
    if (id === undefined || id === null) id = opts.reward ? REWARD_STAGE : this.defaultModel(ok);
    if (id === undefined) throw badRequest(`'model' is required: this server serves several models and none is its default; one of ${ok.join(', ')}`, 'model');
    if (typeof id !== 'string') throw badRequest(`'model' must be a string: one of ${ok.join(', ')}`, 'model');
    const m = this.models.get(id);
    if (!m || (opts.generation && m.scheduler === null) || (opts.reward && !m.reward)) {
      const why = !m ? 'does not exist' : opts.reward ? 'is not a reward model' : opts.embedding ? 'is a reward model: it scores replies (POST /v1/rewards); embeddings come from the language models' : 'is a reward model: it scores replies (POST /v1/rewards) and does not generate';
      throw new ApiError(404, `The model '${id}' ${why} (${opts.reward ? 'reward models' : opts.generation ? 'models that generate' : 'models'} on this server: ${ok.join(', ') || 'none'})`, 'invalid_request_error', 'model', 'model_not_found');
    }
    return m;
  }

  /** The model a request without `model` gets among `ok` (the ids its route can use): /v1/models' `default` (chat's rule, defaultChatModel), else the only one; undefined when neither. */
  private defaultModel(ok: readonly string[]): string | undefined {
    const chat = this.defaultChatModel(this.models);
    if (chat !== undefined && ok.includes(chat)) return chat;
    return ok.length === 1 ? ok[0] : undefined;
  }

  /** A served reward model by id, for a field that names one (`value_model`): 400 naming the field otherwise. */
  private rewardModel(id: string, field: string): Served {
    const m = this.models.get(id);
    if (!m?.reward)
      throw badRequest(
        `'${field}' must name a reward model this server has (${
          [...this.models.values()]
            .filter((x) => x.reward)
            .map((x) => x.id)
            .join(', ') || 'none'
        }), not ${JSON.stringify(id)}`,
        field,
      );
    return m;
  }

  private routes(): void {
    const app = this.app;
    app.addHook('onRequest', async (req) => {
      (req as FastifyRequest & { t0?: number }).t0 = performance.now();
      if (req.url === '/health' || req.url === '/metrics' || isPublicWebPath(req.url)) return;
      if (!this.authorized(req)) {
        // OpenAI's two answers: no key at all (code null), or a wrong one (invalid_api_key); both type invalid_request_error
        if (!req.headers.authorization) throw new ApiError(401, "You didn't provide an API key. Provide it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null, null);
        // a key sent without the scheme, or an empty one (`new OpenAI({apiKey: ''})`), reads as wrong; say which
        const key = bearerKey(req.headers.authorization);
        if (key === null) throw new ApiError(401, 'The Authorization header must use Bearer auth: "Authorization: Bearer YOUR_KEY" (the scheme was missing or not Bearer)', 'invalid_request_error', null, 'invalid_api_key');
        if (key === '') throw new ApiError(401, 'The API key is empty: the Authorization header was "Bearer" with no key after it; send "Authorization: Bearer YOUR_KEY"', 'invalid_request_error', null, 'invalid_api_key');
        throw new ApiError(401, 'Incorrect API key provided', 'invalid_request_error', null, 'invalid_api_key');
      }
    });
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unknown';
      this.metrics.requests.inc({ route, status: String(reply.statusCode) });
      const t0 = (req as FastifyRequest & { t0?: number }).t0;
      if (t0 !== undefined) this.metrics.duration.observe({ route }, (performance.now() - t0) / 1000);
    });
    /**
     * A 4xx's reason in the request log (`serve --log`), as fastify's default error handler logs
     * it (info, beside the status) and ours would otherwise leave out: `error` is the response's
     * OpenAI error object, so the readable line reads `← 404 GET /v1/x Unknown request URL: GET /v1/x. … (unknown_url)`;
     * the completion line follows.
     */
    const refused = (reply: FastifyReply, api: ApiError): void => {
      if (api.status < 500) reply.log.info({ res: { statusCode: api.status }, error: api.body().error }, api.message);
    };
    app.setNotFoundHandler(async (req, reply) => {
      // OpenAI's answer to an unknown URL: 404, invalid_request_error, code unknown_url. The
      // Responses API (which the openai SDK pushes: client.responses.create) gets a pointer to
      // the chat completions route that does the same work here, not a bare "unknown URL"
      const path = req.url.split('?')[0];
      const responses = path === '/v1/responses' || path.startsWith('/v1/responses/');
      const api = responses
        ? new ApiError(404, `The Responses API (${req.method} ${path}) is not implemented by this server: use the Chat Completions API, POST /v1/chat/completions (client.chat.completions.create; docs/server.md)`, 'invalid_request_error', null, 'unknown_url')
        : new ApiError(404, `Unknown request URL: ${req.method} ${req.url}. Check the URL for typos; the routes are in docs/server.md`, 'invalid_request_error', null, 'unknown_url');
      refused(reply, api);
      return reply.code(404).send(api.body());
    });
    app.setErrorHandler(async (err: unknown, req, reply) => {
      const e = err as { statusCode?: number; code?: string; message?: string };
      let api: ApiError;
      if (err instanceof ApiError) api = err;
      else if (err instanceof GptforgeError) api = badRequest(err.message, err.field ?? null);
      else if (e.statusCode === 413) api = new ApiError(413, `the request body is larger than the limit of ${this.app.initialConfig.bodyLimit} bytes`, 'invalid_request_error', null, 'request_too_large');
      // fastify's own 4xx (FST_ERR_…): OpenAI's shape with a message that says what to fix, no internal code
      else if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') api = badRequest(e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the request body is empty; send a JSON object' : 'the request body is not valid JSON (check it with a JSON parser, e.g. jq .)', null);
      else if (e.statusCode === 415) api = new ApiError(415, `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}: send the body as JSON with "Content-Type: application/json"`, 'invalid_request_error', null, 'unsupported_media_type');
      else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) api = new ApiError(e.statusCode, e.message ?? 'bad request', 'invalid_request_error', null, null);
      else {
        req.log.error(err);
        process.stderr.write(`gptforge serve: internal error on ${req.method} ${req.url}: ${String((err as Error)?.message ?? err)}\n`);
        api = new ApiError(500, 'internal server error', 'server_error');
      }
      refused(reply, api);
      for (const [k, v] of Object.entries(api.headers)) void reply.header(k, v);
      return reply.code(api.status).send(api.body());
    });

    app.get('/health', async (_req, reply) => {
      if (this.loadError) return reply.code(503).send({ status: 'error', message: this.loadError });
      if (this.loading) return reply.code(503).send({ status: 'loading' });
      return { status: 'ok' };
    });
    app.get('/metrics', async (_req, reply) => {
      for (const m of this.models.values()) {
        if (!m.scheduler) continue;
        this.metrics.queued.set({ model: m.id }, m.scheduler.queuedRows);
        this.metrics.running.set({ model: m.id }, m.scheduler.runningRows);
      }
      return reply.header('content-type', this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
    });
    const list = async (): Promise<unknown> => {
      if (this.loading) throw new ApiError(503, 'the models are still loading', 'service_unavailable');
      const chat = this.defaultChatModel(this.models); // `default`: the model a chat opens with, chat's rule (src/run/models.ts); cached until a stage saves
      return { object: 'list', data: [...this.models.values()].map((m) => ({ ...modelJSON(m), ...(m.id === chat ? { default: true } : {}) })) };
    };
    app.get('/v1/models', list);
    // a wildcard: an id may hold a slash (`techniques/sft`, a run inside the run; HF's `org/name` ids); `/v1/models/` is the list
    app.get('/v1/models/*', async (req) => {
      const id = (req.params as { '*': string })['*'];
      return id === '' ? list() : modelJSON(this.model({ model: id }));
    });
    app.post('/v1/chat/completions', (req, reply) => this.chat(req, reply));
    app.post('/v1/completions', (req, reply) => this.completions(req, reply));
    app.post('/v1/embeddings', async (req) => this.embeddings(asBody(req.body)));
    app.post('/v1/rewards', async (req) => this.rewards(asBody(req.body)));
    app.post('/tokenize', async (req) => this.tokenize(asBody(req.body)));
    app.post('/detokenize', async (req) => this.detokenize(asBody(req.body)));
    // gptforge extensions: prompting techniques, and the RAG store's state and passages (assist.ts, rag.ts)
    app.post('/v1/gptforge/assist', async (req) => {
      const b = asBody(req.body);
      // the run's reward model by kind, as the web UI picks it: the stage rm, else the first reward model served (rm --into verifier)
      const served = [...this.models.values()];
      const rm = served.find((x) => x.reward && x.id === REWARD_STAGE) ?? served.find((x) => x.reward);
      return runAssist(b, this.model(b, { generation: true }), rm, (id, field) => this.rewardModel(id, field));
    });
    app.get('/v1/gptforge/rag', async () => this.rag?.info() ?? { object: 'gptforge.rag', enabled: false });
    app.get('/v1/gptforge/passages/:id', async (req) => {
      if (!this.rag) throw new ApiError(404, 'this server has no RAG store (start it with --rag <db>)', 'invalid_request_error', null, 'no_rag');
      return this.rag.passage((req.params as { id: string }).id);
    });
  }

  /** Settings every generation row shares, from the request (400 on a bad field). */
  private sampling(b: Body, m: Served): Omit<RowRequest, 'prompt' | 'maxTokens'> & { n: number; seed: number } {
    const V = m.model.config.vocabSize;
    const req = {
      n: optNumber(b, 'n', 1, MAX_N, { integer: true }) ?? 1,
      temperature: optNumber(b, 'temperature', 0, 2) ?? 1,
      topP: optNumber(b, 'top_p', 0, 1),
      presencePenalty: optNumber(b, 'presence_penalty', -2, 2),
      frequencyPenalty: optNumber(b, 'frequency_penalty', -2, 2),
      logitBias: logitBias(b, V),
      stop: stopStrings(b),
      seed: optNumber(b, 'seed', -(2 ** 53), 2 ** 53, { integer: true }) ?? randomInt(2 ** 31),
    };
    buildProcessors(req, V); // validates what the pipeline would reject
    return req;
  }

  /**
   * The completion budget: max_completion_tokens, else max_tokens, else what fits; 400
   * `context_length_exceeded` when the prompt and it exceed the context, worded as OpenAI does
   * for chat (`messages`) and for legacy completions (`prompt`).
   */
  private budget(b: Body, promptTokens: number, ctx: number, dflt?: number, param: 'messages' | 'prompt' = 'messages'): number {
    const asked = askedMaxTokens(b, ctx);
    const max = asked ?? Math.min(dflt ?? Infinity, ctx - promptTokens);
    if (promptTokens >= ctx || promptTokens + max > ctx) {
      const want = asked ?? 1;
      const message =
        param === 'messages'
          ? `This model's maximum context length is ${ctx} tokens. However, you requested ${promptTokens + want} tokens (${promptTokens} in the messages, ${want} in the completion). Please reduce the length of the messages or completion.`
          : `This model's maximum context length is ${ctx} tokens, however you requested ${promptTokens + want} tokens (${promptTokens} in your prompt; ${want} for the completion). Please reduce your prompt; or completion length.`;
      throw badRequest(message, param, 'context_length_exceeded');
    }
    return max;
  }

  /** Submit rows; abort them all when the client goes away before the response is complete. */
  private submit(m: Served, rows: RowRequest[], reply: FastifyReply, onEvent: (e: DecodeEvent) => void): Promise<RowResult[]> {
    const ac = new AbortController();
    for (const r of rows) r.signal = ac.signal;
    const p = m.scheduler!.submit(rows, onEvent);
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) ac.abort();
    });
    return p;
  }

  /**
   * A finished generation's token counts, counted once per request: the generated-token and
   * prefix-cache metrics (vLLM's queries/hits pair, in tokens; queries only while the cache is
   * on), and the fields of its `--log` "request completed" line (pino bindings on reply.log,
   * which fastify's completion line is written through). Returns OpenAI's `usage` object.
   */
  private account(m: Served, reply: FastifyReply, promptTokens: number, completion: number, cached: number) {
    this.metrics.generationTokens.inc({ model: m.id }, completion);
    if (this.prefixCache) {
      this.metrics.prefixCacheQueries.inc({ model: m.id }, promptTokens);
      this.metrics.prefixCacheHits.inc({ model: m.id }, cached);
    }
    reply.log = reply.log.child({ model: m.id, prompt_tokens: promptTokens, completion_tokens: completion, cached_tokens: cached });
    return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion, prompt_tokens_details: { cached_tokens: cached } };
  }

  private logprobEntry(m: Served, token: number, lp: TokenLogprob): { token: string; logprob: number; bytes: number[]; top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }> } {
    const piece = (id: number) => ({ token: m.tok.decode([id]), bytes: Array.from(m.tok.tokenBytes(id)) });
    return { ...piece(token), logprob: lp.logprob, top_logprobs: lp.top.map((t) => ({ ...piece(t.token), logprob: t.logprob })) };
  }

  private async chat(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const t0 = performance.now();
    const b = asBody(req.body);
    const m = this.model(b, { generation: true });
    const sp = chatTokenIds(m.tok);
    let conv = toConversation(b.messages);
    const s = this.sampling(b, m);
    const ragAsk = ragRequest(b);
    if (ragAsk && !this.rag) throw badRequest("'rag' needs a RAG store: start the server with --rag <db>", 'rag');
    const { stream, includeUsage } = streamSettings(b);
    const logprobs = optBool(b, 'logprobs') ?? false;
    const top = optNumber(b, 'top_logprobs', 0, 20, { integer: true });
    if (top !== undefined && !logprobs) throw badRequest("'top_logprobs' needs 'logprobs': true", 'top_logprobs');
    // tools: the client's functions, and the built-in calculator when asked (gptforge extension `builtin_tools`)
    const tools = b.tools;
    if (tools !== undefined && tools !== null && !Array.isArray(tools)) throw badRequest("'tools' must be an array", 'tools');
    const clientTools = new Set<string>();
    const declared: ToolDeclaration[] = [];
    for (const [i, t] of ((tools as unknown[] | undefined) ?? []).entries()) {
      const fn = (t as { type?: unknown; function?: { name?: unknown; parameters?: unknown; strict?: unknown } })?.function;
      if ((t as { type?: unknown })?.type !== 'function' || typeof fn?.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(fn.name)) throw badRequest(`tools[${i}] must be {"type": "function", "function": {"name": …}}`, 'tools');
      clientTools.add(fn.name);
      // OpenAI's `strict: true` promises arguments that match `parameters`: only then are they constrained (our models write
      // free-text inputs, `calculator: 12*3`, which the server wraps as {"input": …} otherwise)
      declared.push({ name: fn.name, parameters: fn.strict === true ? (fn.parameters ?? undefined) : undefined });
    }
    const builtinNames = b.builtin_tools;
    if (builtinNames !== undefined && !(Array.isArray(builtinNames) && builtinNames.every((x) => x === 'calculator'))) throw badRequest('\'builtin_tools\' may only list "calculator"', 'builtin_tools');
    const builtin = Array.isArray(builtinNames) && builtinNames.length > 0 ? defaultTools() : null;
    // OpenAI's name (the Responses API's cap on built-in tool calls); the library's default
    const maxBuiltinCalls = optNumber(b, 'max_tool_calls', 0, MAX_TOOL_CALLS_LIMIT, { integer: true }) ?? DEFAULT_MAX_TOOL_CALLS;
    for (const name of builtin?.names() ?? []) if (!clientTools.has(name)) declared.push({ name, parameters: builtin?.get(name)?.parameters });
    // a call's arguments decoded under its tool's declared `parameters` (issue #17); a schema we cannot enforce is a 400 naming it
    let callConstraint: GrammarConstraint | null;
    try {
      callConstraint = declaredToolCallConstraint(declared, m.tok);
    } catch (e) {
      if (e instanceof GptforgeError) throw badRequest(`tools: ${e.message}`, 'tools');
      throw e;
    }
    let choice: ToolChoice = clientTools.size > 0 || builtin ? 'auto' : 'none';
    const tc = b.tool_choice;
    if (tc === 'none' || tc === 'auto' || tc === 'required') choice = tc;
    else if (tc !== undefined && tc !== null) {
      const name = (tc as { function?: { name?: unknown } })?.function?.name;
      if (typeof name !== 'string' || !(clientTools.has(name) || builtin?.get(name))) throw badRequest("'tool_choice' names a function that is not in 'tools'", 'tool_choice');
      choice = { name };
    }
    if ((choice === 'required' || typeof choice === 'object') && clientTools.size === 0 && !builtin) throw badRequest(`'tool_choice' ${JSON.stringify(tc)} needs 'tools'`, 'tool_choice');
    // with tools, OpenAI's rule: the reply is a tool call (its arguments under the tool's `parameters` when strict)
    // or content under `response_format`; built-in calls may run before that content (never inside it), as on `chat`
    const format = responseFormatConstraint(m.tok, b.response_format);
    // one built-in call before constrained content unless the request sets `max_tool_calls` (a JSON mask leaves a small
    // model little but another call, so the library default would let it call up to that cap: docs/server.md)
    const maxCallsBeforeContent = b.max_tool_calls !== undefined ? maxBuiltinCalls : 1;

    // retrieval (gptforge extension `rag`): passages into the last user message, room left for the reply
    let rag: RagContext | null = null;
    if (ragAsk && this.rag) {
      // the passages leave the room asked for (so the budget below holds), else the library's default (3/16 of the context)
      const asked = askedMaxTokens(b, m.model.config.blockSize);
      ({ conv, ctx: rag } = this.rag.prepare(conv, m.model, m.tok, ragAsk, ragReplyRoom(m.model.config.blockSize, asked)));
      // a cutoff the store is too small for: in every such response (`rag.warning`), in the log once
      const warning = rag.json.warning;
      if (warning && this.rag.firstWarning(warning)) req.log.warn({ rag_store: this.rag.store.path, chunks: this.rag.store.count() }, warning);
    }
    // `rag.extractive`: the reply a quote of a shown passage (or NO_ANSWER unless `rag.refusal` is "cutoff"); a request's own
    // response_format wins over it, as a `constraint` does over answerWithRetrieval's `extractive`
    const replyFormat = format ?? (ragAsk && rag ? ragExtractiveConstraint(m.tok, ragAsk, rag) : undefined);
    const constraint = replyFormat && (clientTools.size > 0 || builtin) ? ReplyConstraint.forTokenizer(replyFormat, m.tok, maxCallsBeforeContent) : replyFormat;
    const prompt = chatPrompt(m.tok, conv);
    const ctx = m.model.config.blockSize;
    const maxTokens = this.budget(b, prompt.length, ctx);
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    // no passage shown: "The passages don't say." without the model, as answerWithRetrieval (rag.ts)
    if (rag && !rag.generate) return emptyContextReply(reply, { id, created, model: m.id, n: s.n, stream, includeUsage, rag, usage: this.account(m, reply, 0, 0, 0) });
    const ends = turnEndIds(m.tok);
    const banned = [sp['<|bos|>'], sp['<|user_start|>'], sp['<|user_end|>'], sp['<|assistant_start|>'], sp['<|system_start|>'], sp['<|system_end|>'], sp['<|output_start|>'], sp['<|output_end|>']];
    for (const name of ['<|pad|>', '<|reward|>']) if (m.tok.hasSpecial(name)) banned.push(m.tok.specialId(name));
    const controllers: ToolRowController[] = [];
    // where each row's built-in calls ran in its content (their `offset`)
    const places = Array.from({ length: s.n }, () => new BuiltinCallPlaces());
    const rows: RowRequest[] = [];
    for (let i = 0; i < s.n; i++) {
      const c = new ToolRowController({ tok: m.tok, clientTools, builtin, maxBuiltinCalls, choice, maxCallTokens: callConstraint ? 128 : 48, callConstraint }, `call_${id.slice(9, 21)}_${i}`);
      controllers.push(c);
      const { n: _n, ...sampling } = s;
      rows.push({ ...sampling, prompt, maxTokens, seed: s.seed + i, endIds: ends, bannedIds: banned, processors: [c], controller: c, stopping: [c], constraint: constraint?.clone(), logprobs: logprobs ? (top ?? 0) : undefined });
    }
    this.metrics.promptTokens.inc({ model: m.id }, prompt.length);
    let first = true;
    const firstToken = (): void => {
      if (first) this.metrics.ttft.observe((performance.now() - t0) / 1000);
      first = false;
    };
    const logprobOfEvent = (e: DecodeEvent): ReturnType<GptforgeServer['logprobEntry']> | null => (e.type === 'token' && e.sampled && e.logprob && !ends.includes(e.token) && controllers[e.row].lastVisible ? this.logprobEntry(m, e.token, e.logprob) : null);
    // the n choices share one prompt: its tokens reused from the prefix cache are choice 0's
    const usage = (results: RowResult[]) =>
      this.account(
        m,
        reply,
        prompt.length,
        results.reduce((a, r) => a + r.completionTokens, 0),
        results[0]?.cachedTokens ?? 0,
      );

    if (!stream) {
      const lps: Array<Array<ReturnType<GptforgeServer['logprobEntry']>>> = rows.map(() => []);
      const results = await this.submit(m, rows, reply, (e) => {
        firstToken();
        places[e.row].see(controllers[e.row].builtinCalls, e.text);
        const lp = logprobOfEvent(e);
        if (lp) lps[e.row].push(lp);
      });
      warnUnenabledTool(req, controllers);
      return {
        id,
        object: 'chat.completion',
        created,
        model: m.id,
        system_fingerprint: null,
        choices: results.map((r, i) => {
          const { calls, partial } = callsOf(r, controllers[i]);
          return {
            index: i,
            message: { role: 'assistant', content: calls.length > 0 && r.text === '' ? null : rag ? ragReplyText(r.text) : r.text, refusal: null, ...(calls.length > 0 ? { tool_calls: calls } : {}), ...places[i].json(controllers[i].builtinCalls) },
            logprobs: logprobs ? { content: lps[i], refusal: null } : null,
            finish_reason: apiFinish(r, calls, partial),
            ...(controllers[i].hint ? { hint: controllers[i].hint } : {}),
            ...(rag ? citationsJSON(r.text, rag) : {}),
          };
        }),
        usage: usage(results),
        ...(rag ? { rag: rag.json } : {}),
      };
    }

    // streamed: server-sent events, `data: <chunk>` … `data: [DONE]`
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'chat.completion.chunk', created, model: m.id, system_fingerprint: null, choices, ...(includeUsage ? { usage: null } : {}), ...extra });
    const write = (obj: unknown): void => {
      if (!reply.raw.destroyed) reply.raw.write(sseLine(obj));
    };
    // a token's chunk without logprobs, stringified once (sse.ts): per token only its text is escaped
    const textLine = sseTemplate((index, content) => chunk([{ index, delta: { content }, logprobs: null, finish_reason: null }]));
    // a RAG reply streams without the passages family's leading space (rag.ts ragReplyText)
    const lead = rag ? new RagReplyStream() : null;
    const p = this.submit(m, rows, reply, (e) => {
      firstToken();
      // a built-in call that ran in this step: its own delta, after the text before it (a hidden
      // token released that) and before the text after it
      const ran = controllers[e.row].builtinCalls;
      const fresh = places[e.row].see(ran, e.text);
      if (fresh.length > 0) write(chunk([{ index: e.row, delta: { builtin_tool_calls: fresh.map((c, k) => ({ index: ran.length - fresh.length + k, ...c })) }, logprobs: null, finish_reason: null }]));
      const text = lead ? lead.delta(e.row, e.text) : e.text;
      if (e.type === 'token') {
        const lp = logprobOfEvent(e);
        if (text === '' && !lp) return;
        if (!logprobs) {
          if (!reply.raw.destroyed) reply.raw.write(textLine(e.row, text));
        } else write(chunk([{ index: e.row, delta: { content: text }, logprobs: { content: lp ? [lp] : [], refusal: null }, finish_reason: null }]));
      } else {
        const { calls, partial } = callsOf(e.result, controllers[e.row]);
        if (text !== '') write(chunk([{ index: e.row, delta: { content: text }, logprobs: logprobs ? { content: [], refusal: null } : null, finish_reason: null }]));
        if (calls.length > 0) write(chunk([{ index: e.row, delta: { tool_calls: calls.map((c, k) => ({ index: k, ...c })) }, logprobs: null, finish_reason: null }]));
        write(chunk([{ index: e.row, delta: {}, logprobs: null, finish_reason: apiFinish(e.result, calls, partial), ...(controllers[e.row].hint ? { hint: controllers[e.row].hint } : {}), ...(rag ? citationsJSON(e.result.text, rag) : {}) }]));
      }
    });
    // the queue accepted the job (a full queue threw 429 above): the response is ours to write now
    reply.hijack();
    reply.raw.writeHead(200, SSE_HEADERS);
    for (let i = 0; i < s.n; i++) write(chunk([{ index: i, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }], rag && i === 0 ? { rag: rag.json } : {}));
    try {
      const results = await p;
      warnUnenabledTool(req, controllers);
      const u = usage(results); // counted (metrics, log) whether or not the client asked for it
      if (includeUsage) write(chunk([], { usage: u }));
      if (!reply.raw.destroyed) reply.raw.write('data: [DONE]\n\n');
    } catch (err) {
      const api = err instanceof ApiError ? err : err instanceof GptforgeError ? badRequest(err.message) : new ApiError(500, 'internal server error', 'server_error');
      if (!(err instanceof ApiError || err instanceof GptforgeError)) process.stderr.write(`gptforge serve: internal error while streaming: ${String((err as Error)?.message ?? err)}\n`);
      write(api.body());
    }
    reply.raw.end();
    return reply;
  }

  /** Completions: `prompt` as text (a string or strings), or token ids. Documents begin with <|bos|> as in training. */
  private async completions(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const t0 = performance.now();
    const b = asBody(req.body);
    const m = this.model(b, { generation: true });
    const s = this.sampling(b, m);
    if (optBool(b, 'echo')) throw badRequest("'echo' is not supported", 'echo');
    if (b.suffix !== undefined && b.suffix !== null) throw badRequest("'suffix' is not supported", 'suffix');
    const { stream, includeUsage } = streamSettings(b);
    const top = optNumber(b, 'logprobs', 0, 20, { integer: true });
    const raw = b.prompt;
    const bos = m.tok.hasSpecial('<|bos|>') ? [m.tok.specialId('<|bos|>')] : [];
    const V = m.model.config.vocabSize;
    const isIds = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t) && t >= 0 && t < V);
    let prompts: number[][];
    if (typeof raw === 'string') prompts = [[...bos, ...m.tok.encode(raw, { disallowedSpecial: 'plain' })]];
    else if (isIds(raw)) prompts = [raw];
    else if (Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === 'string')) prompts = (raw as string[]).map((p) => [...bos, ...m.tok.encode(p, { disallowedSpecial: 'plain' })]);
    else if (Array.isArray(raw) && raw.length > 0 && raw.every(isIds)) prompts = raw as number[][];
    else {
      // token ids out of the vocabulary are named, not reported as a prompt of the wrong shape
      const ids = Array.isArray(raw) ? (raw.every(Array.isArray) ? (raw as unknown[][]).flat() : raw) : [];
      const out = ids.length > 0 && ids.every(Number.isInteger) ? (ids as number[]).find((t) => t < 0 || t >= V) : undefined;
      if (out !== undefined) throw badRequest(`'prompt' token id ${out} is out of range: this model's ids are 0–${V - 1}`, 'prompt');
      throw badRequest("'prompt' must be a string, an array of strings, or token ids", 'prompt');
    }
    if (prompts.length * s.n > MAX_N * 4) throw badRequest(`at most ${MAX_N * 4} choices per request`, 'prompt');
    const ctx = m.model.config.blockSize;
    const eos = m.tok.hasSpecial('<|eos|>') ? [m.tok.specialId('<|eos|>')] : [];
    const rows: RowRequest[] = [];
    const { n: _n, ...sampling } = s;
    for (const p of prompts) {
      const maxTokens = this.budget(b, p.length, ctx, 16, 'prompt');
      for (let i = 0; i < s.n; i++) rows.push({ ...sampling, prompt: p, maxTokens, seed: s.seed + i, endIds: eos, logprobs: top });
    }
    const promptTokens = prompts.reduce((a, p) => a + p.length, 0);
    this.metrics.promptTokens.inc({ model: m.id }, promptTokens);
    const id = `cmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    let first = true;
    type Legacy = { tokens: string[]; token_logprobs: number[]; top_logprobs: Array<Record<string, number>>; text_offset: number[] };
    const legacy: Legacy[] = rows.map(() => ({ tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] }));
    const offsets = rows.map(() => 0);
    const addLp = (e: DecodeEvent, into: Legacy): void => {
      if (e.type !== 'token' || !e.logprob || eos.includes(e.token)) return;
      const t = m.tok.decode([e.token]);
      into.tokens.push(t);
      into.token_logprobs.push(e.logprob.logprob);
      into.top_logprobs.push(Object.fromEntries(e.logprob.top.map((x) => [m.tok.decode([x.token]), x.logprob])));
      into.text_offset.push(offsets[e.row]);
      offsets[e.row] += t.length;
    };
    // each prompt's n choices follow one another: count each prompt's reused tokens once
    const usage = (results: RowResult[]) =>
      this.account(
        m,
        reply,
        promptTokens,
        results.reduce((a, r) => a + r.completionTokens, 0),
        results.reduce((a, r, i) => a + (i % s.n === 0 ? r.cachedTokens : 0), 0),
      );
    const onFirst = (): void => {
      if (first) this.metrics.ttft.observe((performance.now() - t0) / 1000);
      first = false;
    };
    if (!stream) {
      const results = await this.submit(m, rows, reply, (e) => {
        onFirst();
        addLp(e, legacy[e.row]);
      });
      return {
        id,
        object: 'text_completion',
        created,
        model: m.id,
        system_fingerprint: null,
        choices: results.map((r, i) => ({ index: i, text: r.text, logprobs: top !== undefined ? legacy[i] : null, finish_reason: apiFinish(r, []) })),
        usage: usage(results),
      };
    }
    const write = (obj: unknown): void => {
      if (!reply.raw.destroyed) reply.raw.write(sseLine(obj));
    };
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'text_completion', created, model: m.id, system_fingerprint: null, choices, ...(includeUsage ? { usage: null } : {}), ...extra });
    // a token's chunk without logprobs, stringified once (sse.ts)
    const textLine = sseTemplate((index, text) => chunk([{ index, text, logprobs: null, finish_reason: null }]));
    const p = this.submit(m, rows, reply, (e) => {
      onFirst();
      if (e.type === 'token') {
        if (top === undefined) {
          if (e.text !== '' && !reply.raw.destroyed) reply.raw.write(textLine(e.row, e.text));
          return;
        }
        const one: Legacy = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
        addLp(e, one);
        if (e.text === '' && one.tokens.length === 0) return;
        write(chunk([{ index: e.row, text: e.text, logprobs: top !== undefined ? one : null, finish_reason: null }]));
      } else write(chunk([{ index: e.row, text: e.text, logprobs: null, finish_reason: apiFinish(e.result, []) }]));
    });
    reply.hijack();
    reply.raw.writeHead(200, SSE_HEADERS);
    try {
      const results = await p;
      const u = usage(results); // counted (metrics, log) whether or not the client asked for it
      if (includeUsage) write(chunk([], { usage: u }));
      if (!reply.raw.destroyed) reply.raw.write('data: [DONE]\n\n');
    } catch (err) {
      write((err instanceof ApiError ? err : err instanceof GptforgeError ? badRequest(err.message) : new ApiError(500, 'internal server error', 'server_error')).body());
    }
    reply.raw.end();
    return reply;
  }

  /**
   * Embeddings: the model's final hidden states (after the last norm), mean-pooled over the
   * input's tokens and L2-normalised; base64 is the float32 little-endian bytes (as OpenAI
   * returns, and the official clients ask for by default).
   */
  private embeddings(b: Body): unknown {
    const m = this.model(b, { generation: true, embedding: true });
    const fmt = optString(b, 'encoding_format') ?? 'float';
    if (fmt !== 'float' && fmt !== 'base64') throw badRequest("'encoding_format' must be float or base64", 'encoding_format');
    if (b.dimensions !== undefined && b.dimensions !== null) throw badRequest("'dimensions' is not supported (the width is the model's)", 'dimensions');
    const raw = b.input;
    const V = m.model.config.vocabSize;
    const isIds = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t) && t >= 0 && t < V);
    let inputs: number[][];
    const enc = (s: string): number[] => {
      if (s === '') throw badRequest("'input' must not contain empty strings", 'input');
      return m.tok.encode(s, { disallowedSpecial: 'plain' });
    };
    if (typeof raw === 'string') inputs = [enc(raw)];
    else if (isIds(raw)) inputs = [raw];
    else if (Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === 'string')) inputs = (raw as string[]).map(enc);
    else if (Array.isArray(raw) && raw.length > 0 && raw.every(isIds)) inputs = raw as number[][];
    else throw badRequest("'input' must be a non-empty string, array of strings, or token ids", 'input');
    const ctx = m.model.config.blockSize;
    inputs.forEach((ids, i) => {
      if (ids.length > ctx) throw badRequest(`input[${i}] has ${ids.length} tokens, more than the model's context of ${ctx}`, 'input', 'context_length_exceeded');
    });
    const C = m.model.config.nEmbd;
    const data = inputs.map((ids, index) => {
      const h = noGrad(() => m.model.hidden(Int32Array.from(ids), 1, ids.length)).data;
      const v = new Float32Array(C);
      for (let t = 0; t < ids.length; t++) for (let c = 0; c < C; c++) v[c] += h[t * C + c];
      let norm = 0;
      for (let c = 0; c < C; c++) norm += v[c] * v[c];
      norm = Math.sqrt(norm) || 1;
      for (let c = 0; c < C; c++) v[c] /= norm;
      const embedding = fmt === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
      return { object: 'embedding', index, embedding };
    });
    const tokens = inputs.reduce((a, x) => a + x.length, 0);
    return { object: 'list', data, model: m.id, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }

  /**
   * Reward scores of (prompt, reply) pairs by the run's reward model (`rm`), rendered as the
   * reward model was trained (src/data/chat.ts renderForReward): higher is better.
   * Body: {model?: "rm", input: [{prompt: string | messages, reply: string}]}.
   */
  private rewards(b: Body): unknown {
    const m = this.model(b, { reward: true });
    const raw = b.input;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > 256) throw badRequest("'input' must be an array of 1 to 256 {prompt, reply} pairs", 'input');
    const seqs = raw.map((x, i) => {
      const pair = x as { prompt?: unknown; reply?: unknown };
      if (typeof pair?.reply !== 'string') throw badRequest(`input[${i}].reply must be a string`, 'input');
      const conv = typeof pair.prompt === 'string' ? { messages: [{ role: 'user' as const, content: pair.prompt }] } : toConversation(pair.prompt);
      conv.messages.push({ role: 'assistant', content: pair.reply });
      const ids = renderForReward(m.tok, conv);
      if (ids.length > m.model.config.blockSize) throw badRequest(`input[${i}] is ${ids.length} tokens, more than the reward model's context of ${m.model.config.blockSize}`, 'input', 'context_length_exceeded');
      return ids;
    });
    const scores = scoreSequences(m.model, seqs, m.tok.hasSpecial('<|pad|>') ? m.tok.specialId('<|pad|>') : 0);
    return { object: 'list', model: m.id, data: scores.map((score, index) => ({ object: 'reward', index, score })) };
  }

  /** vLLM's /tokenize: {model, prompt} (raw text, <|bos|> added unless add_special_tokens is false) or {model, messages} (the chat prompt). */
  private tokenize(b: Body): unknown {
    const m = this.model(b);
    let tokens: number[];
    if (b.messages !== undefined) tokens = chatPrompt(m.tok, toConversation(b.messages));
    else {
      const text = optString(b, 'prompt');
      if (text === undefined) throw badRequest("give 'prompt' or 'messages'", 'prompt');
      const special = optBool(b, 'add_special_tokens') ?? true;
      tokens = [...(special && m.tok.hasSpecial('<|bos|>') ? [m.tok.specialId('<|bos|>')] : []), ...m.tok.encode(text, { disallowedSpecial: 'plain' })];
    }
    return { tokens, count: tokens.length, max_model_len: m.model.config.blockSize };
  }

  private detokenize(b: Body): unknown {
    const m = this.model(b);
    const ids = b.tokens;
    const V = m.tok.vocabSize;
    if (!Array.isArray(ids) || !ids.every((t) => Number.isInteger(t) && t >= 0 && t < V)) throw badRequest(`'tokens' must be an array of token ids below ${V}`, 'tokens');
    return { prompt: m.tok.decode(ids as number[]) };
  }
}

/** Log once per request that a reply's top choice was a tool call the request had not enabled (the reply carries TOOL_HINT): one place for streamed and whole replies. */

function warnUnenabledTool(req: FastifyRequest, controllers: readonly ToolRowController[]): void {
  if (controllers.some((c) => c.wantedTool)) req.log.warn({ hint: TOOL_HINT }, 'chat: the model tried a tool call the request did not enable');
}

/**
 * The key in an `Authorization: Bearer KEY` header: `''` for the scheme with no key (Node trims the
 * trailing space of `Bearer `), `null` when the header is absent or uses another scheme. The scheme
 * is matched case-insensitively (RFC 7235 §2.1: "case-insensitive token"), so `bearer KEY` works.
 */
export function bearerKey(h: string | undefined): string | null {
  const m = typeof h === 'string' ? /^bearer(?:[ \t]+(.*))?$/is.exec(h.trim()) : null;
  return m ? (m[1] ?? '').trim() : null;
}
