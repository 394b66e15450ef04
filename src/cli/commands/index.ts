import type { Command } from "../command.js";
import { build } from "./build.js";
import { copy } from "./copy.js";
import { fsCommands } from "./fs.js";
import { inspect } from "./inspect.js";
import {
  catalogCommand,
  deleteCommand,
  digest,
  loginCommand,
  logoutCommand,
  ls,
  pull,
  push,
} from "./registry.js";
import { run } from "./run.js";
import { fsck, gc, images } from "./store.js";

/** Every `cairn` subcommand, in the order `cairn --help` lists them. */
export const commands: Command[] = [
  inspect,
  copy,
  pull,
  push,
  ls,
  catalogCommand,
  digest,
  deleteCommand,
  loginCommand,
  logoutCommand,
  images,
  gc,
  fsck,
  build,
  ...fsCommands,
  run,
];
