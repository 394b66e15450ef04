import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { isHelperName } from "../src/registry/cred-helper.js";
import {
  authFiles,
  dockerConfigFile,
  findCredentials,
  removeLogin,
  saveLogin,
} from "../src/registry/index.js";

let tmp: string;
let bin: string;

/** A docker credential helper as a shell script: `get` answers from a table, `store`/`erase` log to a file. */
function writeHelper(name: string, table: Record<string, { Username: string; Secret: string }>): string {
  const log = path.join(tmp, `${name}.log`);
  const cases = Object.entries(table)
    .map(([server, c]) => `    "${server}") echo '${JSON.stringify({ ServerURL: server, ...c })}' ;;`)
    .join("\n");
  const script = `#!/bin/sh
input=$(cat)
echo "$1 $input" >> "${log}"
case "$1" in
  get)
    case "$input" in
${cases}
    *) echo "credentials not found in native keychain" ; exit 1 ;;
    esac ;;
  store|erase) ;;
  *) echo "unknown action" >&2 ; exit 2 ;;
esac
`;
  const file = path.join(bin, `docker-credential-${name}`);
  writeFileSync(file, script);
  chmodSync(file, 0o755);
  return log;
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: `${bin}:${process.env["PATH"]}`, HOME: path.join(tmp, "home"), ...extra };
}

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "cairn-creds-"));
  bin = path.join(tmp, "bin");
  mkdirSync(bin);
  mkdirSync(path.join(tmp, "home"));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("where credentials are looked for", () => {
  test("the auth files, in the containers/image order, then docker's", () => {
    expect(authFiles({ HOME: "/h" })).toEqual(["/h/.config/containers/auth.json", "/h/.docker/config.json"]);
    expect(
      authFiles({
        HOME: "/h",
        REGISTRY_AUTH_FILE: "/a.json",
        XDG_RUNTIME_DIR: "/run/u",
        DOCKER_CONFIG: "/d",
      }),
    ).toEqual([
      "/a.json",
      "/run/u/containers/auth.json",
      "/h/.config/containers/auth.json",
      "/d/config.json",
    ]);
    expect(dockerConfigFile({ HOME: "/h" })).toBe("/h/.docker/config.json");
  });

  test("podman's auth file wins over docker's; keys may name a namespace", async () => {
    const run = path.join(tmp, "run");
    mkdirSync(path.join(run, "containers"), { recursive: true });
    writeFileSync(
      path.join(run, "containers", "auth.json"),
      JSON.stringify({
        auths: { "quay.io/team": { auth: b64("team:1") }, "quay.io": { auth: b64("podman:2") } },
      }),
    );
    const dockerDir = path.join(tmp, "docker-a");
    mkdirSync(dockerDir);
    writeFileSync(
      path.join(dockerDir, "config.json"),
      JSON.stringify({
        auths: {
          "quay.io": { auth: b64("docker:3") },
          "https://index.docker.io/v1/": { auth: b64("hub:4") },
        },
      }),
    );
    const e = env({ XDG_RUNTIME_DIR: run, DOCKER_CONFIG: dockerDir });
    expect(await findCredentials("quay.io", { env: e, repository: "team/app" })).toEqual({
      username: "team",
      password: "1",
    });
    expect(await findCredentials("quay.io", { env: e, repository: "other/app" })).toEqual({
      username: "podman",
      password: "2",
    });
    expect(await findCredentials("docker.io", { env: e })).toEqual({ username: "hub", password: "4" });
    expect(await findCredentials("ghcr.io", { env: e })).toBeUndefined();
    const authFile = path.join(tmp, "explicit.json");
    writeFileSync(authFile, JSON.stringify({ auths: { "ghcr.io": { identitytoken: "rt" } } }));
    expect(await findCredentials("ghcr.io", { env: e, authFile })).toEqual({ identityToken: "rt" });
  });

  test("credHelpers first, then credsStore, then auths; <token> means an identity token", async () => {
    writeHelper("perhost", { "ghcr.io": { Username: "<token>", Secret: "refresh" } });
    const storeLog = writeHelper("store", {
      "https://index.docker.io/v1/": { Username: "hubuser", Secret: "hubpass" },
    });
    const dir = path.join(tmp, "docker-b");
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, "config.json"),
      JSON.stringify({
        auths: { "localhost:5000": { auth: b64("local:pw") } },
        credHelpers: { "ghcr.io": "perhost" },
        credsStore: "store",
      }),
    );
    const e = env({ DOCKER_CONFIG: dir });
    expect(await findCredentials("ghcr.io", { env: e })).toEqual({ identityToken: "refresh" });
    expect(await findCredentials("docker.io", { env: e })).toEqual({
      username: "hubuser",
      password: "hubpass",
    });
    // the store has nothing for it: the auths entry is used
    expect(await findCredentials("localhost:5000", { env: e })).toEqual({
      username: "local",
      password: "pw",
    });
    expect(readFileSync(storeLog, "utf8")).toContain("get https://index.docker.io/v1/");
  });

  test("a missing or failing helper, or a malformed file, is E_AUTH", async () => {
    const dir = path.join(tmp, "docker-c");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ credsStore: "absent" }));
    const err = await findCredentials("ghcr.io", { env: env({ DOCKER_CONFIG: dir }) }).catch((x) => x);
    expect(isCairnError(err, "E_AUTH")).toBe(true);
    expect(err.message).toContain("docker-credential-absent is not installed");
    writeFileSync(path.join(dir, "config.json"), "{not json");
    await expect(findCredentials("ghcr.io", { env: env({ DOCKER_CONFIG: dir }) })).rejects.toSatisfy((x) =>
      isCairnError(x, "E_AUTH"),
    );
    expect(isHelperName("pass")).toBe(true);
    expect(isHelperName("../../bin/sh")).toBe(false);
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ credsStore: "../x" }));
    await expect(findCredentials("ghcr.io", { env: env({ DOCKER_CONFIG: dir }) })).rejects.toThrow(
      /not a plain name/,
    );
  });
});

