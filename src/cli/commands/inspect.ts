import { readFile } from "node:fs/promises";
import { CairnError, isCairnError } from "../../errors/index.js";
import { isImageIndex } from "../../image/index.js";
import { MAX_MANIFEST_BYTES, type ParsedManifest, parseManifest } from "../../manifest/index.js";
import { openImage } from "../../registry/index.js";
import { formatBytes, parseCommandArgs } from "../args.js";
import type { CliIo, Command } from "../command.js";
import { registryFlags, registryOptions } from "../registry-flags.js";
import { inspectRemote } from "./registry.js";

function summary(p: ParsedManifest): string[] {
  const lines = [
    `kind:       ${p.kind}`,
    `media type: ${p.mediaType}`,
    `digest:     ${p.digest}`,
    `size:       ${p.size} bytes`,
  ];
  const v = p.value as unknown as Record<string, unknown>;
  if (p.kind === "oci-manifest" || p.kind === "docker-manifest") {
    const m = p.value as {
      config: { digest: string };
      layers: { digest: string; size: number; mediaType: string }[];
    };
    lines.push(`config:     ${m.config.digest}`);
    lines.push(`layers:     ${m.layers.length} (${formatBytes(m.layers.reduce((a, l) => a + l.size, 0))})`);
    for (const l of m.layers)
      lines.push(`  ${l.digest}  ${formatBytes(l.size).padStart(10)}  ${l.mediaType}`);
    if (typeof v.artifactType === "string") lines.push(`artifact:   ${v.artifactType}`);
  } else if (p.kind === "oci-index" || p.kind === "docker-manifest-list") {
    const m = p.value as {
      manifests: { digest: string; platform?: { os: string; architecture: string; variant?: string } }[];
    };
    lines.push(`manifests:  ${m.manifests.length}`);
    for (const d of m.manifests) {
      const plat = d.platform
        ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ""}`
        : "-";
      lines.push(`  ${d.digest}  ${plat}`);
    }
  } else if (p.kind === "image-config") {
    const c = p.value as {
      os: string;
      architecture: string;
      rootfs: { diff_ids: string[] };
      config?: Record<string, unknown>;
    };
    lines.push(`platform:   ${c.os}/${c.architecture}`, `diff_ids:   ${c.rootfs.diff_ids.length}`);
    if (c.config?.Entrypoint) lines.push(`entrypoint: ${JSON.stringify(c.config.Entrypoint)}`);
    if (c.config?.Cmd) lines.push(`cmd:        ${JSON.stringify(c.config.Cmd)}`);
  }
  return lines;
}

async function inspectFile(file: string, io: CliIo, json: boolean): Promise<number> {
  const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new CairnError("E_NOT_FOUND", `cannot read ${file}: ${e.code ?? e.message}`);
  });
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new CairnError(
      "E_MANIFEST_TOO_LARGE",
      `${file} is ${bytes.length} bytes, more than ${MAX_MANIFEST_BYTES}`,
    );
  }
  try {
    const parsed = parseManifest(bytes, undefined, { allowEmptyLayers: true });
    io.out(
      json
        ? JSON.stringify({ ...parsed, bytes: undefined }, null, 2)
        : [`file:       ${file}`, ...summary(parsed)].join("\n"),
    );
    return 0;
  } catch (e) {
    if (!isCairnError(e)) throw e;
    io.err(`${file}: invalid: ${e.message}${e.path ? ` (at ${e.path})` : ""} [${e.code}]`);
    return 1;
  }
}

async function inspectImage(
  spec: string,
  io: CliIo,
  json: boolean,
  values: Record<string, unknown>,
): Promise<number> {
  const source = await openImage(spec, registryOptions(values as never));
  const raw = await source.rawManifest();
  const parsed = parseManifest(raw, undefined, { allowEmptyLayers: true });
  if (isImageIndex(source)) {
    io.out(
      json
        ? JSON.stringify({ manifest: parsed.value }, null, 2)
        : [`image:      ${spec}`, ...summary(parsed)].join("\n"),
    );
    return 0;
  }
  const config = await source.config();
  if (json) {
    io.out(JSON.stringify({ digest: parsed.digest, manifest: parsed.value, config }, null, 2));
    return 0;
  }
  const manifest = await source.manifest();
  const cfg = parseManifest(await source.rawConfig(), manifest.config.mediaType);
  io.out([`image:      ${spec}`, ...summary(parsed), "", ...summary(cfg)].join("\n"));
  return 0;
}

export const inspect: Command = {
  name: "inspect",
  summary: "print a manifest, index or config file, or an image's manifest and config",
  usage: [
    "Usage: cairn inspect [--json] [--raw] [registry flags] FILE.json | IMAGE",
    "",
    "With a file, parses and validates it as an OCI/Docker manifest, index or image config and prints",
    "its kind, media type, digest and a summary; an invalid file prints the errors and exits 1.",
    "With an image (oci:DIR:TAG, docker-archive:FILE, docker://REF, store:NAME, or a bare name: the",
    "default store's image of that name, else the registry's), prints its manifest and config.",
    "docker://REF prints JSON; --raw prints the registry's exact manifest bytes.",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "inspect",
      args,
      { ...registryFlags, json: { type: "boolean" }, raw: { type: "boolean" } },
      { min: 1, max: 1, names: "one FILE or IMAGE" },
    );
    const target = positionals[0] as string;
    const json = values.json === true;
    if (target.startsWith("docker://")) return inspectRemote(target, values, io.out);
    if (/^(oci|docker-archive|store):/.test(target)) return inspectImage(target, io, json, values);
    const isFile = await readFile(target).then(
      () => true,
      () => false,
    );
    if (target.endsWith(".json") || isFile) return inspectFile(target, io, json);
    return inspectImage(target, io, json, values);
  },
};
