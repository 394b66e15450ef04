import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FaultProxy, startFaultProxy } from "./helpers/fault-proxy.js";
import { makeBusyboxRootfs, makeUmociImage } from "./helpers/images.js";
import { basicAuthorization, startRegistry, type TestRegistry } from "./helpers/registry.js";
import { runSkopeo, skopeoCopy, skopeoFlags, skopeoInspect } from "./helpers/registry-skopeo.js";
import { libtrustKeyId, parseScope, startTokenIssuer } from "./helpers/token-issuer.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const ACCEPT = [OCI_MANIFEST, "application/vnd.oci.image.index.v1+json"].join(", ");

function sha256(data: Buffer | Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

interface Fixture {
  layout: string;
  manifestDigest: string;
  layerDigest: string;
  layerSize: number;
}

let tmp: string;
let image: Fixture;
let plain: TestRegistry;
let basic: TestRegistry;
let secure: TestRegistry;
let token: TestRegistry;

function readLayout(layout: string): Fixture {
  const index = JSON.parse(readFileSync(path.join(layout, "index.json"), "utf8")) as {
    manifests: { digest: string }[];
  };
  const manifestDigest = index.manifests[0]!.digest;
  const blob = (d: string) => path.join(layout, "blobs", ...d.split(":"));
  const manifest = JSON.parse(readFileSync(blob(manifestDigest), "utf8")) as {
    layers: { digest: string; size: number }[];
  };
  const layer = manifest.layers[0]!;
  return { layout, manifestDigest, layerDigest: layer.digest, layerSize: layer.size };
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "cairn-registry-infra-"));
  const rootfs = makeBusyboxRootfs(path.join(tmp, "rootfs"));
  image = readLayout(makeUmociImage(path.join(tmp, "layout"), "v1", rootfs));
  [plain, basic, secure, token] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: "basic" }),
    startRegistry({ tls: true }),
    startRegistry({ auth: "token" }),
  ]);
});

afterAll(async () => {
  await Promise.all([plain, basic, secure, token].map((r) => r?.stop()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** GET a blob with node:http, counting the bytes that arrive before the connection ends. */
function rawGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      const done = (complete: boolean) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete });
      res.on("end", () => done(res.complete));
      res.on("error", () => done(false));
      res.on("aborted", () => done(false));
    });
    req.on("error", reject);
  });
}

