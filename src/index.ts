/**
 * gptforge as a library: train and run your own GPT assistant from TypeScript.
 *
 * The public API, layer by layer, in the order the recipe uses them:
 *
 * ```ts
 * import { Tokenizer, loadModel, generate, ChatEngine, defaultTools, runSft, type Conversation } from 'gptforge';
 *
 * // tokenizer: train ours, or load ours / Hugging Face tokenizer.json / tiktoken rank files
 * const tok = Tokenizer.load('runs/tiny/tokenizer.json');
 * const ids = tok.encode('Call me Ishmael.');        // number[]; tok.decode(ids) round-trips
 *
 * // model: a run's stage checkpoint with its tokenizer (GPT, KVCache, forward)
 * const { model } = loadModel('runs/tiny', 'sft');
 *
 * // generation: one decoding pipeline, batched, seeded, cancellable (AbortSignal)
 * for await (const e of generate(model, tok, [{ prompt: tok.encode('The '), maxTokens: 40, temperature: 0.8, seed: 1 }]))
 *   if (e.type === 'token') process.stdout.write(e.text);  // UTF-8-safe deltas
 *
 * // chat: render a conversation, reply with tools (the calculator)
 * const engine = new ChatEngine(model, tok);
 * const reply = engine.reply({ messages: [{ role: 'user', content: 'What is 2 plus 3?' }] }, { tools: defaultTools() });
 *
 * // training: each stage is a function with typed options and an AbortSignal
 * await runSft('runs/tiny', { conversations, onlyData: true, from: 'sft', into: 'sft-mine', steps: 30, signal });
 * // … and runPretrain, runRm, runRl, runDpo, runEval, runPipeline: the same shape
 * ```
 *
 * Layers: tokenizer → model → generation → chat → training stages (pretrain, sft, reward,
 * rl, dpo) → data → evaluation → retrieval (RAG) → export/import (Hugging Face, GGUF) →
 * constrained decoding → the run layer (a run directory's layout, presets, model loading,
 * stage runners). See docs/architecture.md and docs/decoding.md.
 *
 * Deliberately not exported: the autograd engine's internals (tensor arena, tape, kernels),
 * the CLI, and helpers whose shape is still moving (synthetic task internals, RL rollout steps).
 *
 * @packageDocumentation
 */

// ── errors ───────────────────────────────────────────────────────────────────
export { GptforgeError, formatError } from './util/errors.js';
export type { ErrorFormat, ErrorLocation } from './util/errors.js';

// ── tokenizer ────────────────────────────────────────────────────────────────
export { Tokenizer, trainTokenizer, SPECIAL_TOKENS, PATTERNS, encodeBatch } from './tokenizer/index.js';
export type { TrainOptions as TokenizerTrainOptions, EncodeOptions, StreamDecoder, TokenizerSpec, SplitRule, SplitBehavior } from './tokenizer/index.js';

