/** The Dockerfile syntax tree: what {@link parseDockerfile} returns. */

/** A parser directive at the top of the file (`# syntax=…`, `# escape=…`, `# check=…`). */
export interface Directive {
  name: "syntax" | "escape" | "check";
  value: string;
  /** 1-based line. */
  line: number;
}

/** A here-document attached to a RUN, COPY or ADD line. */
export interface Heredoc {
  /** The delimiter word, quotes removed (`EOF` for `<<'EOF'`). */
  name: string;
  /** The file descriptor before `<<` (`3<<EOF`), 0 when none. */
  fileDescriptor: number;
  /** False when any part of the delimiter was quoted: the body is then not expanded. */
  expand: boolean;
  /** `<<-`: leading tabs are removed from the body (and allowed before the delimiter). */
  chomp: boolean;
  /** The body as written, each line with its newline, tabs not yet removed. */
  content: string;
}

/** A warning the parser reports without failing (e.g. an empty continuation line). */
export interface ParseWarning {
  message: string;
  line: number;
}

/** One instruction, as BuildKit's parser sees it. */
export interface Instruction {
  /** The keyword upper-cased (`RUN`, `COPY`, …; unknown words too). */
  keyword: string;
  /** The keyword as written. */
  rawKeyword: string;
  /** The logical line: continuation lines joined, comments inside it dropped. */
  original: string;
  /** The argument nodes (ENV/LABEL: key, value, separator triples; JSON form: the array items). */
  args: string[];
  /** The leading `--flag[=value]` words, quotes removed. */
  flags: string[];
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
  heredocs: Heredoc[];
  /** The instruction an ONBUILD carries. */
  trigger?: Instruction;
  /** Comment lines right above the instruction, `#` removed. */
  comments: string[];
  /** 1-based first and last line, continuation and heredoc lines included. */
  startLine: number;
  endLine: number;
  /** 1-based column of the keyword on the first line. */
  column: number;
}

/** A parsed Dockerfile. */
export interface DockerfileAst {
  directives: Directive[];
  /** The escape character in effect: `\` or `` ` ``. */
  escapeToken: string;
  instructions: Instruction[];
  warnings: ParseWarning[];
  /** First and last line of the instructions. */
  startLine: number;
  endLine: number;
}
