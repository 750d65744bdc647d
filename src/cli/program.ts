/**
 * The command line run on Node: effect/cli parses the arguments and runs the command
 * (`runCommandLine.ts`: logs and errors on stderr, the project's exit codes). `main.ts` loads it
 * for everything but a bare `--version`.
 */
import { Command } from "effect/cli"
import { cli } from "./commands.ts"
import { runCommandLine } from "./runCommandLine.ts"
import { version } from "../common/version.ts"

export const runProgram = (): void => runCommandLine(cli.pipe(Command.run({ version })))