describe("saving a login as docker does", () => {
  test("into auths as base64, keeping the rest of the file, mode 0600", async () => {
    const dir = path.join(tmp, "docker-save");
    mkdirSync(dir);
    const file = path.join(dir, "config.json");
    writeFileSync(
      file,
      JSON.stringify({ psFormat: "table", auths: { "http://localhost:5000/v2/": { auth: b64("old:old") } } }),
    );
    const saved = await saveLogin(
      "localhost:5000",
      { username: "me", password: "pw" },
      { env: env({ DOCKER_CONFIG: dir }) },
    );
    expect(saved).toEqual({ file, key: "localhost:5000" });
    const content = JSON.parse(readFileSync(file, "utf8"));
    expect(content).toEqual({ psFormat: "table", auths: { "localhost:5000": { auth: b64("me:pw") } } });
    expect(readFileSync(file, "utf8")).toContain('\n\t"psFormat"');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    await saveLogin("docker.io", { username: "hub", identityToken: "rt" }, { authFile: file });
    expect(JSON.parse(readFileSync(file, "utf8")).auths["https://index.docker.io/v1/"]).toEqual({
      auth: b64("hub:"),
      identitytoken: "rt",
    });
    expect(await removeLogin("localhost:5000", { authFile: file })).toBe(true);
    expect(await removeLogin("localhost:5000", { authFile: file })).toBe(false);
    expect(Object.keys(JSON.parse(readFileSync(file, "utf8")).auths)).toEqual([
      "https://index.docker.io/v1/",
    ]);
  });

  test("into the credential store, with an empty auths entry", async () => {
    const log = writeHelper("saver", {});
    const file = path.join(tmp, "docker-store", "config.json");
    mkdirSync(path.dirname(file));
    writeFileSync(file, JSON.stringify({ credsStore: "saver" }));
    const saved = await saveLogin(
      "ghcr.io",
      { username: "me", password: "pw" },
      { authFile: file, env: env() },
    );
    expect(saved.helper).toBe("saver");
    expect(JSON.parse(readFileSync(file, "utf8")).auths).toEqual({ "ghcr.io": {} });
    expect(readFileSync(log, "utf8")).toContain(
      'store {"ServerURL":"ghcr.io","Username":"me","Secret":"pw"}',
    );
  });
});
