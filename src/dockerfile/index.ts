export type { Directive, DockerfileAst, Heredoc, Instruction, ParseWarning } from "./ast.js";
export { formatBuildkitDump } from "./dump.js";
export { MAX_LINE_BYTES, type ParseDockerfileOptions, parseDockerfile } from "./parse.js";
