/**
 * Typed instructions: each AST instruction checked (argument count, accepted flags, HEALTHCHECK
 * durations, stage names, …) and turned into a plain object with named fields.
 */
import type { CairnError } from "../errors/index.js";
import type { HealthConfig } from "../manifest/index.js";
import type { DockerfileAst, Instruction } from "./ast.js";
import { dockerfileError, shown } from "./errors.js";
import { FlagError, type FlagSpec, type FlagValues, parseFlags } from "./flags.js";
import { chompHeredocContent, tryParseHeredocWord } from "./heredoc.js";
import { parseRunMount } from "./mounts.js";
import { parseChmod, parseGoDuration, parseRetries, ValueError } from "./values.js";

/** Where an instruction is in the Dockerfile. */
export interface InstructionSource {
  startLine: number;
  endLine: number;
  column: number;
  /** The logical line as written (continuations joined). */
  original: string;
}

/** A key and value of ENV or LABEL. */
export interface KeyValue {
  key: string;
  value: string;
}

/** An ARG name with its optional default. */
export interface ArgDefinition {
  key: string;
  value?: string;
}

/** A heredoc given as a file: RUN scripts and COPY/ADD inline sources. */
export interface InlineFile {
  name: string;
  data: string;
  /** Whether variables in `data` are expanded (the delimiter was not quoted). */
  expand: boolean;
}

interface Base {
  source: InstructionSource;
}

