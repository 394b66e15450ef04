/**
 * The Dockerfile parser: physical lines to instructions, exactly as BuildKit's
 * `frontend/dockerfile/parser` reads them (directives, comments, continuations, heredocs).
 */
import { CairnError, isCairnError } from "../errors/index.js";
import type { DockerfileAst, Heredoc, Instruction, ParseWarning } from "./ast.js";
import { DirectiveError, DirectiveState, trimContinuation } from "./directives.js";
import { dockerfileError, shown } from "./errors.js";
import { goToLower, goTrimLeft, goTrimSpace, utf8Length } from "./go-text.js";
import { heredocsFromLine } from "./heredoc.js";
import { LineError, parseLineArgs, splitCommand } from "./line-parsers.js";

/** Options for {@link parseDockerfile}. */
export interface ParseDockerfileOptions {
  /** The escape token to start with (`\` by default); an `# escape=` directive overrides it. */
  escape?: "\\" | "`";
}

/** The longest physical line BuildKit reads, in bytes. */
export const MAX_LINE_BYTES = 65535;

const HEREDOC_KEYWORDS = new Set(["add", "copy", "run"]);

interface PhysicalLine {
  /** Without the trailing newline. */
  text: string;
  /** With it, as heredoc bodies keep it. */
  raw: string;
}

function splitLines(text: string): PhysicalLine[] {
  const lines: PhysicalLine[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf("\n", start);
    const end = nl < 0 ? text.length : nl + 1;
    const raw = text.slice(start, end);
    lines.push({ raw, text: raw.replace(/[\r\n]+$/, "") });
    start = end;
  }
  return lines;
}

function isComment(text: string): boolean {
  return goTrimLeft(text).startsWith("#");
}

function codePointColumn(prefix: string): number {
  return Array.from(prefix).length + 1;
}

class LineReader {
  private index = 0;
  /** Number of physical lines consumed so far (= the 1-based number of the last one). */
  lineNumber = 0;
  constructor(private readonly lines: PhysicalLine[]) {}
  next(): PhysicalLine | undefined {
    const line = this.lines[this.index];
    if (line === undefined) return undefined;
    this.index++;
    this.lineNumber++;
    if (utf8Length(line.text) > MAX_LINE_BYTES) {
      throw dockerfileError(
        `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`,
        { line: this.lineNumber },
        { expected: `at most ${MAX_LINE_BYTES} bytes per line`, found: `${utf8Length(line.text)} bytes` },
      );
    }
    return line;
  }
}

interface NodeContext {
  escapeToken: string;
  startLine: number;
  endLine: number;
  firstLine: string;
  comments: string[];
}

function lineError(err: LineError, ctx: NodeContext, keywordColumn: number): CairnError {
  let column = keywordColumn;
  if (err.at !== undefined && err.at !== "") {
    const at = ctx.firstLine.indexOf(err.at);
    if (at >= 0) column = codePointColumn(ctx.firstLine.slice(0, at));
  }
  const hint: { expected?: string; found?: string } = {};
  if (err.expected !== undefined) hint.expected = err.expected;
  if (err.found !== undefined) hint.found = err.found;
  return dockerfileError(err.message, { line: ctx.startLine, column, endLine: ctx.endLine }, hint);
}

function nodeFromLine(line: string, ctx: NodeContext, column: number): Instruction {
  const { keyword, flags, rest } = splitCommand(line);
  let parsed: ReturnType<typeof parseLineArgs>;
  try {
    parsed = parseLineArgs(keyword, rest, ctx.escapeToken);
  } catch (err) {
    if (err instanceof LineError) throw lineError(err, ctx, column);
    throw err;
  }
  const instruction: Instruction = {
    keyword: goToLower(keyword).toUpperCase(),
    rawKeyword: keyword,
    original: line,
    args: parsed.args,
    flags,
    json: parsed.json,
    heredocs: [],
    comments: ctx.comments,
    startLine: ctx.startLine,
    endLine: ctx.endLine,
    column,
  };
  if (parsed.trigger !== undefined) {
    const triggerColumn = column + Math.max(0, ctx.firstLine.slice(column - 1).indexOf(parsed.trigger));
    instruction.trigger = nodeFromLine(parsed.trigger, { ...ctx, comments: [] }, triggerColumn);
  }
  return instruction;
}

function canContainHeredoc(ins: Instruction): boolean {
  const target = ins.keyword === "ONBUILD" && ins.trigger ? ins.trigger : ins;
  return HEREDOC_KEYWORDS.has(goToLower(target.rawKeyword)) && !target.json;
}