// ── model ────────────────────────────────────────────────────────────────────
export { GPT } from './model/gpt.js';
export type { GPTOptions } from './model/gpt.js';
export type { LinearModule, LinearSite, LinearHook, TokenRowsHook, TrainableRows, ScorePool } from './model/gpt.js';
export type { AbacusConfig } from './model/abacus.js';
export { makeConfig, validateConfig, countParams, flopsPerToken } from './model/config.js';
export type { GPTConfig, GPTConfigInput } from './model/config.js';
export { KVCache } from './model/kvcache.js';
export type { KVCacheBuffers } from './model/kvcache.js';
export { saveCheckpoint, loadCheckpoint, modelFromCheckpoint, resolveCheckpoint, withResolvedCheckpoint, latestCheckpoint, listCheckpoints } from './model/checkpoint.js';
export type { CheckpointMeta, SaveOptions, LoadedCheckpoint } from './model/checkpoint.js';
export type { ScalarHeadKind } from './model/checkpoint.js';
export { LoraModel, loraScaling } from './model/lora.js';
export type { LoraConfig, Adapter } from './model/lora.js';
export type { LoraPair, TokenRows } from './model/lora.js';
export type { LoraSpecContext } from './model/lora-spec.js';
export { parseLoraSpec, formatLoraSpec } from './model/lora-spec.js';
export { quantize, dequantize, quantizeLinear, dequantizeLinear, parseBasePrecision } from './model/quantize.js';
export type { QuantType, BasePrecision, QuantizedMatrix } from './model/quantize.js';
export { saveAdapter, readAdapter, loadAdapterInto } from './model/export/peft.js';
export { baseWeightsFingerprint } from './model/fingerprint.js';
export type { AdapterBase, AdapterBaseCheck, LoadedAdapter, PeftAdapterConfig } from './model/export/peft.js';
export { nativeAvailable, engineSummary } from './engine/backend.js';
// types of the model's public signatures (the autograd engine itself stays internal)
export type { Tensor } from './engine/tensor.js';
export type { Rng, RngState } from './engine/rng.js';
export type { AdamWState } from './engine/optim.js';

// ── generation (docs/decoding.md) ────────────────────────────────────────────
export { generate, decode, BatchDecoder, logprobOf, defaultEndIds } from './infer/pipeline.js';
export type { DecodingModel, RowRequest, RowResult, RowController, DecodeEvent, BatchOptions, TokenLogprob } from './infer/pipeline.js';
export type { ForwardThread } from './infer/forward-thread.js';
export { generateText } from './infer/generate.js';
export type { GenerateOptions, GenerateResult } from './infer/generate.js';
export { Temperature, TopK, TopP, MinP, RepetitionPenalty, PresenceFrequencyPenalty, LogitBias, BannedTokens, ConstraintProcessor, DrawCache, Sampler, buildProcessors, buildWarpers, checkGenerationOptions, GENERATION_OPTION_RULES } from './infer/processors.js';
export type { GenerationOption, GenerationOptionRule, LogitsProcessor, LogitsWarper, RowView, SamplingOptions } from './infer/processors.js';
export { MaxTokens, ContextLimit, StopStrings, ConstraintEnd, TextStream } from './infer/stopping.js';
export type { FinishReason, Finish, StoppingCriterion, RowProgress } from './infer/stopping.js';
export type { TokenConstraint } from './infer/constraint.js';

// ── chat and tools ───────────────────────────────────────────────────────────
export { ChatEngine, DEFAULT_MAX_TOOL_CALLS } from './infer/engine.js';
export type { BuiltinToolCall } from './infer/tools-state.js';
export type { ChatOptions, ChatReply, ChatStopReason } from './infer/engine.js';
export type { Conversation, Message, Role, ToolCall } from './data/conversation.js';
export { renderConversation, renderPrompt, validateConversation, readConversationsJSONL, CHAT_SPECIALS } from './data/chat.js';
export type { RenderedConversation, ReadConversationsResult, ValidateOptions } from './data/chat.js';
export { ToolRegistry, ToolError, defaultTools } from './infer/tools/registry.js';
export type { Tool, ToolResult } from './infer/tools/registry.js';
export { calculator, evaluateExpression } from './infer/tools/calculator.js';