/** `FROM [--platform=…] image [AS name]`. */
export interface FromInstruction extends Base {
  kind: "FROM";
  image: string;
  /** Lower-cased stage name. */
  stageName?: string;
  platform?: string;
}
/** RUN, CMD and ENTRYPOINT: the command and whether it runs through the shell. */
export interface CommandLine {
  command: string[];
  /** Shell form: the command is one string passed to SHELL (default `/bin/sh -c`). */
  shellForm: boolean;
  /** Heredoc bodies on the line, tabs already removed for `<<-`. */
  files: InlineFile[];
}
export interface RunInstruction extends Base, CommandLine {
  kind: "RUN";
  /** Raw `--mount` values (checked; expanded later). */
  mounts: string[];
  network?: "default" | "none" | "host";
  security?: "sandbox" | "insecure";
  devices: string[];
}
export interface CmdInstruction extends Base, CommandLine {
  kind: "CMD";
}
export interface EntrypointInstruction extends Base, CommandLine {
  kind: "ENTRYPOINT";
}
export interface EnvInstruction extends Base {
  kind: "ENV";
  pairs: KeyValue[];
}
export interface LabelInstruction extends Base {
  kind: "LABEL";
  pairs: KeyValue[];
}
export interface ArgInstruction extends Base {
  kind: "ARG";
  args: ArgDefinition[];
}
interface CopyLike extends Base {
  /** Source paths, patterns or URLs (heredoc sources are in `contents`). */
  sources: string[];
  contents: InlineFile[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}
export interface CopyInstruction extends CopyLike {
  kind: "COPY";
  from?: string;
  parents: boolean;
}
export interface AddInstruction extends CopyLike {
  kind: "ADD";
  keepGitDir: boolean;
  checksum?: string;
  unpack?: boolean;
}
export interface WorkdirInstruction extends Base {
  kind: "WORKDIR";
  path: string;
}
export interface UserInstruction extends Base {
  kind: "USER";
  user: string;
}
export interface VolumeInstruction extends Base {
  kind: "VOLUME";
  volumes: string[];
}
export interface ExposeInstruction extends Base {
  kind: "EXPOSE";
  ports: string[];
}
export interface StopSignalInstruction extends Base {
  kind: "STOPSIGNAL";
  signal: string;
}
/** HEALTHCHECK: `test` is `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", cmd]`; durations in ns. */
export interface HealthcheckInstruction extends Base {
  kind: "HEALTHCHECK";
  test: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}
/**
 * The image config's Healthcheck for a HEALTHCHECK instruction (unset options stay unset).
 *
 * @example
 * ```ts
 * healthConfigOf({ kind: "HEALTHCHECK", source, test: ["CMD", "true"], retries: 3 })
 * // { Test: ["CMD", "true"], Retries: 3 }
 * ```
 */
export function healthConfigOf(ins: HealthcheckInstruction): HealthConfig {
  const hc: HealthConfig = { Test: [...ins.test] };
  if (ins.interval !== undefined) hc.Interval = ins.interval;
  if (ins.timeout !== undefined) hc.Timeout = ins.timeout;
  if (ins.startPeriod !== undefined) hc.StartPeriod = ins.startPeriod;
  if (ins.startInterval !== undefined) hc.StartInterval = ins.startInterval;
  if (ins.retries !== undefined) hc.Retries = ins.retries;
  return hc;
}
export interface ShellInstruction extends Base {
  kind: "SHELL";
  shell: string[];
}
export interface OnbuildInstruction extends Base {
  kind: "ONBUILD";
  /** The trigger instruction's text, run when a build uses this image as its base. */
  expression: string;
}
export interface MaintainerInstruction extends Base {
  kind: "MAINTAINER";
  maintainer: string;
}

/** Any instruction inside a stage. */
export type StageInstruction =
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | CopyInstruction
  | AddInstruction
  | WorkdirInstruction
  | UserInstruction
  | VolumeInstruction
  | ExposeInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | ShellInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

/** Any instruction. */
export type TypedInstruction = FromInstruction | StageInstruction;

/** A stage: its FROM and the instructions after it. */
export interface StageDefinition {
  index: number;
  from: FromInstruction;
  instructions: StageInstruction[];
}

/** A Dockerfile as stages: the ARGs before the first FROM, then each stage. */
export interface DockerfileStages {
  globalArgs: ArgInstruction[];
  stages: StageDefinition[];
}

const KEYWORDS = [
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
];
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function sourceOf(ins: Instruction): InstructionSource {
  return { startLine: ins.startLine, endLine: ins.endLine, column: ins.column, original: ins.original };
}

function columnOf(ins: Instruction, text: string | undefined): number {
  if (text === undefined || text === "") return ins.column;
  const at = ins.original.indexOf(text);
  return at < 0 ? ins.column : ins.column + Array.from(ins.original.slice(0, at)).length;
}

/** A validation error at an instruction (column of `near` when it is found on the line). */
export function instructionError(
  ins: Instruction | InstructionSource,
  problem: string,
  hint: { expected?: string; found?: string; near?: string; cause?: unknown } = {},
): CairnError {
  const isAst = "keyword" in ins;
  const column = isAst
    ? columnOf(ins, hint.near)
    : hint.near && ins.original.includes(hint.near)
      ? ins.column + Array.from(ins.original.slice(0, ins.original.indexOf(hint.near))).length
      : ins.column;
  const rest: { expected?: string; found?: string; cause?: unknown } = {};
  if (hint.expected !== undefined) rest.expected = hint.expected;
  if (hint.found !== undefined) rest.found = hint.found;
  if (hint.cause !== undefined) rest.cause = hint.cause;
  return dockerfileError(problem, { line: ins.startLine, column, endLine: ins.endLine }, rest);
}

function flags(ins: Instruction, spec: FlagSpec): FlagValues {
  try {
    return parseFlags(ins.flags, spec, ins.keyword);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    throw instructionError(ins, `${ins.keyword}: ${err.message}`, {
      expected: err.expected,
      found: shown(err.flag),
      near: err.flag,
    });
  }
}

function str(v: FlagValues[string] | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function list(v: FlagValues[string] | undefined): string[] {
  return Array.isArray(v) ? v : [];
}

function needArgs(ins: Instruction, min: number, what: string, usage: string): void {
  if (ins.args.length < min) {
    throw instructionError(ins, `${ins.keyword} requires ${what}`, {
      expected: usage,
      found:
        ins.args.length === 0
          ? "no arguments"
          : `${ins.args.length} argument${ins.args.length === 1 ? "" : "s"}`,
    });
  }
}

function exactlyOne(ins: Instruction, usage: string): string {
  if (ins.args.length !== 1) {
    throw instructionError(ins, `${ins.keyword} requires exactly one argument`, {
      expected: usage,
      found: ins.args.length === 0 ? "no argument" : `${ins.args.length} arguments`,
    });
  }
  return ins.args[0] as string;
}

function isStatic(value: string): boolean {
  return !/[$\\`'"]/.test(value);
}

function checkValue<T>(ins: Instruction, near: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    throw instructionError(ins, `${ins.keyword}: ${err.message}`, {
      expected: err.expected,
      found: shown(near),
      near,
    });
  }
}

function commandLine(ins: Instruction): CommandLine {
  return {
    command: ins.args.slice(),
    shellForm: !ins.json,
    files: ins.heredocs.map((h) => ({
      name: h.name,
      data: h.chomp ? chompHeredocContent(h.content) : h.content,
      expand: h.expand,
    })),
  };
}

function pairs(ins: Instruction): KeyValue[] {
  if (ins.args.length === 0) {
    throw instructionError(ins, `${ins.keyword} requires at least one argument`, {
      expected: `${ins.keyword} <key>=<value> ...`,
      found: "no arguments",
    });
  }
  const out: KeyValue[] = [];
  for (let i = 0; i + 1 < ins.args.length; i += 3) {
    const key = ins.args[i] as string;
    if (key === "") {
      throw instructionError(ins, `${ins.keyword} names can not be blank`, { expected: "a name before =" });
    }
    out.push({ key, value: ins.args[i + 1] as string });
  }
  return out;
}

function copyLike(ins: Instruction, values: FlagValues): Omit<CopyLike, "source"> {
  if (ins.args.length < 2) {
    throw instructionError(
      ins,
      `${ins.keyword} requires at least two arguments, but only ${ins.args.length === 0 ? "none was" : "one was"} provided. Destination could not be determined`,
      {
        expected: `${ins.keyword} <src>... <dest>`,
        found: ins.args.length === 0 ? "no arguments" : shown(ins.args[0] as string),
      },
    );
  }
  const dest = ins.args[ins.args.length - 1] as string;
  if (!ins.json && tryParseHeredocWord(dest)) {
    throw instructionError(ins, `${ins.keyword} cannot accept a heredoc as a destination`, {
      expected: "a destination path as the last argument",
      found: shown(dest),
      near: dest,
    });
  }
  const byName = new Map(ins.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: InlineFile[] = [];
  for (const src of ins.args.slice(0, -1)) {
    const header = ins.json ? undefined : tryParseHeredocWord(src);
    if (header) {
      const body = byName.get(header.name)?.content ?? "";
      contents.push({
        name: header.name,
        data: header.chomp ? chompHeredocContent(body) : body,
        expand: header.expand,
      });
    } else {
      sources.push(src);
    }
  }
  const chmod = str(values.chmod);
  if (chmod !== undefined && isStatic(chmod)) checkValue(ins, chmod, () => parseChmod(chmod));
  const out: Omit<CopyLike, "source"> = {
    sources,
    contents,
    dest,
    link: values.link === true,
    exclude: list(values.exclude),
  };
  const chown = str(values.chown);
  if (chown !== undefined) out.chown = chown;
  if (chmod !== undefined) out.chmod = chmod;
  return out;
}

function duration(ins: Instruction, name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ns = checkValue(ins, value, () => parseGoDuration(value));
  if (ns !== 0 && ns < 1_000_000) {
    throw instructionError(ins, `HEALTHCHECK: Interval "${name}" cannot be less than 1ms`, {
      expected: `--${name} of 0 or at least 1ms`,
      found: shown(value),
      near: value,
    });
  }
  return ns;
}

function healthcheck(ins: Instruction): HealthcheckInstruction {
  needArgs(ins, 1, "at least one argument", "HEALTHCHECK [--interval=…] CMD <command> or HEALTHCHECK NONE");
  const type = (ins.args[0] as string).toUpperCase();
  const rest = ins.args.slice(1);
  if (type === "NONE") {
    if (rest.length > 0) {
      throw instructionError(ins, "HEALTHCHECK NONE takes no arguments", {
        expected: "HEALTHCHECK NONE",
        found: shown(rest.join(" ")),
      });
    }
    flags(ins, {});
    return { kind: "HEALTHCHECK", source: sourceOf(ins), test: ["NONE"] };
  }
  const values = flags(ins, {
    interval: "string",
    timeout: "string",
    "start-period": "string",
    "start-interval": "string",
    retries: "string",
  });
  if (type !== "CMD") {
    throw instructionError(ins, `Unknown type "${type}" in HEALTHCHECK (try CMD)`, {
      expected: "CMD or NONE after HEALTHCHECK",
      found: shown(ins.args[0] as string),
      near: ins.args[0] as string,
    });
  }
  if (rest.length === 0) {
    throw instructionError(ins, "Missing command after HEALTHCHECK CMD", {
      expected: "HEALTHCHECK CMD <command>",
    });
  }
  const out: HealthcheckInstruction = {
    kind: "HEALTHCHECK",
    source: sourceOf(ins),
    test: [ins.json ? "CMD" : "CMD-SHELL", ...rest],
  };
  const set = (key: "interval" | "timeout" | "startPeriod" | "startInterval", flag: string) => {
    const d = duration(ins, flag, str(values[flag]));
    if (d !== undefined) out[key] = d;
  };
  set("interval", "interval");
  set("timeout", "timeout");
  set("startPeriod", "start-period");
  set("startInterval", "start-interval");
  const retries = str(values.retries);
  if (retries !== undefined && retries !== "")
    out.retries = checkValue(ins, retries, () => parseRetries(retries));
  return out;
}

function onbuild(ins: Instruction): OnbuildInstruction {
  flags(ins, {});
  const trigger = ins.trigger;
  if (!trigger) {
    throw instructionError(ins, "ONBUILD requires at least one argument", {
      expected: "ONBUILD <instruction>",
    });
  }
  if (trigger.keyword === "ONBUILD") {
    throw instructionError(ins, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", {
      expected: "a trigger other than ONBUILD",
    });
  }
  if (trigger.keyword === "MAINTAINER" || trigger.keyword === "FROM") {
    throw instructionError(ins, `${trigger.keyword} isn't allowed as an ONBUILD trigger`, {
      expected: "a trigger other than FROM or MAINTAINER",
      near: trigger.rawKeyword,
    });
  }
  // Check the trigger now so a broken one fails here, not in some later build.
  parseInstruction(trigger);
  let expression = ins.original.replace(/^\s*ONBUILD\s*/i, "");
  for (const h of ins.heredocs) expression += `\n${h.content}${h.name}`;
  return { kind: "ONBUILD", source: sourceOf(ins), expression };
}

