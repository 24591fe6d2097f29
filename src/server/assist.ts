import { randomUUID } from 'node:crypto';
import { ask, TECHNIQUES, type AskOptions, type AskTrace, type Technique } from '../assist/ask.js';
import type { VoteResult } from '../assist/vote.js';
import { longAddition } from '../data/synthetic/longarith.js';
import { FEEDBACK_SOURCES, type FeedbackSource } from '../data/synthetic/reflect.js';
import { ChatEngine } from '../infer/engine.js';
import { defaultTools } from '../infer/tools/registry.js';
import { toConversation, type BuiltinToolCall } from './chat.js';
import { GptforgeError } from '../util/errors.js';
import { badRequest } from './errors.js';
import type { ServedModel } from './models.js';
import { optBool, optNumber, optString, type Body } from './validate.js';

/**
 * `POST /v1/gptforge/assist` (a gptforge extension, docs/server.md): answer the last user
 * message with a prompting technique of src/assist (ask.ts) and return the whole trace — for
 * self-consistency the k samples with their extracted answers and the votes (majority,
 * log-probability-weighted, reward-weighted when the server has the run's reward model); for
 * reflection the first answer and each round's feedback, review and answer; for tree of
 * thoughts its levels. One JSON reply, not a stream: the techniques hand back their trace
 * when they are done (the samples decode in lockstep; a reflection round needs the one before).
 *
 * The techniques answer one question: the body's `messages` give the system message (first,
 * optional) and the question (the last user message); earlier turns are not sent to the model.
 */

/** Most self-consistency samples per request (one decoding batch). */
export const MAX_ASSIST_K = 32;
/** Most reflection rounds per request. */
export const MAX_ASSIST_ROUNDS = 8;

/** A vote in the API's field names. */
function voteJSON(v: VoteResult): unknown {
  return { answer: v.answer ?? null, tally: v.tally.map((t) => ({ answer: t.answer, count: t.count, weight: t.weight, first: t.first })) };
}

/**
 * A reply's built-in calls as chat reports them on its message (`builtin_tool_calls`: name, input,
 * output, ok; docs/server.md), under `key`; nothing when it made none (as on chat).
 */
function callsJSON(calls: readonly BuiltinToolCall[] | undefined, key = 'builtin_tool_calls'): Record<string, readonly BuiltinToolCall[]> {
  return calls && calls.length > 0 ? { [key]: calls } : {};
}

/** The trace in the API's field names (snake_case, null for "no answer"). */
export function assistJSON(t: AskTrace, model: string): unknown {
  const sc = t.consistency;
  const r = t.reflection;
  return {
    id: `assist-${randomUUID()}`,
    object: 'gptforge.assist',
    created: Math.floor(Date.now() / 1000),
    model,
    technique: t.technique,
    prompt: t.prompt,
    reply: t.reply,
    answer: t.answer ?? null,
    // direct and cot: the reply's calls (self-consistency's are on each sample, reflection's on its first reply and rounds)
    ...callsJSON(t.toolCalls),
    ...(sc
      ? {
          consistency: {
            k: sc.samples.length,
            samples: sc.samples.map((s, index) => ({ index, text: s.text, answer: s.answer ?? null, mean_logprob: s.meanLogprob, tokens: s.tokens, ...(s.reward !== undefined ? { reward: s.reward } : {}), ...callsJSON(s.toolCalls) })),
            votes: { majority: voteJSON(sc.majority), logprob: voteJSON(sc.logprob), ...(sc.reward ? { reward: voteJSON(sc.reward) } : {}) },
          },
        }
      : {}),
    ...(r
      ? {
          reflection: {
            question: r.question,
            first: r.first,
            ...callsJSON(r.firstToolCalls, 'first_builtin_tool_calls'),
            initial: r.initial ?? null,
            rounds: r.rounds.map((x) => ({ feedback: x.feedback, review: x.review, answer: x.answer ?? null, ...callsJSON(x.toolCalls) })),
            answer: r.answer ?? null,
          },
        }
      : {}),
    ...(t.tree ? { tree: t.tree } : {}),
    usage: { completion_tokens: t.tokens },
    ms: t.ms,
  };
}

/**
 * Validate the body and run the technique on `m`. Self-consistency's votes are also weighed by a
 * reward model when `reward_votes` is true: the one `reward_model` names, else `rm` (the run's
 * reward model, whatever its stage is called: the server passes its `rm` stage, else the first
 * reward model it serves). 400 naming the field on bad input.
 * Synchronous: the server answers other requests when it returns.
 * @param rewardModel a served reward model by id, for the fields that name one (400 naming `field` otherwise)
 */