// ── training stages ──────────────────────────────────────────────────────────
export { train } from './train/loop.js';
export type { TrainConfig, TrainOptions, TrainResult, TrainTask, MicroBatchResult } from './train/loop.js';
export { pretrain } from './train/pretrain.js';
export type { PretrainSetup, BatchSource, ValSplit } from './train/pretrain.js';
export { sft, evaluateHeldOut } from './train/sft.js';
export type { SftSetup } from './train/sft.js';
export { trainRewardModel, evaluateRankings } from './train/reward.js';
export { ShuffledLoader } from './train/reward.js';
export type { RewardSetup, RenderedRanking } from './train/reward.js';
export type { PairTally, MixedLoader } from './train/reward.js';
export { trainRL, DEFAULT_RL } from './train/rl.js';
export type { RLSetup, RLConfig, RLAlgo, RLPrompt } from './train/rl.js';
export { trainDpo, evaluateDpo, dpoLoss } from './train/dpo.js';
export type { DpoSetup, DpoPair, DpoLossResult } from './train/dpo.js';
export { simulatedComparisons } from './train/comparisons.js';
export type { SimulatedComparisonOptions, TaskPrompt, ContrastTally } from './train/comparisons.js';
export { MetricsLog } from './train/metrics.js';
export type { MetricRecord } from './train/metrics.js';
export { learningRate } from './train/schedule.js';
export type { LrSchedule } from './train/schedule.js';

// ── data ─────────────────────────────────────────────────────────────────────
export { loadMixtureConfig, validateMixture } from './data/mixture.js';
export type { MixtureConfig } from './data/mixture.js';
export type { CleanOptions, CleanReport } from './data/clean.js';
export { BUILTIN_SOURCES } from './data/sources.js';
export type { SourceConfig, Doc, BuiltinInfo } from './data/sources.js';
export { prepareData, readDataIndex } from './data/prepare.js';
export type { PrepareOptions, DataIndex, SourceIndex } from './data/prepare.js';
export { BatchLoader, ValLoader } from './data/loader.js';
export type { Batch, LoaderOptions, LoaderState, ConcatState, BestFitState } from './data/loader.js';
export { buildSftDataset, PackedLoader } from './data/sft.js';
export type { SftMixtureConfig, SftSourceConfig, SftDataset, SftSourceReport, SftItem, PackedBatch, PackedLoaderState } from './data/sft.js';
export type { WriterError } from './data/writers.js';
export { readJSONL, readTextFile } from './data/jsonl.js';
export type { OnBad, JSONLResult } from './data/jsonl.js';
export { TASKS, taskByName } from './data/synthetic/tasks.js';
export type { SyntheticTask, TaskExample, Split as TaskSplit, GenerateOptions as TaskGenerateOptions } from './data/synthetic/task.js';
export { readPreferencesJSONL, rankingToPairs } from './data/preferences.js';
export type { Ranking, PreferencePair, Completion, ReadPreferencesResult } from './data/preferences.js';

// ── evaluation ───────────────────────────────────────────────────────────────
export { evaluateTasks, evalMarkdown } from './eval/tasks.js';
export type { EvalOptions, EvalTable, EvalSubject, EvalRow, EvalCell, EvalExample } from './eval/tasks.js';
export { compareModels, compareMarkdown, winTally } from './eval/compare.js';
export type { CompareOptions, CompareRow, Contender, ComparePrompt, WinTally } from './eval/compare.js';
export { diversityReport } from './eval/diversity.js';
export { structuredEffect, structuredMarkdown } from './eval/structured.js';
export type { StructuredEffect, StructuredScore } from './eval/structured.js';
export { STRUCTURED_FIELDS } from './data/synthetic/structured.js';
export type { DiversityReport } from './eval/diversity.js';
export { lossCurveSVG, terminalChart } from './eval/plot.js';
export type { Series } from './eval/plot.js';

// ── retrieval (RAG) ──────────────────────────────────────────────────────────
export * from './rag/index.js';
// referenced by exported rag types and docstrings (RagAnswer.noneFit, EffectRow) but not in rag/index.ts
export { defaultReplyTokens, describeNoneFit } from './rag/generate.js';
export type { NoneFit } from './rag/generate.js';
export type { AnswerCause, AnswerDiagnosis, RemovedCause, EffectAnswer } from './rag/effect.js';

// ── prompting techniques: chain of thought, self-consistency, reflection ────
export * from './assist/index.js';