function unknownInstruction(ins: Instruction): CairnError {
  let guess: string | undefined;
  for (const k of KEYWORDS) {
    if (k[0] === ins.keyword[0] && Math.abs(k.length - ins.keyword.length) <= 2) {
      let same = 0;
      for (const ch of ins.keyword) if (k.includes(ch)) same++;
      if (same >= Math.max(2, k.length - 2)) guess = k;
    }
  }
  return instructionError(
    ins,
    `unknown instruction: ${ins.keyword}${guess ? ` (did you mean ${guess.toLowerCase()}?)` : ""}`,
    {
      expected: `one of ${KEYWORDS.join(", ")}`,
      found: shown(ins.rawKeyword),
    },
  );
}

/**
 * Checks one AST instruction and returns it typed. Values that may still change by variable
 * expansion (e.g. `--chmod=$MODE`) are checked by the planner after expansion.
 *
 * @example
 * ```ts
 * const [copy] = parseDockerfile("COPY --from=build /app /app").instructions;
 * parseInstruction(copy) // { kind: "COPY", from: "build", sources: ["/app"], dest: "/app", … }
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX` with the line and column
 */
export function parseInstruction(ins: Instruction): TypedInstruction {
  const source = sourceOf(ins);
  switch (ins.keyword) {
    case "FROM": {
      const values = flags(ins, { platform: "string" });
      const n = ins.args.length;
      if (!(n === 1 || (n === 3 && (ins.args[1] as string).toLowerCase() === "as"))) {
        throw instructionError(ins, "FROM requires either one or three arguments", {
          expected: "FROM <image> [AS <name>]",
          found: `${n} argument${n === 1 ? "" : "s"}`,
        });
      }
      const out: FromInstruction = { kind: "FROM", source, image: ins.args[0] as string };
      if (n === 3) {
        const raw = ins.args[2] as string;
        const name = raw.toLowerCase();
        if (!STAGE_NAME.test(name)) {
          throw instructionError(
            ins,
            `invalid name for build stage: ${JSON.stringify(raw)}, name can't start with a number or contain symbols`,
            {
              expected: "a stage name of letters, digits, '-', '_' and '.', starting with a letter",
              found: shown(raw),
              near: raw,
            },
          );
        }
        out.stageName = name;
      }
      const platform = str(values.platform);
      if (platform !== undefined) out.platform = platform;
      return out;
    }
    case "RUN": {
      const values = flags(ins, {
        mount: "strings",
        network: "string",
        security: "string",
        device: "strings",
      });
      if (ins.args.length === 0 && ins.heredocs.length === 0) {
        throw instructionError(ins, "RUN requires at least one argument", {
          expected: 'RUN <command> or RUN ["executable", …]',
        });
      }
      const mounts = list(values.mount);
      for (const m of mounts) if (isStatic(m)) checkValue(ins, m, () => parseRunMount(m));
      const out: RunInstruction = {
        kind: "RUN",
        source,
        ...commandLine(ins),
        mounts,
        devices: list(values.device),
      };
      const network = str(values.network);
      if (network !== undefined) {
        if (network !== "default" && network !== "none" && network !== "host") {
          throw instructionError(ins, `RUN: unsupported network mode ${JSON.stringify(network)}`, {
            expected: "--network=default, none or host",
            found: shown(network),
            near: network,
          });
        }
        out.network = network;
      }
      const security = str(values.security);
      if (security !== undefined) {
        if (security !== "sandbox" && security !== "insecure") {
          throw instructionError(ins, `RUN: unsupported security mode ${JSON.stringify(security)}`, {
            expected: "--security=sandbox or insecure",
            found: shown(security),
            near: security,
          });
        }
        out.security = security;
      }
      return out;
    }
    case "CMD":
      flags(ins, {});
      return { kind: "CMD", source, ...commandLine(ins) };
    case "ENTRYPOINT":
      flags(ins, {});
      return { kind: "ENTRYPOINT", source, ...commandLine(ins) };
    case "ENV":
      flags(ins, {});
      return { kind: "ENV", source, pairs: pairs(ins) };
    case "LABEL":
      flags(ins, {});
      return { kind: "LABEL", source, pairs: pairs(ins) };
    case "ARG": {
      flags(ins, {});
      needArgs(ins, 1, "at least one argument", "ARG <name>[=<default>] ...");
      const args = ins.args.map((word): ArgDefinition => {
        const eq = word.indexOf("=");
        if (eq < 0) return { key: word };
        if (eq === 0) {
          throw instructionError(ins, "ARG names can not be blank", {
            expected: "ARG <name>=<value>",
            found: shown(word),
            near: word,
          });
        }
        return { key: word.slice(0, eq), value: word.slice(eq + 1) };
      });
      return { kind: "ARG", source, args };
    }
    case "COPY": {
      const values = flags(ins, {
        chown: "string",
        chmod: "string",
        from: "string",
        link: "bool",
        parents: "bool",
        exclude: "strings",
      });
      const out: CopyInstruction = {
        kind: "COPY",
        source,
        ...copyLike(ins, values),
        parents: values.parents === true,
      };
      const from = str(values.from);
      if (from !== undefined) out.from = from;
      return out;
    }
    case "ADD": {
      const values = flags(ins, {
        chown: "string",
        chmod: "string",
        link: "bool",
        "keep-git-dir": "bool",
        checksum: "string",
        exclude: "strings",
        unpack: "bool",
      });
      const out: AddInstruction = {
        kind: "ADD",
        source,
        ...copyLike(ins, values),
        keepGitDir: values["keep-git-dir"] === true,
      };
      const checksum = str(values.checksum);
      if (checksum !== undefined) out.checksum = checksum;
      if (typeof values.unpack === "boolean") out.unpack = values.unpack;
      return out;
    }
    case "WORKDIR":
      flags(ins, {});
      return { kind: "WORKDIR", source, path: exactlyOne(ins, "WORKDIR <path>") };
    case "USER":
      flags(ins, {});
      return { kind: "USER", source, user: exactlyOne(ins, "USER <user>[:<group>]") };
    case "MAINTAINER":
      flags(ins, {});
      return { kind: "MAINTAINER", source, maintainer: exactlyOne(ins, "MAINTAINER <name>") };
    case "STOPSIGNAL":
      flags(ins, {});
      return { kind: "STOPSIGNAL", source, signal: exactlyOne(ins, "STOPSIGNAL <signal>") };
    case "VOLUME": {
      flags(ins, {});
      needArgs(ins, 1, "at least one argument", 'VOLUME <path> ... or VOLUME ["<path>", …]');
      const volumes = ins.args.map((v) => v.trim());
      if (volumes.some((v) => v === "")) {
        throw instructionError(ins, "VOLUME specified can not be an empty string", { expected: "a path" });
      }
      return { kind: "VOLUME", source, volumes };
    }
    case "EXPOSE":
      flags(ins, {});
      needArgs(ins, 1, "at least one argument", "EXPOSE <port>[/<protocol>] ...");
      return { kind: "EXPOSE", source, ports: ins.args.slice() };
    case "HEALTHCHECK":
      return healthcheck(ins);
    case "SHELL": {
      flags(ins, {});
      if (ins.args.length === 0) {
        throw instructionError(ins, "SHELL requires at least one argument", {
          expected: 'SHELL ["executable", "parameters"]',
        });
      }
      if (!ins.json) {
        throw instructionError(ins, "SHELL requires the arguments to be in JSON form", {
          expected: 'SHELL ["executable", "parameters"]',
          found: shown(ins.args.join(" ")),
        });
      }
      return { kind: "SHELL", source, shell: ins.args.slice() };
    }
    case "ONBUILD":
      return onbuild(ins);
    default:
      throw unknownInstruction(ins);
  }
}

