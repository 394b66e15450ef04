import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { MediaType } from "../src/manifest/index.js";
import { clearTokenCache, closeRegistryConnections, RegistryClient } from "../src/registry/index.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface Tiny {
  host: string;
  url: string;
  requests: Array<{ method: string; url: string; headers: IncomingMessage["headers"] }>;
  close(): Promise<void>;
}

const servers: Server[] = [];

/** A tiny HTTP server on 127.0.0.1 that reads each request body, then calls `handler`. */
async function serve(handler: Handler): Promise<Tiny> {
  const requests: Tiny["requests"] = [];
  const server = createServer(async (req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: { ...req.headers } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    handler(req, res, Buffer.concat(chunks));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

afterAll(() => closeRegistryConnections());

const fast = { retry: { minDelayMs: 10, maxDelayMs: 50 } };

function digestOf(b: Buffer | string): `sha256:${string}` {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

describe("pagination", () => {
  test("tags follow relative and absolute Link headers until there is none", async () => {
    const all = ["a", "b", "c", "d", "e"];
    const srv = await serve((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/v2/") return json(res, 200, {});
      const n = Number(url.searchParams.get("n") ?? 100);
      const last = url.searchParams.get("last");
      const rest = last ? all.filter((t) => t > last) : all;
      const page = rest.slice(0, n);
      const headers: Record<string, string> = {};
      if (rest.length > n) {
        const next = `/v2/acme/app/tags/list?n=${n}&last=${page.at(-1)}`;
        // alternate relative and absolute links, with another rel before "next"
        headers["link"] = page.at(-1) === "b" ? `<${next}>; rel="next"` : `<${srv.url}${next}>; rel="next"`;
      }
      json(res, 200, { name: "acme/app", tags: page }, headers);
    });
    const client = new RegistryClient(srv.host);
    expect(await client.listTags("acme/app", { pageSize: 2 })).toEqual(all);
    const pageRequests = srv.requests.filter((r) => r.url.includes("tags/list"));
    expect(pageRequests.map((r) => r.url)).toEqual([
      "/v2/acme/app/tags/list?n=2",
      "/v2/acme/app/tags/list?n=2&last=b",
      "/v2/acme/app/tags/list?n=2&last=d",
    ]);
    expect(await client.listTags("acme/app", { last: "c" })).toEqual(["d", "e"]);
  });

  test("a Link that loops back stops the listing", async () => {
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      json(res, 200, { repositories: ["x"] }, { link: '</v2/_catalog?n=1>; rel="next"' });
    });
    expect(await new RegistryClient(srv.host).catalog({ pageSize: 1 })).toEqual(["x"]);
  });
});

describe("downloads", () => {
  const blob = Buffer.alloc(200_000, 7);
  blob.write("distinct start");
  const digest = digestOf(blob);

  test("a server that ignores Range after a cut is answered by skipping what we have", async () => {
    let gets = 0;
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      gets++;
      res.writeHead(200, { "content-length": blob.length, etag: '"blob"' });
      if (gets === 1) {
        res.write(blob.subarray(0, 70_000), () => setTimeout(() => res.socket?.destroy(), 10));
        return;
      }
      res.end(blob);
    });
    const client = new RegistryClient(srv.host, fast);
    const bytes = await client.readBlob("acme/app", { mediaType: "x", digest, size: blob.length }, 1 << 20);
    expect(Buffer.from(bytes).equals(blob)).toBe(true);
    expect(srv.requests.at(-1)?.headers.range).toMatch(/^bytes=\d+-$/);
    expect(srv.requests.at(-1)?.headers["if-range"]).toBe('"blob"');
  });

  test("bytes that do not match the digest fail the stream with E_DIGEST_MISMATCH", async () => {
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      const wrong = Buffer.from(blob);
      wrong[100] = 0;
      res.writeHead(200, { "content-length": wrong.length });
      res.end(wrong);
    });
    const err = await new RegistryClient(srv.host)
      .readBlob("acme/app", { mediaType: "x", digest, size: blob.length }, 1 << 20)
      .catch((e) => e);
    expect(isCairnError(err, "E_DIGEST_MISMATCH")).toBe(true);
  });

  test("a manifest whose Docker-Content-Digest disagrees with its bytes is refused", async () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      res.writeHead(200, { "content-type": MediaType.ociIndex, "docker-content-digest": digestOf("other") });
      res.end(body);
    });
    const err = await new RegistryClient(srv.host).getManifest("acme/app", "latest").catch((e) => e);
    expect(isCairnError(err, "E_DIGEST_MISMATCH")).toBe(true);
    expect(srv.requests.at(-1)?.headers.accept).toContain(MediaType.ociManifest);
    expect(srv.requests.at(-1)?.headers.accept).toContain(MediaType.dockerManifestList);
  });

  test("a manifest larger than 4 MiB is refused before it is read whole", async () => {
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      res.writeHead(200, { "content-type": MediaType.ociManifest });
      res.end(Buffer.alloc(5 << 20, 32));
    });
    const err = await new RegistryClient(srv.host).getManifest("acme/app", "big").catch((e) => e);
    expect(isCairnError(err, "E_MANIFEST_TOO_LARGE")).toBe(true);
  });

  test("registry error JSON is carried in E_REGISTRY and 404 is E_NOT_FOUND", async () => {
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      if (req.url?.includes("missing"))
        return json(res, 404, { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] });
      json(res, 400, { errors: [{ code: "NAME_INVALID", message: "invalid repository name" }] });
    });
    const client = new RegistryClient(srv.host);
    const notFound = await client.getManifest("acme/app", "missing").catch((e) => e);
    expect(isCairnError(notFound, "E_NOT_FOUND")).toBe(true);
    expect(notFound.message).toContain("MANIFEST_UNKNOWN");
    const bad = await client.getManifest("acme/app", "x").catch((e) => e);
    expect(isCairnError(bad, "E_REGISTRY")).toBe(true);
    expect(bad.details.errors).toEqual([{ code: "NAME_INVALID", message: "invalid repository name" }]);
    expect(bad.message).toContain("NAME_INVALID: invalid repository name");
  });
});

