/** What every CLI command module exports as `command`. */
export interface Command {
  /** One line for `gptforge --help`. */
  summary: string;
  /** Runs with the arguments after the command name; throws GptforgeError on bad input. */
  run(argv: string[]): Promise<void>;
}