/**
 * Splits a parsed Dockerfile into global ARGs and stages, checking every instruction.
 *
 * @example
 * ```ts
 * const { globalArgs, stages } = parseStages(parseDockerfile("ARG V=1\nFROM alpine:$V AS base\nRUN true\n"));
 * stages[0].from.stageName // "base"
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX`, e.g. for an instruction before the first FROM
 */
export function parseStages(ast: DockerfileAst): DockerfileStages {
  const globalArgs: ArgInstruction[] = [];
  const stages: StageDefinition[] = [];
  for (const ins of ast.instructions) {
    const typed = parseInstruction(ins);
    if (typed.kind === "FROM") {
      stages.push({ index: stages.length, from: typed, instructions: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (current === undefined) {
      if (typed.kind === "ARG") {
        globalArgs.push(typed);
        continue;
      }
      throw instructionError(ins, `no build stage in current context: ${ins.keyword} before the first FROM`, {
        expected: "FROM (only ARG may come before the first FROM)",
        found: ins.keyword,
      });
    }
    current.instructions.push(typed);
  }
  if (stages.length === 0) {
    throw dockerfileError(
      "no build stage: the Dockerfile has no FROM",
      { line: ast.endLine },
      {
        expected: "a FROM instruction",
      },
    );
  }
  return { globalArgs, stages };
}