describe("retries", () => {
  test("Retry-After as an HTTP date is honoured", async () => {
    let n = 0;
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      if (n++ === 0) {
        res.writeHead(429, { "retry-after": new Date(Date.now() + 1500).toUTCString(), "content-length": 0 });
        return res.end();
      }
      res.writeHead(404, { "content-length": 0 });
      res.end();
    });
    const delays: number[] = [];
    const client = new RegistryClient(srv.host, { ...fast, onRetry: (e) => delays.push(e.delayMs) });
    expect(await client.headBlob("acme/app", digestOf("x"))).toBeUndefined();
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThan(0);
    expect(delays[0]).toBeLessThanOrEqual(1500);
  });

  test("a Retry-After longer than allowed fails at once, and an abort ends a wait", async () => {
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      json(res, 503, { errors: [{ code: "UNAVAILABLE", message: "later" }] }, { "retry-after": "3600" });
    });
    const err = await new RegistryClient(srv.host, fast).getManifest("acme/app", "1").catch((e) => e);
    expect(isCairnError(err, "E_REGISTRY")).toBe(true);
    expect(err.details.status).toBe(503);

    const controller = new AbortController();
    const client = new RegistryClient(srv.host, { retry: { maxRetryAfterMs: 3_600_000 } });
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const aborted = await client.getManifest("acme/app", "1", { signal: controller.signal }).catch((e) => e);
    expect(isCairnError(aborted, "E_ABORTED")).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("redirects and credentials", () => {
  test("Authorization goes to the registry and a same-origin redirect, never to another host", async () => {
    const other = await serve((_req, res) => {
      res.writeHead(200, { "content-length": 5 });
      res.end("hello");
    });
    const srv = await serve((req, res) => {
      if (req.headers.authorization !== "Basic dTpw") {
        res.writeHead(401, { "www-authenticate": 'Basic realm="test"', "content-length": 0 });
        return res.end();
      }
      if (req.url === "/v2/") return json(res, 200, {});
      if (req.url?.startsWith("/v2/acme/app/blobs/")) {
        res.writeHead(307, { location: "/storage/blob", "content-length": 0 });
        return res.end();
      }
      res.writeHead(302, {
        location: `http://localhost:${other.host.split(":")[1]}/signed?x=1`,
        "content-length": 0,
      });
      res.end();
    });
    const client = new RegistryClient(srv.host, { auth: { username: "u", password: "p" } });
    const bytes = await client.readBlob(
      "acme/app",
      { mediaType: "x", digest: digestOf("hello"), size: 5 },
      100,
    );
    expect(Buffer.from(bytes).toString()).toBe("hello");
    expect(srv.requests.find((r) => r.url === "/storage/blob")?.headers.authorization).toBe("Basic dTpw");
    expect(other.requests).toHaveLength(1);
    expect(other.requests[0]?.headers.authorization).toBeUndefined();
  });
});

describe("token lifetime", () => {
  test("a token is reused until expires_in, then fetched again", async () => {
    clearTokenCache();
    let issued = 0;
    const tokens = await serve((req, res) => {
      issued++;
      const url = new URL(req.url ?? "/", "http://x");
      json(res, 200, {
        token: `t${issued}`,
        expires_in: 1,
        scope: url.searchParams.getAll("scope").join(" "),
      });
    });
    const srv = await serve((req, res) => {
      if (!req.headers.authorization?.startsWith("Bearer t")) {
        res.writeHead(401, {
          "www-authenticate": `Bearer realm="${tokens.url}/token",service="tiny",scope="repository:acme/app:pull"`,
          "content-length": 0,
        });
        return res.end();
      }
      res.writeHead(404, { "content-length": 0 });
      res.end();
    });
    const client = new RegistryClient(srv.host, { auth: "anonymous" });
    await client.headBlob("acme/app", digestOf("a"));
    await client.headBlob("acme/app", digestOf("b"));
    expect(issued).toBe(1);
    expect(tokens.requests[0]?.url).toBe("/token?service=tiny&scope=repository%3Aacme%2Fapp%3Apull");
    await new Promise((r) => setTimeout(r, 1100));
    await client.headBlob("acme/app", digestOf("c"));
    expect(issued).toBe(2);
  });
});

