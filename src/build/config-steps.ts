/**
 * The instructions that change only the image config (ENV, LABEL, USER, EXPOSE, VOLUME, CMD,
 * ENTRYPOINT, SHELL, HEALTHCHECK, STOPSIGNAL, ONBUILD, MAINTAINER, and WORKDIR's config part),
 * applied to a config with the history text BuildKit records for each.
 */
import { type PlanStep, parseExposePort } from "../dockerfile/index.js";
import { healthConfigOf } from "../dockerfile/instructions.js";
import type { ContainerConfig } from "../manifest/index.js";
import { goHealthcheck, goList, goPortMap, goQuoteList } from "./history.js";

/** What a stage's config edits carry from one step to the next. */
export interface ConfigState {
  config: ContainerConfig;
  /** The image author (MAINTAINER). */
  author?: string;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

const DEFAULT_SHELL = ["/bin/sh", "-c"];

function setEnv(config: ContainerConfig, key: string, value: string): void {
  const env = [...(config.Env ?? [])];
  const at = env.findIndex((e) => e === key || e.startsWith(`${key}=`));
  if (at >= 0) env[at] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  config.Env = env;
}

function commandArgv(state: ConfigState, command: readonly string[], shellForm: boolean): string[] {
  if (!shellForm) return [...command];
  return [...(state.config.Shell ?? DEFAULT_SHELL), ...command.slice(0, 1)];
}

/**
 * Applies a config-only step; returns the `created_by` text for its history entry, or undefined
 * when BuildKit records none (ONBUILD). ARG, RUN, COPY and ADD are not handled here.
 *
 * @example
 * ```ts
 * const state = { config: {}, cmdSet: false };
 * applyConfigStep(envStep, state) // "ENV A=b"; state.config.Env is ["A=b"]
 * ```
 */
export function applyConfigStep(step: PlanStep, state: ConfigState): string | undefined {
  const ins = step.instruction;
  const c = state.config;
  switch (ins.kind) {
    case "ENV":
      for (const p of ins.pairs) setEnv(c, p.key, p.value);
      return `ENV ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(" ")}`;
    case "LABEL":
      c.Labels = { ...(c.Labels ?? {}) };
      for (const p of ins.pairs) c.Labels[p.key] = p.value;
      return `LABEL ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(" ")}`;
    case "USER":
      c.User = ins.user;
      return `USER ${ins.user}`;
    case "WORKDIR":
      c.WorkingDir = step.workingDir;
      return `WORKDIR ${step.workingDir}`;
    case "EXPOSE": {
      const ports = ins.ports.flatMap((p) => parseExposePort(p).ports);
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of ports) c.ExposedPorts[p] = {};
      return `EXPOSE ${goPortMap(ports)}`;
    }
    case "VOLUME":
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of ins.volumes) c.Volumes[v] = {};
      return `VOLUME ${goList(ins.volumes)}`;
    case "CMD": {
      const argv = commandArgv(state, ins.command, ins.shellForm);
      c.Cmd = argv;
      state.cmdSet = true;
      return `CMD ${goQuoteList(argv)}`;
    }
    case "ENTRYPOINT": {
      if (ins.shellForm && ins.command.length === 0) delete c.Entrypoint;
      else c.Entrypoint = commandArgv(state, ins.command, ins.shellForm);
      if (!state.cmdSet) delete c.Cmd;
      return `ENTRYPOINT ${goQuoteList(ins.command)}`;
    }
    case "SHELL":
      c.Shell = [...ins.shell];
      return `SHELL ${goList(ins.shell)}`;
    case "HEALTHCHECK": {
      const hc = healthConfigOf(ins);
      c.Healthcheck = hc;
      return `HEALTHCHECK ${goHealthcheck(hc)}`;
    }
    case "STOPSIGNAL":
      c.StopSignal = ins.signal;
      return `STOPSIGNAL ${ins.signal}`;
    case "ONBUILD":
      c.OnBuild = [...(c.OnBuild ?? []), ins.expression];
      return undefined;
    case "MAINTAINER":
      state.author = ins.maintainer;
      return `MAINTAINER ${ins.maintainer}`;
    default:
      return undefined;
  }
}

const CONFIG_ORDER = [
  "User",
  "ExposedPorts",
  "Env",
  "Entrypoint",
  "Cmd",
  "Volumes",
  "WorkingDir",
  "Labels",
  "StopSignal",
  "ArgsEscaped",
  "Healthcheck",
  "OnBuild",
  "Shell",
] as const;

function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The config with its fields in one fixed order, empty ones left out, map keys sorted: the same
 * settings always serialize to the same bytes.
 *
 * @example
 * ```ts
 * canonicalConfig({ Cmd: ["sh"], Env: [] }) // { Cmd: ["sh"] }
 * ```
 */
export function canonicalConfig(config: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = {};
  for (const key of CONFIG_ORDER) {
    const v = config[key];
    if (v === undefined || v === null || v === "" || v === false) continue;
    if (Array.isArray(v)) {
      if (v.length === 0 && key !== "Cmd" && key !== "Entrypoint") continue;
      (out as Record<string, unknown>)[key] = [...v];
    } else if (typeof v === "object") {
      const rec = v as Record<string, unknown>;
      if (key !== "Healthcheck" && Object.keys(rec).length === 0) continue;
      (out as Record<string, unknown>)[key] = key === "Healthcheck" ? { ...rec } : sortedRecord(rec);
    } else (out as Record<string, unknown>)[key] = v;
  }
  return out;
}
