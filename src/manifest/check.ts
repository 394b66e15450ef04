/**
 * Small building blocks for hand-written validators: JSON paths, value descriptions, and a
 * `Problem` that the public entry points turn into a {@link CairnError}.
 * Internal to the manifest module.
 */
import { CairnError } from "../errors/index.js";

/** A JSON object as decoded from untrusted input. */
export type JsonObject = { [key: string]: unknown };

/**
 * A validation failure at a JSON path, before it is given a document kind.
 *
 * @example
 * ```ts
 * throw new Problem("$.layers[0].size", "expected an integer, found \"1\"")
 * ```
 */
export class Problem extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(`${path}: ${problem}`);
    this.name = "Problem";
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The JSON path of `key` inside `path`: `$.layers`, `$.layers[0]`, `$.config["os.version"]`.
 *
 * @example
 * ```ts
 * child(child("$", "layers"), 0) // "$.layers[0]"
 * ```
 */
export function child(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * A short, safe description of an untrusted value for error messages.
 *
 * @example
 * ```ts
 * describe("x".repeat(100)) // the first 80 characters, quoted
 * ```
 */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (value === null) return "null";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return `a ${typeof value}`;
}

/**
 * Throws a {@link Problem}: `expected <expected>, found <found>`.
 *
 * @example
 * ```ts
 * expected("$.size", "an integer", "12") // throws: expected an integer, found "12"
 * ```
 */
export function expected(path: string, what: string, found: unknown): never {
  throw new Problem(path, `expected ${what}, found ${describe(found)}`);
}

/**
 * True for a plain JSON object (not null, not an array).
 *
 * @example
 * ```ts
 * isObject([]) // false
 * ```
 */
export function isObject(value: unknown): value is JsonObject {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/**
 * The own property `key` of `obj`, or undefined. Never reads the prototype chain.
 *
 * @example
 * ```ts
 * field(JSON.parse('{"a":1}'), "a") // 1
 * ```
 */
export function field(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * Requires an object.
 *
 * @example
 * ```ts
 * const m = objectAt(JSON.parse(text), "$")
 * ```
 */
export function objectAt(value: unknown, path: string): JsonObject {
  if (!isObject(value)) expected(path, "an object", value);
  return value;
}

/**
 * Requires a string.
 *
 * @example
 * ```ts
 * stringAt(p.os, "$.os")
 * ```
 */
export function stringAt(value: unknown, path: string): string {
  if (typeof value !== "string") expected(path, "a string", value);
  return value;
}

/**
 * Checks an optional string field.
 *
 * @example
 * ```ts
 * optionalString(config, "User", "$.config")
 * ```
 */
export function optionalString(obj: JsonObject, key: string, path: string): void {
  const v = field(obj, key);
  if (v !== undefined) stringAt(v, child(path, key));
}

/**
 * Checks an optional boolean field.
 *
 * @example
 * ```ts
 * optionalBoolean(config, "ArgsEscaped", "$.config")
 * ```
 */
export function optionalBoolean(obj: JsonObject, key: string, path: string): void {
  const v = field(obj, key);
  if (v !== undefined && typeof v !== "boolean") expected(child(path, key), "a boolean", v);
}

/**
 * Checks an optional integer field.
 *
 * @example
 * ```ts
 * optionalInteger(healthcheck, "Retries", "$.config.Healthcheck")
 * ```
 */
export function optionalInteger(obj: JsonObject, key: string, path: string): void {
  const v = field(obj, key);
  if (v !== undefined && !Number.isSafeInteger(v)) expected(child(path, key), "an integer", v);
}

/**
 * Requires an array, then checks each item with `item`.
 *
 * @example
 * ```ts
 * arrayAt(m.layers, "$.layers", checkDescriptor)
 * ```
 */
export function arrayAt(value: unknown, path: string, item: (v: unknown, path: string) => void): unknown[] {
  if (!Array.isArray(value)) expected(path, "an array", value);
  for (let i = 0; i < value.length; i++) item(value[i], child(path, i));
  return value;
}

/**
 * Requires an array of strings.
 *
 * @example
 * ```ts
 * stringArrayAt(cfg.Cmd, "$.config.Cmd")
 * ```
 */
export function stringArrayAt(value: unknown, path: string): string[] {
  return arrayAt(value, path, stringAt) as string[];
}

/**
 * Checks an optional field that is an array of strings (`null` allowed when `nullable`).
 *
 * @example
 * ```ts
 * optionalStringArray(config, "Cmd", "$.config", true)
 * ```
 */
export function optionalStringArray(obj: JsonObject, key: string, path: string, nullable = false): void {
  const v = field(obj, key);
  if (v === undefined || (nullable && v === null)) return;
  stringArrayAt(v, child(path, key));
}

/**
 * Requires an object whose values are all strings.
 *
 * @example
 * ```ts
 * stringMapAt(m.annotations, "$.annotations")
 * ```
 */
export function stringMapAt(value: unknown, path: string): Record<string, string> {
  const obj = objectAt(value, path);
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== "string") expected(child(path, k), "a string", v);
  }
  return obj as Record<string, string>;
}

/**
 * Requires an object whose values are all objects (a Go `map[string]struct{}` set).
 *
 * @example
 * ```ts
 * objectMapAt(config.Volumes, "$.config.Volumes")
 * ```
 */
export function objectMapAt(value: unknown, path: string): JsonObject {
  const obj = objectAt(value, path);
  for (const [k, v] of Object.entries(obj)) {
    if (!isObject(v)) expected(child(path, k), "an object", v);
  }
  return obj;
}

/**
 * Runs a validator and turns its {@link Problem} into a `CairnError("E_MANIFEST_INVALID")` whose
 * message names the document kind and the JSON path.
 *
 * @example
 * ```ts
 * validating("descriptor", () => checkDescriptor(obj, "$"))
 * ```
 */
export function validating<T>(kind: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof Problem) {
      throw new CairnError("E_MANIFEST_INVALID", `invalid ${kind} at ${err.path}: ${err.problem}`, {
        path: err.path,
        details: { kind, problem: err.problem, ...err.extra },
      });
    }
    throw err;
  }
}
