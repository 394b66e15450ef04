export type { Directive, DockerfileAst, Heredoc, Instruction, ParseWarning } from "./ast.js";
export { formatBuildkitDump } from "./dump.js";
export { parseDockerfile, type ParseDockerfileOptions, MAX_LINE_BYTES } from "./parse.js";
