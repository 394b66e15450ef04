/**
 * A stage while it is built: its layers, config and history so far, and (built only when a step
 * needs to look at files) an index of its root filesystem.
 */
import type { Digest } from "../digest/index.js";
import { type Image, imageFromParts, type Layer, toOci } from "../image/index.js";
import type { LayerEntry } from "../layer/index.js";
import {
  type ContainerConfig,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  MediaType,
  type Platform,
} from "../manifest/index.js";
import { type ConfigState, canonicalConfig } from "./config-steps.js";
import { ImageTree } from "./image-tree.js";

/** The part of an image config a stage keeps from its base. */
interface PlatformFields {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
}

/**
 * A stage's image as it grows.
 *
 * @example
 * ```ts
 * const state = await StageState.fromImage(base, "stage 0");
 * state.addLayer(layer, diffId, history);
 * const image = state.toImage();
 * ```
 */
export class StageState {
  layers: Layer[] = [];
  diffIds: Digest[] = [];
  history: HistoryEntry[] = [];
  cfg: ConfigState = { config: {}, cmdSet: false };
  platform: PlatformFields;
  created?: string;
  private tree?: ImageTree;
  private readonly written = new Map<number, { entries: readonly LayerEntry[]; epoch: number | undefined }>();
  private treeFrom?: StageState;

  constructor(
    readonly name: string,
    platform: Platform,
  ) {
    this.platform = { architecture: platform.architecture, os: platform.os };
    if (platform.variant) this.platform.variant = platform.variant;
    if (platform["os.version"]) this.platform["os.version"] = platform["os.version"];
  }

  /** A stage starting from an image (its layers as OCI media types, its config and history). */
  static async fromImage(image: Image, name: string, platform: Platform): Promise<StageState> {
    const oci = await toOci(image);
    const [config, layers] = await Promise.all([oci.config(), oci.layers()]);
    const state = new StageState(name, platform);
    state.platform = { architecture: config.architecture, os: config.os };
    if (config.variant) state.platform.variant = config.variant;
    if (config["os.version"]) state.platform["os.version"] = config["os.version"];
    state.layers = [...layers];
    state.diffIds = [...config.rootfs.diff_ids];
    state.history = [...(config.history ?? [])];
    state.cfg = { config: structuredClone(config.config ?? {}), cmdSet: false };
    if (config.author) state.cfg.author = config.author;
    if (config.created) state.created = config.created;
    return state;
  }

  /** A stage starting where `parent` ended (`FROM <stage>`). */
  static fromStage(parent: StageState, name: string): StageState {
    const state = new StageState(name, {
      architecture: parent.platform.architecture,
      os: parent.platform.os,
    });
    state.platform = { ...parent.platform };
    state.layers = [...parent.layers];
    state.diffIds = [...parent.diffIds];
    state.history = [...parent.history];
    state.cfg = { config: structuredClone(parent.cfg.config), cmdSet: false };
    if (parent.cfg.author !== undefined) state.cfg.author = parent.cfg.author;
    if (parent.created !== undefined) state.created = parent.created;
    state.treeFrom = parent;
    return state;
  }

  /** Appends a layer. */
  addLayer(layer: Layer, diffId: Digest): void {
    this.layers.push(layer);
    this.diffIds.push(diffId);
  }

  /**
   * Records the entries the top layer was just written from, so that indexing the root file
   * system need not read that layer back (`epoch` is the `sourceDateEpoch` it was written with).
   */
  noteWrittenEntries(entries: readonly LayerEntry[], epoch: number | undefined): void {
    this.written.set(this.layers.length - 1, { entries, epoch });
  }

  /** The root filesystem as it is now, indexed on first use and kept up to date incrementally. */
  async rootfs(signal?: AbortSignal): Promise<ImageTree> {
    if (!this.tree) {
      const parentTree = this.treeFrom?.peekTree();
      this.tree = parentTree ? parentTree.clone(this.name) : new ImageTree(this.name);
    }
    for (let i = this.tree.layerCount; i < this.layers.length; i++) {
      const layer = this.layers[i] as Layer;
      const written = this.written.get(i);
      this.written.delete(i);
      if (!written || !this.tree.addWrittenLayer(layer, written.entries, written.epoch)) {
        await this.tree.addLayer(layer, signal);
      }
    }
    return this.tree;
  }

  private peekTree(): ImageTree | undefined {
    return this.tree && this.tree.layerCount <= this.layers.length ? this.tree : undefined;
  }

  /** Reads a small file of the root filesystem (for /etc/passwd and /etc/group). */
  async readFile(rel: string): Promise<string | undefined> {
    if (this.layers.length === 0) return undefined;
    return (await this.rootfs()).readText(rel);
  }

  /** The image config as it stands. */
  imageConfig(): ImageConfig {
    const config: ImageConfig = {
      ...(this.created !== undefined ? { created: this.created } : {}),
      ...(this.cfg.author !== undefined ? { author: this.cfg.author } : {}),
      architecture: this.platform.architecture,
      os: this.platform.os,
      ...(this.platform["os.version"] ? { "os.version": this.platform["os.version"] } : {}),
      ...(this.platform.variant ? { variant: this.platform.variant } : {}),
      config: canonicalConfig(this.cfg.config as ContainerConfig),
      rootfs: { type: "layers", diff_ids: [...this.diffIds] },
      history: this.history.map((h) => ({ ...h })),
    };
    return config;
  }

  /** The stage as an OCI image. */
  toImage(): Image {
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: `sha256:${"0".repeat(64)}`, size: 0 },
      layers: [],
    };
    const platform: Platform = { architecture: this.platform.architecture, os: this.platform.os };
    if (this.platform.variant) platform.variant = this.platform.variant;
    return imageFromParts({ manifest, config: this.imageConfig(), layers: [...this.layers], platform });
  }

  /** Ends open reads of the root filesystem index. */
  async close(): Promise<void> {
    await this.tree?.close();
  }
}