function readHeredocs(ins: Instruction, reader: LineReader, startLine: number): Heredoc[] {
  const out: Heredoc[] = [];
  let headers: ReturnType<typeof heredocsFromLine>;
  try {
    headers = heredocsFromLine(ins.original);
  } catch (err) {
    if (!isCairnError(err)) throw err;
    throw dockerfileError(err.message, { line: startLine, column: ins.column }, { cause: err });
  }
  for (const header of headers) {
    let content = "";
    let terminated = false;
    for (let line = reader.next(); line !== undefined; line = reader.next()) {
      const candidate = header.chomp ? line.text.replace(/^\t+/, "") : line.text;
      if (candidate === header.name) {
        terminated = true;
        break;
      }
      content += line.raw;
    }
    if (!terminated) {
      throw dockerfileError(
        "unterminated heredoc",
        { line: startLine, column: ins.column, endLine: reader.lineNumber },
        {
          expected: `a line ${JSON.stringify(header.name)} ending the heredoc`,
          found: "the end of the file",
        },
      );
    }
    out.push({ ...header, content });
  }
  return out;
}

/**
 * Parses a Dockerfile with BuildKit's rules: parser directives, comments, line continuations
 * (continuation lines keep their indentation), JSON or shell form, heredocs, and ONBUILD.
 *
 * @example
 * ```ts
 * const ast = parseDockerfile("FROM alpine\nRUN echo hi \\\n  there\n");
 * ast.instructions[1].args // ["echo hi   there"]
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX` naming the line and column, e.g. "file with no instructions"
 */
export function parseDockerfile(
  input: string | Uint8Array,
  options: ParseDockerfileOptions = {},
): DockerfileAst {
  let text: string;
  if (typeof input === "string") text = input;
  else if (input instanceof Uint8Array) text = new TextDecoder("utf-8").decode(input);
  else {
    throw new CairnError("E_USAGE", `expected the Dockerfile as a string or bytes, found ${typeof input}`);
  }
  if (text.startsWith("\ufeff")) text = text.slice(1);
  const directives = new DirectiveState(options.escape ?? "\\");
  const reader = new LineReader(splitLines(text));
  const instructions: Instruction[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];

  for (let first = reader.next(); first !== undefined; first = reader.next()) {
    const startLine = reader.lineNumber;
    const trimmed = goTrimLeft(first.text);
    const comment = isComment(first.text);
    if (comment) {
      const body = goTrimSpace(trimmed.slice(1));
      if (body === "") comments = [];
      else comments.push(body);
    }
    try {
      if (directives.scan(trimmed, startLine) && comment) comments.pop();
    } catch (err) {
      if (!(err instanceof DirectiveError)) throw err;
      throw dockerfileError(
        err.message,
        { line: startLine },
        { expected: err.expected, found: shown(trimmed) },
      );
    }
    const column = codePointColumn(first.text.slice(0, first.text.length - trimmed.length));
    let { line, continued } = trimContinuation(comment ? "" : trimmed, directives.escapeToken);
    if (!continued && line === "") continue;

    let emptyContinuation = false;
    while (continued) {
      const next = reader.next();
      if (next === undefined) break;
      if (isComment(next.text)) continue;
      if (goTrimLeft(next.text) === "") {
        emptyContinuation = true;
        continue;
      }
      const part = trimContinuation(next.text, directives.escapeToken);
      line += part.line;
      continued = part.continued;
    }
    if (emptyContinuation) {
      warnings.push({ message: `Empty continuation line found in: ${line}`, line: reader.lineNumber });
    }

    const ctx: NodeContext = {
      escapeToken: directives.escapeToken,
      startLine,
      endLine: reader.lineNumber,
      firstLine: first.text,
      comments,
    };
    const ins = nodeFromLine(line, ctx, column);
    if (canContainHeredoc(ins) && line.includes("<<")) {
      const heredocs = readHeredocs(ins, reader, startLine);
      if (ins.keyword === "ONBUILD" && ins.trigger) ins.trigger.heredocs = heredocs;
      ins.heredocs = heredocs;
    }
    ins.endLine = reader.lineNumber;
    if (ins.trigger) ins.trigger.endLine = ins.endLine;
    instructions.push(ins);
    comments = [];
  }

  const firstIns = instructions[0];
  const lastIns = instructions[instructions.length - 1];
  if (firstIns === undefined || lastIns === undefined) {
    throw dockerfileError(
      "file with no instructions",
      { line: Math.max(reader.lineNumber, 1) },
      {
        expected: "at least one instruction such as FROM",
        found: "only comments, directives or blank lines",
      },
    );
  }
  return {
    directives: directives.directives,
    escapeToken: directives.escapeToken,
    instructions,
    warnings,
    startLine: firstIns.startLine,
    endLine: lastIns.endLine,
  };
}
