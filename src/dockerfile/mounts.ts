/** `RUN --mount=…` specs: CSV fields parsed and checked as BuildKit's `--mount` flag does. */
import { ValueError } from "./values.js";

/** The mount types RUN supports. */
export type RunMountType = "bind" | "cache" | "tmpfs" | "secret" | "ssh";

/** One parsed `--mount`. */
export interface RunMount {
  type: RunMountType;
  /** Stage name or image the mount comes from (bind, cache). */
  from?: string;
  source?: string;
  target?: string;
  readonly: boolean;
  /** Cache and secret/ssh id. */
  id?: string;
  /** Cache sharing: shared (default), private or locked. */
  sharing?: "shared" | "private" | "locked";
  /** File mode (octal) for cache, secret and ssh mounts. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Secret or ssh mount that must be provided. */
  required?: boolean;
  /** Tmpfs size in bytes. */
  size?: number;
  /** Secret exposed as this environment variable. */
  env?: string;
}

const TYPES = new Set<RunMountType>(["bind", "cache", "tmpfs", "secret", "ssh"]);
const MOUNT_SYNTAX = "comma-separated key=value fields, e.g. type=cache,target=/root/.cache";

/** Splits a CSV record (Go encoding/csv rules: `"` quotes a field, `""` is a quote). */
export function splitCsv(record: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (record[i] === '"') {
      i++;
      for (;;) {
        if (i >= record.length)
          throw new ValueError(`extraneous or missing " in quoted-field: ${record}`, MOUNT_SYNTAX);
        const ch = record[i] as string;
        if (ch === '"') {
          if (record[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += ch;
        i++;
      }
      if (i < record.length && record[i] !== ",") {
        throw new ValueError(`extraneous or missing " in quoted-field: ${record}`, MOUNT_SYNTAX);
      }
    } else {
      const comma = record.indexOf(",", i);
      const end = comma < 0 ? record.length : comma;
      field = record.slice(i, end);
      if (field.includes('"')) throw new ValueError(`bare " in non-quoted-field: ${record}`, MOUNT_SYNTAX);
      i = end;
    }
    fields.push(field);
    if (i >= record.length) return fields;
    i++;
  }
}

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new ValueError(`invalid value for ${key}: ${value}`, `${key}=true or ${key}=false`);
}

function parseUint(key: string, value: string, base: 8 | 10): number {
  const re = base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(value))
    throw new ValueError(
      `invalid value for ${key}: ${value}`,
      `${key} as a ${base === 8 ? "octal" : "decimal"} number`,
    );
  const n = Number.parseInt(value, base);
  if (n > 0xffffffff) throw new ValueError(`invalid value for ${key}: ${value}`, `${key} below 2^32`);
  return n;
}

function parseSize(value: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?b?)$/i.exec(value);
  if (!m) throw new ValueError(`invalid size: ${value}`, 'a size such as "64m" or "1g"');
  const pow = "bkmgtp".indexOf(((m[2] as string) || "b").toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** pow);
}

/**
 * Parses one `--mount` value. `expand`, when given, is applied to every field value except
 * `from` (BuildKit does not expand variables in mount sources from other stages).
 *
 * @example
 * ```ts
 * parseRunMount("type=cache,target=/root/.cache,sharing=locked")
 * // { type: "cache", target: "/root/.cache", sharing: "locked", readonly: false }
 * ```
 * @throws ValueError for unknown types or keys and missing targets
 */
export function parseRunMount(value: string, expand?: (word: string) => string): RunMount {
  const fields = splitCsv(value);
  let type: RunMountType = "bind";
  const kv: Array<[string, string | undefined]> = [];
  for (const field of fields) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    let v = eq < 0 ? undefined : field.slice(eq + 1);
    if (v !== undefined && expand && key !== "from") v = expand(v);
    if (key === "type") {
      const t = (v ?? "").toLowerCase();
      if (!TYPES.has(t as RunMountType)) {
        throw new ValueError(
          `unsupported mount type ${JSON.stringify(v ?? "")}`,
          "type=bind, cache, tmpfs, secret or ssh",
        );
      }
      type = t as RunMountType;
    } else {
      kv.push([key, v]);
    }
  }
  const mount: RunMount = { type, readonly: type === "bind" };
  const need = (key: string, v: string | undefined): string => {
    if (v === undefined)
      throw new ValueError(`invalid field '${key}' must be a key=value pair`, `${key}=<value>`);
    return v;
  };
  for (const [key, v] of kv) {
    switch (key) {
      case "from":
        mount.from = need(key, v);
        break;
      case "source":
      case "src":
        mount.source = need(key, v);
        break;
      case "target":
      case "dst":
      case "destination":
        mount.target = need(key, v);
        break;
      case "readonly":
      case "ro":
        mount.readonly = parseBool(key, v);
        break;
      case "readwrite":
      case "rw":
        mount.readonly = !parseBool(key, v);
        break;
      case "id":
        mount.id = need(key, v);
        break;
      case "sharing": {
        const s = need(key, v).toLowerCase();
        if (s !== "shared" && s !== "private" && s !== "locked") {
          throw new ValueError(
            `unsupported sharing value ${JSON.stringify(s)}`,
            "sharing=shared, private or locked",
          );
        }
        mount.sharing = s;
        break;
      }
      case "mode":
        mount.mode = parseUint(key, need(key, v), 8);
        break;
      case "uid":
        mount.uid = parseUint(key, need(key, v), 10);
        break;
      case "gid":
        mount.gid = parseUint(key, need(key, v), 10);
        break;
      case "required":
        mount.required = parseBool(key, v);
        break;
      case "size":
        mount.size = parseSize(need(key, v));
        break;
      case "env":
        mount.env = need(key, v);
        break;
      default:
        throw new ValueError(`unexpected key '${key}' in '${value}'`, MOUNT_SYNTAX);
    }
  }
  if ((mount.type === "secret" || mount.type === "ssh") && mount.from !== undefined) {
    throw new ValueError(`${mount.type} mount does not accept from=`, "from= only on bind and cache mounts");
  }
  if (mount.type === "secret") {
    if (mount.id === undefined && mount.target === undefined && mount.env === undefined) {
      throw new ValueError("secret mount needs an id, a target or an env", "id=<secret id>");
    }
    mount.id ??= (mount.target ?? "").split("/").pop() || mount.env;
    if (mount.target === undefined && mount.env === undefined) mount.target = `/run/secrets/${mount.id}`;
  } else if (mount.type === "ssh") {
    mount.id ??= "default";
  } else if (mount.target === undefined || mount.target === "") {
    throw new ValueError(`mount type ${mount.type} requires a target`, "target=<path in the container>");
  }
  if (mount.type === "cache" && mount.id === undefined) mount.id = mount.target;
  return mount;
}
