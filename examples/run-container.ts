/**
 * Run a container from an image through the first runtime that works here (runc, crun,
 * bubblewrap or chroot; needs root for most), capturing its output.
 *
 *   npx tsx examples/run-container.ts IMAGE [CMD...]
 */
import { detectRuntime, isImageIndex, openImage, runImage } from "../src/index.js";

const [spec, ...cmd] = process.argv.slice(2);
if (!spec) throw new Error("usage: run-container.ts IMAGE [CMD...]");
let image = await openImage(spec);
if (isImageIndex(image)) image = await image.image("linux/amd64");
const runtime = await detectRuntime();
const result = await runImage(image, {
  runtime,
  ...(cmd.length ? { cmd } : {}),
  io: { stdout: "pipe", stderr: "pipe" },
});
console.log(`runtime ${result.runtime}, exit ${result.exitCode}`);
process.stdout.write(result.stdout ?? Buffer.alloc(0));
