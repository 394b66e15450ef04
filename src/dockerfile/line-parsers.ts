/**
 * Turning one logical line into keyword, flags and argument nodes, per instruction, with
 * BuildKit's rules (JSON or shell form, word splitting with quotes kept, ENV/LABEL pairs).
 */
import { goToLower, goTrimLeft, goTrimSpace, isGoSpace, toWellFormed } from "./go-text.js";

/** The argument nodes of one line and whether they came from a JSON array. */
export interface LineArgs {
  args: string[];
  json: boolean;
  /** Set for ONBUILD: the nested instruction line, parsed by the caller. */
  trigger?: string;
}

/** A parse error inside a line; the parser adds the line and column. */
export class LineError extends Error {
  constructor(
    message: string,
    readonly expected?: string,
    readonly found?: string,
    /** Text of the line the error points at, to find its column. */
    readonly at?: string,
  ) {
    super(message);
  }
}

const NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only";
const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/** Splits a line into keyword, flags and the rest (trimmed). */
export function splitCommand(line: string): { keyword: string; flags: string[]; rest: string } {
  const trimmed = goTrimSpace(line);
  const m = WHITESPACE_RUN.exec(trimmed);
  if (!m) return { keyword: trimmed, flags: [], rest: "" };
  const keyword = trimmed.slice(0, m.index);
  const { rest, flags } = extractFlags(trimmed.slice(m.index + m[0].length));
  return { keyword, flags, rest: goTrimSpace(rest) };
}

function isAsciiSpace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\v" || ch === "\f" || ch === "\r";
}

/** Pulls the leading `--flag` words off `line`; a bare `--` ends them and is dropped. */
export function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOk = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const atEnd = pos === line.length;
    let ch = atEnd ? "" : (line[pos] as string);
    if (phase === "spaces") {
      if (atEnd) break;
      if (isAsciiSpace(ch)) continue;
      if (ch !== "-" || line[pos + 1] !== "-") return { rest: line.slice(pos), flags };
      phase = "word";
    }
    if (atEnd) {
      if (word !== "--" && (blankOk || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === "word") {
      if (isAsciiSpace(ch)) {
        phase = "spaces";
        if (word === "--") return { rest: line.slice(pos), flags };
        if (blankOk || word.length > 0) flags.push(word);
        word = "";
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = "quote";
        continue;
      }
      if (ch === "\\") {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos] as string;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = "word";
      continue;
    }
    if (ch === "\\") {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      pos++;
      ch = line[pos] as string;
    }
    word += ch;
  }
  return { rest: "", flags };
}

/** Splits on whitespace outside quotes; quotes and escapes are kept in the words. */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOk = false;
  for (let i = 0; i <= chars.length; i++) {
    const atEnd = i === chars.length;
    let ch = atEnd ? "" : (chars[i] as string);
    if (phase === "spaces") {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      phase = "word";
    }
    if (atEnd) {
      if (blankOk || word.length > 0) words.push(word);
      break;
    }
    if (phase === "word") {
      if (isGoSpace(ch)) {
        phase = "spaces";
        if (blankOk || word.length > 0) words.push(word);
        word = "";
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = "quote";
      }
      if (ch === escapeToken) {
        if (i + 1 === chars.length) continue;
        word += ch;
        i++;
        ch = chars[i] as string;
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = "word";
    if (ch === escapeToken && quote !== "'") {
      if (i + 1 === chars.length) {
        phase = "word";
        continue;
      }
      word += ch;
      i++;
      ch = chars[i] as string;
    }
    word += ch;
  }
  return words;
}

function hasNonFiniteNumber(v: unknown): boolean {
  if (typeof v === "number") return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some(hasNonFiniteNumber);
  if (v !== null && typeof v === "object") return Object.values(v).some(hasNonFiniteNumber);
  return false;
}

/**
 * The JSON (exec) form: the strings of a JSON array, or undefined when `rest` is not a JSON
 * array. A JSON array holding anything but strings is an error, not shell form.
 */
export function parseJsonArray(rest: string): string[] | undefined {
  const text = goTrimLeft(rest);
  if (!text.startsWith("[")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Go's decoder fails on numbers it cannot hold, and the line then falls back to shell form.
  if (!Array.isArray(value) || hasNonFiniteNumber(value)) return undefined;
  const out: string[] = [];
  for (const item of value) {
    if (typeof item !== "string") {
      throw new LineError(NOT_STRING_ARRAY, "a JSON array of strings", JSON.stringify(item), text);
    }
    out.push(toWellFormed(item));
  }
  return out;
}

function maybeJson(rest: string): LineArgs {
  if (rest === "") return { args: [], json: false };
  const json = parseJsonArray(rest);
  return json ? { args: json, json: true } : { args: [rest], json: false };
}

function maybeJsonList(rest: string): LineArgs {
  const json = parseJsonArray(rest);
  return json ? { args: json, json: true } : whitespaceDelimited(rest);
}

function whitespaceDelimited(rest: string): LineArgs {
  return { args: rest === "" ? [] : rest.split(WHITESPACE_RUN), json: false };
}

function nameVal(rest: string, keyword: string, escapeToken: string): LineArgs {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return { args: [], json: false };
  if (!(words[0] as string).includes("=")) {
    const m = WHITESPACE_RUN.exec(rest);
    if (!m) {
      throw new LineError(
        `${keyword} must have two arguments`,
        `"${keyword} <key>=<value>" or "${keyword} <key> <value>"`,
        `only ${JSON.stringify(rest)}`,
        rest,
      );
    }
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ""], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq < 0) {
      throw new LineError(
        `Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`,
        "name=value",
        JSON.stringify(word),
        word,
      );
    }
    args.push(word.slice(0, eq), word.slice(eq + 1), "=");
  }
  return { args, json: false };
}

function healthConfig(rest: string): LineArgs {
  let sep = 0;
  while (sep < rest.length && !isAsciiSpace(rest[sep] as string)) sep++;
  if (sep === 0) return { args: [], json: false };
  let next = sep;
  while (next < rest.length && isAsciiSpace(rest[next] as string)) next++;
  const cmd = maybeJson(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

/** The argument nodes of `rest` for instruction `keyword` (any case). */
export function parseLineArgs(keyword: string, rest: string, escapeToken: string): LineArgs {
  switch (goToLower(keyword)) {
    case "add":
    case "copy":
    case "volume":
      return maybeJsonList(rest);
    case "run":
    case "cmd":
    case "entrypoint":
    case "shell":
      return maybeJson(rest);
    case "from":
    case "expose":
      return whitespaceDelimited(rest);
    case "maintainer":
    case "user":
    case "workdir":
    case "stopsignal":
      return { args: rest === "" ? [] : [rest], json: false };
    case "arg":
      return { args: parseWords(rest, escapeToken), json: false };
    case "env":
      return nameVal(rest, "ENV", escapeToken);
    case "label":
      return nameVal(rest, "LABEL", escapeToken);
    case "healthcheck":
      return healthConfig(rest);
    case "onbuild":
      return rest === "" ? { args: [], json: false } : { args: [], json: false, trigger: rest };
    default:
      return { args: [""], json: false };
  }
}
