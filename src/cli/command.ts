/** Where a command writes; injected so commands are testable without a subprocess. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Raw bytes for stdout (`cairn cat`, `cairn export -`); without it they go to process.stdout. */
  outBytes?: (bytes: Uint8Array) => void;
}

/** One `cairn` subcommand. */
export interface Command {
  name: string;
  /** One line for `cairn --help`. */
  summary: string;
  /** The usage text for `cairn NAME --help`. */
  usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}
