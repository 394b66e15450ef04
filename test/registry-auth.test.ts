import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import {
  clearTokenCache,
  closeRegistryConnections,
  copy,
  findCredentials,
  login,
  pull,
  push,
  RegistryClient,
  registry,
} from "../src/registry/index.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";
import { makeImage } from "./helpers/remote-images.js";

let basic: TestRegistry;
let token: TestRegistry;
let tls: TestRegistry;
let tmp: string;

beforeAll(async () => {
  [basic, token, tls] = await Promise.all([
    startRegistry({ auth: "basic" }),
    startRegistry({ auth: "token" }),
    startRegistry({ tls: true, tlsClientAuth: true }),
  ]);
  tmp = mkdtempSync(path.join(os.tmpdir(), "cairn-reg-auth-"));
});

afterAll(async () => {
  await closeRegistryConnections();
  await Promise.all([basic?.stop(), token?.stop(), tls?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

function creds(r: TestRegistry) {
  return { username: r.username as string, password: r.password as string };
}

describe("basic auth (htpasswd)", () => {
  test("push and pull with explicit credentials", async () => {
    const image = await makeImage({ label: "basic" });
    await push(image, `${basic.host}/cairn/basic:1`, { auth: creds(basic) });
    const back = await registry.image(`${basic.host}/cairn/basic:1`, { auth: creds(basic) });
    expect(await back.digest()).toBe(await image.digest());
  });

  test("no credentials or a wrong password is E_AUTH naming the registry", async () => {
    const err = await registry.image(`${basic.host}/cairn/basic:1`, { auth: "anonymous" }).catch((e) => e);
    expect(isCairnError(err, "E_AUTH")).toBe(true);
    expect(err.message).toContain(basic.host);
    const wrong = await registry
      .image(`${basic.host}/cairn/basic:1`, {
        auth: { username: basic.username as string, password: "nope" },
      })
      .catch((e) => e);
    expect(isCairnError(wrong, "E_AUTH")).toBe(true);
    expect(wrong.message).toMatch(/401/);
  });

  test("login checks the password and writes config.json as docker does", async () => {
    const file = path.join(tmp, "docker", "config.json");
    await expect(
      login(basic.host, { username: basic.username as string, password: "bad", authFile: file }),
    ).rejects.toSatisfy((e) => isCairnError(e, "E_AUTH"));
    const saved = await login(basic.host, { ...creds(basic), authFile: file });
    expect(saved.key).toBe(basic.host);
    const content = JSON.parse(readFileSync(file, "utf8"));
    expect(content.auths[basic.host].auth).toBe(
      Buffer.from(`${basic.username}:${basic.password}`).toString("base64"),
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const image = await makeImage({ label: "from-config" });
    const auth = (host: string) => findCredentials(host, { authFile: file });
    await push(image, `${basic.host}/cairn/cfg:1`, { auth });
    expect((await pull(`${basic.host}/cairn/cfg:1`, { auth, layout: path.join(tmp, "cfg") })).digest).toBe(
      await image.digest(),
    );
  });
});

describe("token auth", () => {
  test("pull anonymously, push with credentials, and one token per scope set, reused", async () => {
    clearTokenCache();
    const issuer = token.tokenIssuer!;
    const image = await makeImage({ label: "token" });
    await expect(push(image, `${token.host}/cairn/tok:1`, { auth: "anonymous" })).rejects.toSatisfy((e) =>
      isCairnError(e, "E_AUTH"),
    );
    issuer.requests.length = 0;
    await push(image, `${token.host}/cairn/tok:1`, { auth: creds(token) });
    const pushTokens = issuer.requests.filter((r) => r.status === 200 && r.account === token.username);
    expect(pushTokens).toHaveLength(1);
    expect(decodeURIComponent(pushTokens[0]!.url)).toContain("repository:cairn/tok:pull,push");

    const back = await registry.image(`${token.host}/cairn/tok:1`, { auth: "anonymous" });
    expect((await back.config()).architecture).toBe("amd64");
    const before = issuer.requests.length;
    await registry.image(`${token.host}/cairn/tok:1`, { auth: "anonymous" });
    expect(issuer.requests.length).toBe(before);
  });

  test("a copy asks for push and mount scopes in one token and mounts", async () => {
    clearTokenCache();
    const issuer = token.tokenIssuer!;
    const image = await makeImage({ label: "token-mount" });
    await push(image, `${token.host}/cairn/base:1`, { auth: creds(token) });
    issuer.requests.length = 0;
    const result = await copy(`${token.host}/cairn/base:1`, `${token.host}/cairn/derived:1`, {
      auth: creds(token),
    });
    expect(result.write?.blobs.mounted).toBe(3);
    const urls = issuer.requests.map((r) => decodeURIComponent(r.url));
    expect(
      urls.some(
        (u) =>
          u.includes("scope=repository:cairn/base:pull") &&
          u.includes("scope=repository:cairn/derived:pull,push"),
      ),
    ).toBe(true);
  });

  test("the catalog needs a registry:catalog:* token", async () => {
    const issuer = token.tokenIssuer!;
    issuer.requests.length = 0;
    const repos = await new RegistryClient(token.host, { auth: creds(token) }).catalog();
    expect(repos).toContain("cairn/tok");
    expect(issuer.requests.some((r) => decodeURIComponent(r.url).includes("scope=registry:catalog:*"))).toBe(
      true,
    );
  });

  test("login stores the refresh token as identitytoken, used with the OAuth2 POST", async () => {
    clearTokenCache();
    const issuer = token.tokenIssuer!;
    const file = path.join(tmp, "token-config.json");
    await login(token.host, { ...creds(token), authFile: file });
    const entry = JSON.parse(readFileSync(file, "utf8")).auths[token.host];
    expect(entry.identitytoken).toMatch(/^refresh-/);
    issuer.requests.length = 0;
    const image = await makeImage({ label: "identity" });
    await push(image, `${token.host}/cairn/ident:1`, {
      auth: (host) => findCredentials(host, { authFile: file }),
    });
    const post = issuer.requests.find((r) => r.method === "POST");
    expect(post?.form?.["grant_type"]).toBe("refresh_token");
    expect(post?.form?.["scope"]).toContain("repository:cairn/ident:pull,push");
    issuer.revokeRefreshTokens();
    clearTokenCache();
    await expect(
      registry.image(`${token.host}/cairn/ident:1`, {
        auth: (host) => findCredentials(host, { authFile: file }),
      }),
    ).rejects.toSatisfy((e) => isCairnError(e, "E_AUTH"));
  });
});

describe("TLS", () => {
  test("a registry with its own CA and client certificates is reached with caFile and certFile/keyFile", async () => {
    const image = await makeImage({ label: "tls" });
    const options = { caFile: tls.caFile!, certFile: tls.clientCertFile!, keyFile: tls.clientKeyFile! };
    await push(image, `${tls.host}/cairn/tls:1`, options);
    const back = await registry.image(`${tls.host}/cairn/tls:1`, {
      hosts: { [tls.host]: options },
    });
    expect(await back.digest()).toBe(await image.digest());
  });

  test("an untrusted certificate fails verification unless insecure", async () => {
    const noCa = await new RegistryClient(tls.host, { plainHttp: false, retry: { retries: 0 } })
      .ping()
      .catch((e) => e);
    expect(isCairnError(noCa, "E_REGISTRY")).toBe(true);
    expect(String(noCa.message)).toMatch(/certificate|self.signed|CERT/i);
    const insecure = new RegistryClient(tls.host, {
      insecure: true,
      certFile: tls.clientCertFile!,
      keyFile: tls.clientKeyFile!,
    });
    expect((await insecure.ping()).protocol).toBe("https:");
  });
});
