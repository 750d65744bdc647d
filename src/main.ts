#!/usr/bin/env node
/**
 * The `iam-ocsf` executable: runs the command line on Node, with logs on stderr and the project's
 * exit codes.
 */
import { Command } from "effect/cli"
import { cli } from "./cli/commands.ts"
import { runCommandLine } from "./cli/runCommandLine.ts"
import { version } from "./common/version.ts"

runCommandLine(cli.pipe(Command.run({ version })))
