import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../src/build/index.js";
import { openLocal } from "../src/image/index.js";
import { closeRegistryConnections, registryImage, registryWrite } from "../src/registry/index.js";
import { busyboxLayout, cleanup, fileText, recorder, tempDir, vertices, writeTree } from "./build-helpers.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";

let reg: TestRegistry;
let root: string;

beforeAll(async () => {
  reg = await startRegistry();
  root = tempDir("reg");
  const base = await openLocal(busyboxLayout(path.join(root, "base")));
  if ("image" in base) throw new Error("expected an image");
  await registryWrite(`${reg.host}/base/busybox:1`, base);
});

afterAll(async () => {
  await closeRegistryConnections();
  await reg?.stop();
  cleanup(root);
});

describe("builds with a registry", () => {
  it("pulls a FROM image into the store once and pushes the result", async () => {
    const ctx = writeTree(path.join(root, "ctx"), { "hello.txt": "hello\n" });
    const store = tempDir("reg-store");
    try {
      const dockerfileText = `FROM ${reg.host}/base/busybox:1\nCOPY hello.txt /srv/\n`;
      const { events, onProgress } = recorder();
      const first = await build({
        context: ctx,
        dockerfileText,
        store,
        output: `docker://${reg.host}/built/app:1`,
        onProgress,
      });
      expect(vertices(events)[0]).toEqual({
        name: expect.stringMatching(new RegExp(`^\\[1/2\\] FROM ${reg.host}/base/busybox:1@sha256:`)),
        cached: false,
      });
      const pushed = await registryImage(`${reg.host}/built/app:1`);
      expect(await pushed.digest()).toBe(first.digest);
      expect(await fileText(pushed, "srv/hello.txt")).toBe("hello\n");

      const again = recorder();
      const second = await build({ context: ctx, dockerfileText, store, onProgress: again.onProgress });
      expect(second.digest).toBe(first.digest);
      expect(
        vertices(again.events)
          .filter((v) => !v.name.startsWith("exporting"))
          .every((v) => v.cached),
      ).toBe(true);
    } finally {
      cleanup(store);
    }
  });
});