describe("uploads", () => {
  /** A minimal upload endpoint: PATCH needs the right start, chunks at least `min` bytes except the last. */
  async function uploadServer(min: number) {
    const uploads = new Map<string, Buffer>();
    const stored = new Map<string, Buffer>();
    let next = 0;
    const srv = await serve((req, res, body) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/v2/") return json(res, 200, {});
      if (req.method === "HEAD" && url.pathname.startsWith("/v2/acme/app/blobs/")) {
        const has = stored.get(url.pathname.split("/").at(-1) ?? "");
        res.writeHead(has ? 200 : 404, { "content-length": has?.length ?? 0 });
        return res.end();
      }
      if (req.method === "POST") {
        const id = `u${next++}`;
        uploads.set(id, Buffer.alloc(0));
        res.writeHead(202, {
          location: `/up/${id}?_state=s%3D0`,
          "oci-chunk-min-length": String(min),
          "content-length": 0,
        });
        return res.end();
      }
      const id = url.pathname.split("/")[2] ?? "";
      const have = uploads.get(id);
      if (!have) return json(res, 404, { errors: [{ code: "BLOB_UPLOAD_UNKNOWN" }] });
      if (req.method === "PATCH") {
        const [start] = String(req.headers["content-range"]).split("-").map(Number);
        if (start !== have.length) {
          res.writeHead(416, { range: `0-${have.length - 1}`, "content-length": 0 });
          return res.end();
        }
        uploads.set(id, Buffer.concat([have, body]));
        res.writeHead(202, {
          location: `/up/${id}?_state=s%3D${have.length + body.length}`,
          range: `0-${have.length + body.length - 1}`,
          "content-length": 0,
        });
        return res.end();
      }
      if (req.method === "PUT") {
        const all = Buffer.concat([have, body]);
        const digest = url.searchParams.get("digest") ?? "";
        if (digestOf(all) !== digest) return json(res, 400, { errors: [{ code: "DIGEST_INVALID" }] });
        stored.set(digest, all);
        res.writeHead(201, {
          location: `/v2/acme/app/blobs/${digest}`,
          "docker-content-digest": digest,
          "content-length": 0,
        });
        return res.end();
      }
      res.writeHead(405, { "content-length": 0 });
      res.end();
    });
    return { srv, stored };
  }

  test("chunks are raised to OCI-Chunk-Min-Length and the registry's query state is kept", async () => {
    const { srv, stored } = await uploadServer(40_000);
    const data = Buffer.alloc(100_000, 3);
    const client = new RegistryClient(srv.host);
    const outcome = await client.pushBlob(
      "acme/app",
      { descriptor: { mediaType: "x", digest: digestOf(data), size: data.length }, open: async () => data },
      { chunkSize: 1000 },
    );
    expect(outcome).toBe("uploaded");
    expect(stored.get(digestOf(data))?.equals(data)).toBe(true);
    const patches = srv.requests.filter((r) => r.method === "PATCH");
    expect(patches.map((p) => p.headers["content-range"])).toEqual(["0-39999", "40000-79999", "80000-99999"]);
    expect(patches[1]?.url).toBe("/up/u0?_state=s%3D40000");
    const put = srv.requests.find((r) => r.method === "PUT");
    expect(put?.url).toBe(`/up/u0?_state=s%3D100000&digest=${encodeURIComponent(digestOf(data))}`);
    expect(
      await client.pushBlob("acme/app", {
        descriptor: { mediaType: "x", digest: digestOf(data), size: data.length },
        open: async () => data,
      }),
    ).toBe("exists");
  });
});

describe("referrers API", () => {
  test("the registry's answer is filtered client-side unless it says it filtered", async () => {
    const subject = digestOf("subject");
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { mediaType: MediaType.ociManifest, digest: digestOf("a"), size: 1, artifactType: "application/a" },
        { mediaType: MediaType.ociManifest, digest: digestOf("b"), size: 1, artifactType: "application/b" },
      ],
    };
    let filtersHeader = false;
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      json(res, 200, index, {
        "content-type": MediaType.ociIndex,
        ...(filtersHeader ? { "oci-filters-applied": "artifactType" } : {}),
      });
    });
    const client = new RegistryClient(srv.host);
    const all = await client.referrers("acme/app", subject);
    expect(all).toEqual({ manifests: index.manifests, source: "api" });
    const filtered = await client.referrers("acme/app", subject, { artifactType: "application/b" });
    expect(filtered.manifests.map((m) => m.artifactType)).toEqual(["application/b"]);
    expect(srv.requests.at(-1)?.url).toBe(`/v2/acme/app/referrers/${subject}?artifactType=application%2Fb`);
    filtersHeader = true;
    const trusted = await client.referrers("acme/app", subject, { artifactType: "application/b" });
    expect(trusted.manifests).toHaveLength(2);
  });
});