describe("startRegistry: plain", () => {
  it("answers the ping with the distribution API version", async () => {
    const res = await fetch(`${plain.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect(plain.url).toBe(`http://${plain.host}`);
    expect(plain.host).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("takes a skopeo copy and serves the same digests to skopeo and fetch", async () => {
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${plain.host}/infra/busybox:v1`, { dest: plain });
    const raw = await skopeoInspect(plain, "infra/busybox:v1", { raw: true });
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);
    const inspected = JSON.parse(await skopeoInspect(plain, "infra/busybox:v1")) as { Digest: string };
    expect(inspected.Digest).toBe(image.manifestDigest);

    const res = await fetch(`${plain.url}/v2/infra/busybox/manifests/v1`, { headers: { accept: ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(image.manifestDigest);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(image.manifestDigest);
    const blob = await fetch(`${plain.url}/v2/infra/busybox/blobs/${image.layerDigest}`);
    expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(image.layerDigest);
  });

  it("deletes manifests (deletes are enabled)", async () => {
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${plain.host}/infra/deleteme:v1`, { dest: plain });
    const del = await fetch(`${plain.url}/v2/infra/deleteme/manifests/${image.manifestDigest}`, {
      method: "DELETE",
    });
    expect(del.status).toBe(202);
    const after = await fetch(`${plain.url}/v2/infra/deleteme/manifests/v1`, { headers: { accept: ACCEPT } });
    expect(after.status).toBe(404);
  });

  it("keeps its storage under dataDir and removes everything on stop", async () => {
    const extra = await startRegistry({ deleteEnabled: false });
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${extra.host}/infra/x:v1`, { dest: extra });
    const layerPath = path.join(
      extra.dataDir,
      "docker/registry/v2/blobs/sha256",
      image.layerDigest.slice(7, 9),
      image.layerDigest.slice(7),
      "data",
    );
    expect(sha256(readFileSync(layerPath))).toBe(image.layerDigest);
    const del = await fetch(`${extra.url}/v2/infra/x/manifests/${image.manifestDigest}`, {
      method: "DELETE",
    });
    expect(del.status).toBe(405);
    await extra.stop();
    await expect(fetch(`${extra.url}/v2/`)).rejects.toThrow();
    expect(() => readFileSync(layerPath)).toThrow();
  });

  it("fails naming the Debian package when docker-registry is missing", async () => {
    const saved = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await expect(startRegistry()).rejects.toThrow(/apt-get install docker-registry/);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe("startRegistry: basic auth", () => {
  it("challenges with Basic and rejects wrong credentials", async () => {
    const res = await fetch(`${basic.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="cairn-test-registry"');
    const wrong = await fetch(`${basic.url}/v2/`, {
      headers: { authorization: basicAuthorization(basic.username!, "wrong") },
    });
    expect(wrong.status).toBe(401);
  });

  it("accepts the generated credentials", async () => {
    expect(basic.username).toBeTruthy();
    const res = await fetch(`${basic.url}/v2/`, {
      headers: { authorization: basicAuthorization(basic.username!, basic.password!) },
    });
    expect(res.status).toBe(200);
  });

  it("works with skopeo --dest-creds and refuses skopeo without them", async () => {
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${basic.host}/infra/busybox:v1`, { dest: basic });
    const raw = await skopeoInspect(basic, "infra/busybox:v1", { raw: true });
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);
    const anon = await runSkopeo([
      "inspect",
      ...skopeoFlags({ url: basic.url }, ""),
      `docker://${basic.host}/infra/busybox:v1`,
    ]);
    expect(anon.code).not.toBe(0);
    expect(anon.stderr).toMatch(/unauthorized|authentication required/i);
  });
});

describe("startRegistry: TLS", () => {
  it("serves https with a certificate for 127.0.0.1 and localhost from its own CA", async () => {
    expect(secure.url).toBe(`https://${secure.host}`);
    const cert = new X509Certificate(readFileSync(secure.caFile!));
    expect(cert.ca).toBe(true);
    const dispatcher = new Agent({ connect: { ca: secure.caPem } });
    const res = await fetch(`${secure.url}/v2/`, { dispatcher });
    expect(res.status).toBe(200);
    const viaName = await fetch(`https://localhost:${secure.host.split(":")[1]}/v2/`, { dispatcher });
    expect(viaName.status).toBe(200);
    await dispatcher.close();
  });

  it("is refused without the CA", async () => {
    const err = await fetch(`${secure.url}/v2/`).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(String((err?.cause as { code?: string } | undefined)?.code)).toMatch(
      /SELF_SIGNED|UNABLE_TO_VERIFY/,
    );
  });

  it("works with skopeo --dest-cert-dir and fails with certificate errors without it", async () => {
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${secure.host}/infra/busybox:v1`, { dest: secure });
    const raw = await skopeoInspect(secure, "infra/busybox:v1", { raw: true });
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);
    const noCa = await runSkopeo(["inspect", "--no-creds", `docker://${secure.host}/infra/busybox:v1`]);
    expect(noCa.code).not.toBe(0);
    expect(noCa.stderr).toMatch(/x509|certificate/i);
  });

  it("can require client certificates", async () => {
    const mtls = await startRegistry({ tlsClientAuth: true });
    try {
      const caOnly = new Agent({ connect: { ca: mtls.caPem } });
      await expect(fetch(`${mtls.url}/v2/`, { dispatcher: caOnly })).rejects.toThrow();
      await caOnly.close();
      const withClient = new Agent({
        connect: {
          ca: mtls.caPem,
          cert: readFileSync(mtls.clientCertFile!),
          key: readFileSync(mtls.clientKeyFile!),
        },
      });
      expect((await fetch(`${mtls.url}/v2/`, { dispatcher: withClient })).status).toBe(200);
      await withClient.close();
      await skopeoCopy(`oci:${image.layout}:v1`, `docker://${mtls.host}/infra/busybox:v1`, { dest: mtls });
    } finally {
      await mtls.stop();
    }
  });
});

describe("startRegistry: token auth", () => {
  const tokenFor = async (scope: string[], creds?: { u: string; p: string }) => {
    const issuer = token.tokenIssuer!;
    const q = new URLSearchParams({ service: issuer.service });
    for (const s of scope) q.append("scope", s);
    const res = await fetch(`${issuer.realm}?${q}`, {
      headers: creds ? { authorization: basicAuthorization(creds.u, creds.p) } : {},
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };
  const user = () => ({ u: token.username!, p: token.password! });

  it("challenges with Bearer naming the issuer's realm and service", async () => {
    const res = await fetch(`${token.url}/v2/`);
    expect(res.status).toBe(401);
    const issuer = token.tokenIssuer!;
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="${issuer.realm}",service="${issuer.service}"`,
    );
    const scoped = await fetch(`${token.url}/v2/infra/busybox/manifests/v1`);
    expect(scoped.headers.get("www-authenticate")).toContain('scope="repository:infra/busybox:pull"');
  });

  it("issues tokens the registry accepts (GET form, x5c and libtrust kid)", async () => {
    const body = await tokenFor([], user());
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBe(300);
    expect(typeof body.issued_at).toBe("string");
    const [header] = String(body.token).split(".");
    const jose = JSON.parse(Buffer.from(header!, "base64url").toString()) as {
      alg: string;
      kid: string;
      x5c: string[];
    };
    expect(jose.alg).toBe("ES256");
    expect(jose.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(jose.kid).toBe(libtrustKeyId(new X509Certificate(token.tokenIssuer!.certPem).publicKey));
    const res = await fetch(`${token.url}/v2/`, { headers: { authorization: `Bearer ${body.token}` } });
    expect(res.status).toBe(200);
  });

  it("rejects bad credentials at the issuer, and expired or foreign tokens at the registry", async () => {
    const issuer = token.tokenIssuer!;
    const bad = await fetch(`${issuer.realm}?service=${issuer.service}`, {
      headers: { authorization: basicAuthorization(token.username!, "nope") },
    });
    expect(bad.status).toBe(401);
    const wrongService = await fetch(`${issuer.realm}?service=other`);
    expect(wrongService.status).toBe(400);
    const expired = issuer.mint([], { issuedAt: Math.floor(Date.now() / 1000) - 1000, expiresIn: 60 });
    expect(
      (await fetch(`${token.url}/v2/`, { headers: { authorization: `Bearer ${expired}` } })).status,
    ).toBe(401);
    const other = await startTokenIssuer({ service: issuer.service, issuer: issuer.issuer });
    const foreign = other.mint([]);
    await other.stop();
    expect(
      (await fetch(`${token.url}/v2/`, { headers: { authorization: `Bearer ${foreign}` } })).status,
    ).toBe(401);
  });

  it("takes a skopeo copy with --dest-creds, asking the issuer for push scope", async () => {
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${token.host}/infra/busybox:v1`, { dest: token });
    const raw = await skopeoInspect(token, "infra/busybox:v1", { raw: true });
    expect(sha256(Buffer.from(raw))).toBe(image.manifestDigest);
    const pushes = token.tokenIssuer!.requests.filter((r) =>
      r.granted.some((g) => g.name === "infra/busybox" && g.actions.includes("push")),
    );
    expect(pushes.length).toBeGreaterThan(0);
    expect(pushes[0]!.account).toBe(token.username);
  });

  it("grants anonymous pull only, and push to the user", async () => {
    const scope = "repository:infra/busybox:pull,push";
    const anon = await tokenFor([scope]);
    const manifest = await fetch(`${token.url}/v2/infra/busybox/manifests/v1`, {
      headers: { authorization: `Bearer ${anon.token}`, accept: ACCEPT },
    });
    expect(manifest.status).toBe(200);
    const anonPush = await fetch(`${token.url}/v2/infra/busybox/blobs/uploads/`, {
      method: "POST",
      headers: { authorization: `Bearer ${anon.token}` },
    });
    expect(anonPush.status).toBe(401);
    expect(anonPush.headers.get("www-authenticate")).toContain('error="insufficient_scope"');

    const mine = await tokenFor([scope], user());
    const push = await fetch(`${token.url}/v2/infra/busybox/blobs/uploads/`, {
      method: "POST",
      headers: { authorization: `Bearer ${mine.token}` },
    });
    expect(push.status).toBe(202);
    expect(push.headers.get("location")).toBeTruthy();
  });

  it("answers the OAuth2 POST form with refresh tokens", async () => {
    const issuer = token.tokenIssuer!;
    const post = (form: Record<string, string>) =>
      fetch(issuer.realm, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form).toString(),
      });
    const scope = "repository:infra/busybox:pull";
    const first = await post({
      grant_type: "password",
      username: token.username!,
      password: token.password!,
      service: issuer.service,
      client_id: "cairn-test",
      access_type: "offline",
      scope,
    });
    expect(first.status).toBe(200);
    const body = (await first.json()) as Record<string, unknown>;
    expect(typeof body.refresh_token).toBe("string");
    expect(body.scope).toBe(scope);
    expect(body.token).toBeUndefined();

    const refreshed = await post({
      grant_type: "refresh_token",
      refresh_token: String(body.refresh_token),
      service: issuer.service,
      client_id: "cairn-test",
      scope,
    });
    expect(refreshed.status).toBe(200);
    const access = ((await refreshed.json()) as { access_token: string }).access_token;
    const res = await fetch(`${token.url}/v2/infra/busybox/manifests/v1`, {
      headers: { authorization: `Bearer ${access}`, accept: ACCEPT },
    });
    expect(res.status).toBe(200);

    const seeded = issuer.issueRefreshToken(token.username!);
    expect((await post({ grant_type: "refresh_token", refresh_token: seeded, client_id: "c" })).status).toBe(
      200,
    );
    issuer.revokeRefreshTokens();
    expect((await post({ grant_type: "refresh_token", refresh_token: seeded, client_id: "c" })).status).toBe(
      401,
    );
    const wrong = await post({
      grant_type: "password",
      username: token.username!,
      password: "x",
      client_id: "c",
    });
    expect(wrong.status).toBe(401);
    expect((await post({ grant_type: "password", username: token.username!, password: "x" })).status).toBe(
      400,
    );
    expect(issuer.requests.some((r) => r.form?.grant_type === "refresh_token")).toBe(true);
  });

  it("can refuse the POST form (oauth: false) and anonymous access (anonymous: none)", async () => {
    const issuer = await startTokenIssuer({ oauth: false, anonymous: "none" });
    try {
      const post = await fetch(issuer.realm, { method: "POST", body: "grant_type=password&client_id=c" });
      expect(post.status).toBe(404);
      const anon = await fetch(`${issuer.realm}?scope=repository:a:pull`);
      expect(anon.status).toBe(200);
      expect(issuer.requests.at(-1)!.granted).toEqual([]);
    } finally {
      await issuer.stop();
    }
  });

  it("parses scopes whose names carry a port", () => {
    expect(parseScope("repository:localhost:5000/a/b:pull,push")).toEqual({
      type: "repository",
      name: "localhost:5000/a/b",
      actions: ["pull", "push"],
    });
    expect(parseScope("registry:catalog:*")).toEqual({ type: "registry", name: "catalog", actions: ["*"] });
    expect(parseScope("nonsense")).toBeUndefined();
  });
});

