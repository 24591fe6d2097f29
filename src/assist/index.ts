/**
 * Prompting techniques on the decoding pipeline (docs/techniques.md): tokens to think (the
 * step-by-step trigger), self-consistency on one shared prefill, reflection with feedback
 * from the model, a tool or a verifier, tree of thoughts on the game of 24, and the families
 * and measurements behind them.
 */
export { ask, formatTrace, withTrigger, TECHNIQUES } from './ask.js';
export type { AskOptions, AskTrace, Technique } from './ask.js';
export { selfConsistency } from './consistency.js';
export type { SelfConsistencyOptions, SelfConsistencyResult, ConsistencySample } from './consistency.js';
export { reflect } from './reflect.js';
export { treeOfThoughts, valueStates, formatTot } from './tot.js';
export type { TotOptions, TotNode, TotLevel, TotTrace, Judgement, ValueContext } from './tot.js';
export { valueRankings, valueAccuracy, separation, rewardValue, scoreThoughts, loadValueModel, labelledChildren, puzzlesOf } from './tot-value.js';
export type { ValueDataOptions, ValueData, ValueModel, ValueAccuracy } from './tot-value.js';
export { calculatorChains } from './calc-chain.js';
export type { CalcChainOptions, CalcChainResult } from './calc-chain.js';
export type { ReflectOptions, ReflectRound, ReflectTrace } from './reflect.js';
export { extractAnswer, vote, softmaxWeights, bestOf } from './vote.js';
export { measureConsistencyCurve, curveRows } from './consistency-curve.js';
export type { SamplingSetting, CurveProblem, CurveRow, ConsistencyCurve } from './consistency-curve.js';
export { verifierRankings } from './verifier.js';
export type { VerifierDataOptions, VerifierData } from './verifier.js';
export type { VoteResult, VoteTally } from './vote.js';
export { trainThinking, evalThinking, thinkingConversations, renderForTraining, TECHNIQUE_MIXTURE, ADDITION_MIXTURE, SKILL_COT_MIXTURE, COUNTDOWN_MIXTURE } from './thinking.js';
export type { ThinkingTrainOptions, ThinkingCell, MixtureEntry } from './thinking.js';
export { measureConsistency, measureSkill, measureReflection, measureTot } from './measure.js';
export type { ConsistencyRow, SkillRow, ReflectRow, TotResult } from './measure.js';
export { techniquesReport, techniqueCells, techniqueFamilyTable } from './report.js';
export type { TechniquesResults, TechniqueCell } from './report.js';
export { runTechniqueSweep, SWEEP_PARTS } from './sweep.js';
export { techniquesHeadline } from './headline.js';
export type { HeadlineOptions, HeadlineRecipe } from './headline.js';
export type { SweepOptions, SweepPart } from './sweep.js';
export { longAddition, longMultiplication, scratchpad, longResult, finalNumber, THINK_TRIGGER, THINKING_TASKS } from '../data/synthetic/longarith.js';
export type { LongOp, LongArithVariant } from '../data/synthetic/longarith.js';
export { skillLevels, forgetCarries, SKILL_PROMPTS, SKILL_ERROR_RATE, UNSTATED_ERROR_RATE, OUT_OF_DISTRIBUTION } from '../data/synthetic/skill.js';
export type { SkillLevel } from '../data/synthetic/skill.js';
export { reflection, feedbackMessage, CHECK_REQUEST, FEEDBACK_SOURCES } from '../data/synthetic/reflect.js';
export type { FeedbackSource } from '../data/synthetic/reflect.js';
export { countdown, solve as solve24, steps as steps24, parseStep, reaches24, stepText, numbersOf, TARGET } from '../data/synthetic/countdown.js';
export type { Step as Step24, CountdownOp } from '../data/synthetic/countdown.js';