export function runAssist(
  b: Body,
  m: ServedModel,
  rm: ServedModel | undefined,
  rewardModel: (id: string, field: string) => ServedModel = (_id, field) => {
    throw badRequest(`'${field}' names a served reward model, and this server has none`, field);
  },
): unknown {
  const technique = optString(b, 'technique') ?? 'direct';
  if (!(TECHNIQUES as readonly string[]).includes(technique)) throw badRequest(`'technique' must be one of: ${TECHNIQUES.join(', ')}`, 'technique');
  const conv = toConversation(b.messages);
  const last = conv.messages[conv.messages.length - 1];
  if (last.role !== 'user' || last.content.trim() === '') throw badRequest("the last of 'messages' must be a non-empty user message (the question)", 'messages');
  const system = conv.messages[0].role === 'system' ? conv.messages[0].content : undefined;
  const feedback = optString(b, 'feedback') ?? 'self';
  if (!(FEEDBACK_SOURCES as readonly string[]).includes(feedback)) throw badRequest(`'feedback' must be one of: ${FEEDBACK_SOURCES.join(', ')}`, 'feedback');
  const votesId = optString(b, 'reward_model');
  if (votesId !== undefined && technique !== 'self-consistency') throw badRequest("'reward_model' weighs self-consistency's votes: it is for technique 'self-consistency'", 'reward_model');
  const rewardVotes = optBool(b, 'reward_votes') ?? votesId !== undefined;
  const voter = votesId !== undefined ? rewardModel(votesId, 'reward_model') : rm;
  if (rewardVotes && !voter) throw badRequest("'reward_votes' needs a reward model (the run's rm stage, or one named by 'reward_model'), and this server serves none", 'reward_votes');
  if (rewardVotes && voter && voter.tok.hash() !== m.tok.hash()) throw badRequest(`the reward model ${voter.id} uses another tokenizer than ${m.id}`, votesId !== undefined ? 'reward_model' : 'reward_votes');
  const builtin = b.builtin_tools;
  if (builtin !== undefined && !(Array.isArray(builtin) && builtin.every((x) => x === 'calculator'))) throw badRequest('\'builtin_tools\' may only list "calculator"', 'builtin_tools');
  // tree of thoughts: a learned state value (a reward model trained on the solver's labels, `rm --into`), calculator-checked thoughts, sampled proposals
  const valueId = optString(b, 'value_model');
  if (valueId !== undefined && technique !== 'tot') throw badRequest("'value_model' is for technique 'tot'", 'value_model');
  const vm = valueId === undefined ? undefined : rewardModel(valueId, 'value_model');
  if (vm && vm.tok.hash() !== m.tok.hash()) throw badRequest(`'value_model' ${valueId} uses another tokenizer than ${m.id}`, 'value_model');
  const ctx = m.model.config.blockSize;
  const seed = optNumber(b, 'seed', -(2 ** 31), 2 ** 31, { integer: true });
  const opts: AskOptions = {
    technique: technique as Technique,
    system,
    k: optNumber(b, 'k', 1, MAX_ASSIST_K, { integer: true }),
    temperature: optNumber(b, 'temperature', 0, 2),
    maxTokens: optNumber(b, 'max_tokens', 1, ctx, { integer: true }),
    seed,
    rounds: optNumber(b, 'rounds', 0, MAX_ASSIST_ROUNDS, { integer: true }),
    feedback: feedback as FeedbackSource,
    // the verdict source's verifier: the long-addition checker (an oracle, as `gptforge ask` uses)
    verify: (q, ans) => longAddition.check(q, ans),
    breadth: optNumber(b, 'breadth', 1, 16, { integer: true }),
    proposals: optNumber(b, 'proposals', 1, 16, { integer: true }),
    calculator: optBool(b, 'calculator'),
    proposalSamples: optNumber(b, 'proposal_samples', 0, 8, { integer: true }),
    valueModel: vm ? { model: vm.model, tok: vm.tok } : undefined,
    tools: Array.isArray(builtin) && builtin.length > 0 ? defaultTools() : null,
    rewardModel: rewardVotes && voter ? { model: voter.model, tok: voter.tok } : undefined,
  };
  const run = (): AskTrace => {
    try {
      return ask(new ChatEngine(m.model, m.tok), last.content, opts);
    } catch (e) {
      // ask() names its library argument `question`: in the request that is the last of `messages`
      if (e instanceof GptforgeError && e.field === 'question') throw badRequest(e.message, 'messages');
      throw e;
    }
  };
  // ask() restarts the model's randomized position draws from its seed: on the shared model that would reseed the draws of
  // the requests the scheduler is decoding, so withPositionSeed gives this request its own and puts theirs back
  // (a model without randomized positions has no draws to keep apart)
  const trace = m.model.config.randomPositions !== undefined ? m.model.withPositionSeed(seed ?? 1, run) : run();
  return assistJSON(trace, m.id);
}