describe("startFaultProxy", () => {
  let proxy: FaultProxy;
  let auth: Record<string, string>;
  const blobPath = () => `/v2/infra/busybox/blobs/${image.layerDigest}`;
  const manifestPath = "/v2/infra/busybox/manifests/v1";

  beforeAll(async () => {
    // In front of the basic-auth registry, so the redirect test shows credentials stay home.
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${basic.host}/infra/busybox:v1`, { dest: basic });
    proxy = await startFaultProxy(basic.url);
    auth = { authorization: basicAuthorization(basic.username!, basic.password!) };
  });
  afterAll(() => proxy?.stop());

  it("passes requests through, keeping the Host so Locations point at the proxy", async () => {
    proxy.setRules([]);
    proxy.clearRecords();
    const res = await fetch(`${proxy.url}/v2/infra/busybox/blobs/uploads/`, {
      method: "POST",
      headers: auth,
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("location")).toMatch(
      new RegExp(`^http://${proxy.host.replace(/\./g, "\\.")}/v2/`),
    );
    expect(proxy.requests).toHaveLength(1);
    expect(proxy.requests[0]).toMatchObject({ method: "POST", status: 202 });
    expect(proxy.requests[0]!.headers.authorization).toBe(auth.authorization);
  });

  it("cuts a blob after N bytes once, then serves it whole", async () => {
    proxy.setRules([{ method: "GET", path: /\/blobs\/sha256:/, times: 1, action: "cut", afterBytes: 1000 }]);
    const cut = await rawGet(`${proxy.url}${blobPath()}`, auth);
    expect(cut.status).toBe(200);
    expect(Number(cut.headers["content-length"])).toBe(image.layerSize);
    expect(cut.complete).toBe(false);
    expect(cut.body.length).toBe(1000);
    expect(proxy.remaining()).toEqual([0]);
    const whole = await rawGet(`${proxy.url}${blobPath()}`, auth);
    expect(whole.complete).toBe(true);
    expect(sha256(whole.body)).toBe(image.layerDigest);
  });

  it("does not spend a cut on a non-2xx answer", async () => {
    proxy.setRules([{ method: "GET", path: /\/blobs\//, times: 1, action: "cut", afterBytes: 10 }]);
    const unauthorized = await rawGet(`${proxy.url}${blobPath()}`);
    expect(unauthorized.status).toBe(401);
    expect(proxy.remaining()).toEqual([1]);
  });

  it("answers 429 with Retry-After: 1 and 503 for the given counts", async () => {
    proxy.setRules([
      { method: "GET", path: /\/manifests\//, times: 2, action: "status", status: 429 },
      { method: "GET", path: /\/manifests\//, times: 1, action: "status", status: 503 },
    ]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${proxy.url}${manifestPath}`, { headers: { ...auth, accept: ACCEPT } });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("retry-after")).toBe("1");
        expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe(
          "TOOMANYREQUESTS",
        );
      } else if (res.status === 503) {
        expect(res.headers.get("retry-after")).toBeNull();
        await res.arrayBuffer();
      } else {
        expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(image.manifestDigest);
      }
    }
    expect(statuses).toEqual([429, 429, 503, 200]);
    expect(proxy.requests.slice(-4).map((r) => r.fault)).toEqual(["status", "status", "status", undefined]);
  });

  it("resets a connection", async () => {
    proxy.setRules([{ path: /\/v2\/$/, times: 1, action: "reset" }]);
    await expect(fetch(`${proxy.url}/v2/`, { headers: auth })).rejects.toThrow();
    expect((await fetch(`${proxy.url}/v2/`, { headers: auth })).status).toBe(200);
  });

  it("redirects a blob to another host that serves it without the client's credentials", async () => {
    proxy.setRules([{ method: "GET", path: /\/blobs\/sha256:/, times: 2, action: "redirect" }]);
    proxy.clearRecords();
    const first = await fetch(`${proxy.url}${blobPath()}`, { headers: auth, redirect: "manual" });
    expect(first.status).toBe(307);
    const location = first.headers.get("location")!;
    expect(location.startsWith(`${proxy.blobHost.url}${blobPath()}?X-Cairn-Signature=`)).toBe(true);
    expect(proxy.blobHost.host).toMatch(/^localhost:\d+$/);

    const served = await fetch(location);
    expect(served.status).toBe(200);
    expect(sha256(Buffer.from(await served.arrayBuffer()))).toBe(image.layerDigest);
    const ranged = await fetch(location, { headers: { range: "bytes=1000-" } });
    expect(ranged.status).toBe(206);
    expect(Number(ranged.headers.get("content-length"))).toBe(image.layerSize - 1000);
    await ranged.arrayBuffer();

    const leaked = await fetch(location, { headers: auth });
    expect(leaked.status).toBe(400);
    expect(proxy.blobHost.requests.map((r) => r.headers.authorization)).toEqual([
      undefined,
      undefined,
      auth.authorization,
    ]);
    expect((await fetch(`${proxy.blobHost.url}${blobPath()}?X-Cairn-Signature=forged`)).status).toBe(403);

    // undici's fetch follows the redirect and drops Authorization on the way to the other origin.
    const followed = await fetch(`${proxy.url}${blobPath()}`, { headers: auth });
    expect(followed.status).toBe(200);
    expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(image.layerDigest);
    expect(proxy.blobHost.requests.at(-1)!.headers.authorization).toBeUndefined();
    expect(proxy.remaining()).toEqual([0]);
  });

  it("applies blobHost rules behind a redirect", async () => {
    proxy.setRules([
      { method: "GET", path: /\/blobs\//, times: 1, action: "redirect" },
      { method: "GET", path: /\/blobs\//, times: 1, action: "cut", afterBytes: 500, at: "blobHost" },
    ]);
    const first = await fetch(`${proxy.url}${blobPath()}`, { headers: auth, redirect: "manual" });
    const location = first.headers.get("location")!;
    const cut = await rawGet(location);
    expect(cut.body.length).toBe(500);
    expect(cut.complete).toBe(false);
    const resumed = await rawGet(location, { range: "bytes=500-" });
    expect(resumed.status).toBe(206);
    const whole = Buffer.concat([cut.body, resumed.body]);
    expect(sha256(whole)).toBe(image.layerDigest);
  });

  it("insists on bounded rules", () => {
    expect(() => proxy.setRules([{ path: /x/, times: 0, action: "reset" }])).toThrow(/positive integer/);
    expect(() => proxy.setRules([{ path: /x/, times: 1, action: "cut", afterBytes: -1 }])).toThrow(
      /afterBytes/,
    );
  });

  it("proxies to a TLS registry given its CA", async () => {
    const tlsProxy = await startFaultProxy(secure.url, [], { ca: secure.caPem });
    try {
      const res = await fetch(`${tlsProxy.url}/v2/infra/busybox/manifests/v1`, {
        headers: { accept: ACCEPT },
      });
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(image.manifestDigest);
      const up = await fetch(`${tlsProxy.url}/v2/infra/busybox/blobs/uploads/`, { method: "POST" });
      expect(up.headers.get("location")).toMatch(
        new RegExp(`^http://${tlsProxy.host.replace(/\./g, "\\.")}/`),
      );
    } finally {
      await tlsProxy.stop();
    }
  });

  it("carries a skopeo push (POST, PATCH, PUT bodies) through to the registry", async () => {
    proxy.setRules([]);
    proxy.clearRecords();
    await skopeoCopy(`oci:${image.layout}:v1`, `docker://${proxy.host}/infra/pushed:v1`, {
      dest: { url: proxy.url, username: basic.username, password: basic.password },
    });
    const methods = new Set(proxy.requests.map((r) => r.method));
    expect([...methods]).toEqual(expect.arrayContaining(["POST", "PATCH", "PUT"]));
    const res = await fetch(`${basic.url}/v2/infra/pushed/blobs/${image.layerDigest}`, { headers: auth });
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(image.layerDigest);
  });

  it("lets skopeo pull through the proxy with blobs redirected", async () => {
    proxy.setRules([{ method: "GET", path: /\/blobs\/sha256:/, times: 5, action: "redirect" }]);
    proxy.clearRecords();
    const dest = path.join(tmp, "through-proxy");
    const r = await runSkopeo([
      "copy",
      ...skopeoFlags({ url: proxy.url, username: basic.username, password: basic.password }, "src-"),
      `docker://${proxy.host}/infra/busybox:v1`,
      `oci:${dest}:v1`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readLayout(dest).manifestDigest).toBe(image.manifestDigest);
    expect(proxy.requests.filter((q) => q.fault === "redirect")).toHaveLength(2);
    expect(proxy.blobHost.requests.length).toBe(2);
    expect(proxy.blobHost.requests.every((q) => q.headers.authorization === undefined)).toBe(true);
  });
});