// ── export / import: Hugging Face safetensors, PEFT adapters, GGUF, llm.c shards, TRL JSONL
export { exportHuggingFace, importHuggingFace, exportCheckpointToHf } from './model/export/hf.js';
export type { ExportHfResult, ImportHfResult, HfArchitecture } from './model/export/hf.js';
export { checkpointToGguf, readGguf, writeGguf } from './model/export/gguf.js';
export type { GgufExportResult, GgufFile, GgufTensor, GgufType, GgufValue } from './model/export/gguf.js';
export { exportPeft, peftLoadHint } from './model/export/peft-hf.js';
export type { ExportPeftOptions, ExportPeftResult } from './model/export/peft-hf.js';
export { readSafetensors, writeSafetensors } from './model/safetensors.js';
export type { NamedTensor, SafetensorsFile } from './model/safetensors.js';

// ── constrained decoding: JSON Schema, regex, GBNF → TokenConstraint ─────────
export { schemaConstraint, regexConstraint, gbnfConstraint, constraintFromOptions, readSchemaFile, compileGrammar, schemaGrammar, regexGrammar, parseGbnf, GrammarConstraint, ReplyConstraint } from './infer/constrain/index.js';
export type { Grammar, LoweredGrammar, Expr, SchemaOptions, TokenMatcher, Automaton, TokenTrie } from './infer/constrain/index.js';
export type { ByteSet, CodeRange } from './infer/constrain/bytes.js';

// ── the run layer: a run directory, its preset, its models, stage runners ────
export { runLayout } from './run/layout.js';
export type { RunLayout, StageName } from './run/layout.js';
export { runPreset, loadPreset } from './run/preset.js';
export type { RunPreset, PretrainPreset, SftPreset, RmPreset, RlPreset, DpoPreset, TechniquesPreset } from './run/preset.js';
export { loadModel } from './run/models.js';
export type { LoadedModel } from './run/models.js';
export { runSft, sftConfig } from './run/sft.js';
export type { RunSftOptions, RunSftResult } from './run/sft.js';
export { runPretrain, resolvePreset } from './run/pretrain.js';
export type { RunPretrainOptions, RunPretrainResult, PretrainOverrides } from './run/pretrain.js';
export { runDataPrepare, runTokenizerTrain, ensureTokenizer, prepareTokenizer, tokenizerRequestPath, defaultMixtureConfig } from './run/data.js';
export type { RunDataPrepareOptions, RunTokenizerTrainOptions } from './run/data.js';
export { runRm, rmScores } from './run/rm.js';
export type { StageRunOptions, StageLoopOptions } from './run/stage-options.js';
export type { RunRmOptions, RunRmResult, ProbeTally } from './run/rm.js';
export { runRl, rlStage, readRlPrompts } from './run/rl.js';
export type { RunRlOptions, RunRlResult } from './run/rl.js';
export { runDpo } from './run/dpo.js';
export type { RunDpoOptions, RunDpoResult } from './run/dpo.js';
export { runEval, defaultEvalRows } from './run/eval.js';
export type { RunEvalOptions } from './run/eval.js';
export { runPipeline } from './run/pipeline.js';
export type { RunPipelineOptions, RunPipelineResult, StageTiming } from './run/pipeline.js';
export { estimatePipeline } from './run/estimate.js';
export type { PipelineEstimate, StageEstimate } from './run/estimate.js';
export { sampleFromRun, sampleFromModel, scriptedChat } from './run/sample.js';
export { ragIndex, ragQuery, ragInfo, ragTrainEmbedder } from './run/rag.js';
export type { RagIndexOptions, RagQueryOptions, RagTrainEmbedderOptions } from './run/rag.js';
export { exportTrl, exportLlmc } from './run/export.js';
export { runMerge } from './run/merge.js';
export type { RunMergeOptions, RunMergeResult } from './run/merge.js';
export { prepareAdapter } from './train/adapter.js';
export type { AdapterOptions, AdapterTraining } from './train/adapter.js';
export { lossCurves } from './run/plots.js';
