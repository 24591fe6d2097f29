/**
 * The names of the prompting techniques and of the sweep's parts, apart from the code that runs
 * them: the command line lists them in its --help, which should not load the models and
 * measurements behind them (src/cli/main.ts loads each command's code when it runs).
 */

/** The techniques `ask` runs (src/assist/ask.ts describes each). */
export const TECHNIQUES = ['direct', 'cot', 'self-consistency', 'reflect', 'tot'] as const;
export type Technique = (typeof TECHNIQUES)[number];

/** One measurement of the sweep (docs/techniques.md). */
export type SweepPart = 'cot' | 'skill' | 'reflect' | 'sc' | 'tot' | 'firstline';
/** firstline: the length-generalisation diagnostic (evalGivenFirstLine), long addition, cot's digits and perCell. */
export const SWEEP_PARTS: readonly SweepPart[] = ['cot', 'skill', 'reflect', 'sc', 'tot', 'firstline'];
