import type { Command } from "../command.js";
import { build } from "./build.js";
import { copy } from "./copy.js";
import { inspect } from "./inspect.js";
import { fsck, gc, images } from "./store.js";

/** Every `cairn` subcommand, in the order `cairn --help` lists them. */
export const commands: Command[] = [inspect, copy, images, gc, fsck, build];
