/**
 * The OCI (and Docker) image configuration: every known field's type is checked, as the Go
 * types upstream decode them, plus the image-spec schema and its `Env` rule.
 */
import {
  arrayAt,
  child,
  expected,
  field,
  type JsonObject,
  objectAt,
  objectMapAt,
  optionalBoolean,
  optionalInteger,
  optionalString,
  optionalStringArray,
  stringAt,
  stringMapAt,
  validating,
} from "./check.js";
import { checkDigest } from "./descriptor.js";
import { type JsonInput, type ParseOptions, readJson } from "./json.js";
import type { ImageConfig } from "./types.js";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * True when `s` is an RFC 3339 date-time (`2015-10-31T22:22:56.015925234Z`).
 *
 * @example
 * ```ts
 * isRfc3339DateTime("2015-10-31T22:22:56Z") // true
 * isRfc3339DateTime("yesterday") // false
 * ```
 */
export function isRfc3339DateTime(s: unknown): s is string {
  if (typeof s !== "string") return false;
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetOk = m[7] === undefined || (Number(m[7]) <= 23 && Number(m[8]) <= 59);
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= 31 &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 60 &&
    offsetOk
  );
}

// The image spec's `^[^=]+=.*$`, allowing newlines in values (Go's `.` would refuse them, but
// Docker accepts such values and they occur in real images).
const ENV_ENTRY = /^[^=]+=/;

function optionalDateTime(o: JsonObject, key: string, path: string): void {
  const v = field(o, key);
  if (v !== undefined && !isRfc3339DateTime(v)) {
    expected(child(path, key), "an RFC 3339 date-time string", v);
  }
}

function optionalNullable(
  o: JsonObject,
  key: string,
  path: string,
  check: (v: unknown, path: string) => unknown,
): void {
  const v = field(o, key);
  if (v !== undefined && v !== null) check(v, child(path, key));
}

function checkEnv(v: unknown, path: string): void {
  arrayAt(v, path, (entry, p) => {
    const s = stringAt(entry, p);
    if (!ENV_ENTRY.test(s)) expected(p, 'an environment entry "NAME=value"', s);
  });
}

function checkHealthcheck(v: unknown, path: string): void {
  const h = objectAt(v, path);
  optionalStringArray(h, "Test", path, true);
  for (const key of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"]) {
    optionalInteger(h, key, path);
  }
}

function checkContainerConfig(v: unknown, path: string): void {
  const c = objectAt(v, path);
  optionalString(c, "User", path);
  optionalNullable(c, "ExposedPorts", path, objectMapAt);
  optionalNullable(c, "Env", path, checkEnv);
  optionalStringArray(c, "Entrypoint", path, true);
  optionalStringArray(c, "Cmd", path, true);
  optionalNullable(c, "Volumes", path, objectMapAt);
  optionalString(c, "WorkingDir", path);
  optionalNullable(c, "Labels", path, stringMapAt);
  optionalString(c, "StopSignal", path);
  optionalBoolean(c, "ArgsEscaped", path);
  optionalNullable(c, "Healthcheck", path, checkHealthcheck);
  optionalStringArray(c, "OnBuild", path, true);
  optionalStringArray(c, "Shell", path, true);
}

function checkRootfs(v: unknown, path: string): void {
  const r = objectAt(v, path);
  const type = field(r, "type");
  if (type !== "layers") expected(child(path, "type"), '"layers"', type);
  arrayAt(field(r, "diff_ids"), child(path, "diff_ids"), checkDigest);
}

function checkHistory(v: unknown, path: string): void {
  arrayAt(v, path, (entry, p) => {
    const h = objectAt(entry, p);
    optionalDateTime(h, "created", p);
    optionalString(h, "author", p);
    optionalString(h, "created_by", p);
    optionalString(h, "comment", p);
    optionalBoolean(h, "empty_layer", p);
  });
}

/**
 * Checks an image config object; exported for {@link parseManifest}.
 *
 * @example
 * ```ts
 * validating("image config", () => checkImageConfig(JSON.parse(text)))
 * ```
 */
export function checkImageConfig(value: unknown): ImageConfig {
  const o = objectAt(value, "$");
  optionalDateTime(o, "created", "$");
  optionalString(o, "author", "$");
  stringAt(field(o, "architecture"), "$.architecture");
  stringAt(field(o, "os"), "$.os");
  optionalString(o, "os.version", "$");
  optionalStringArray(o, "os.features", "$");
  optionalString(o, "variant", "$");
  const config = field(o, "config");
  if (config !== undefined) checkContainerConfig(config, "$.config");
  checkRootfs(field(o, "rootfs"), "$.rootfs");
  const history = field(o, "history");
  if (history !== undefined) checkHistory(history, "$.history");
  return o as unknown as ImageConfig;
}

/**
 * Parses and validates an image configuration (OCI `application/vnd.oci.image.config.v1+json` or
 * Docker's `application/vnd.docker.container.image.v1+json`). Known fields are type-checked;
 * `Env` entries must be `NAME=value`; `rootfs.type` must be `"layers"` and `diff_ids` digests.
 * Lists and maps that Docker writes as `null` (Env, Cmd, Volumes, Labels…) are accepted.
 *
 * @example
 * ```ts
 * const cfg = parseImageConfig(configBytes)
 * cfg.config?.Env // ["PATH=/usr/bin"]
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`, `E_MANIFEST_TOO_LARGE`
 */
export function parseImageConfig(input: JsonInput, options: ParseOptions = {}): ImageConfig {
  const kind = "image config";
  return validating(kind, () => checkImageConfig(readJson(input, kind, options)));
}
