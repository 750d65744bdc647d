/**
 * The command line run on Node: effect/cli parses the arguments and runs the command, with logs
 * on stderr and the project's exit codes. `main.ts` loads it for everything but a bare `--version`.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { Command } from "effect/cli"
import { cli } from "./commands.ts"
import { teardown } from "../common/exit.ts"
import { version } from "../common/version.ts"

export const runProgram = (): void =>
  cli.pipe(
    Command.run({ version }),
    // Logs go to stderr: stdout belongs to the events of the stdout sink.
    Effect.provide(Layer.mergeAll(NodeServices.layer, Layer.succeed(Logger.LogToStderr, true))),
    (program) => NodeRuntime.runMain(program, { teardown })
  )
