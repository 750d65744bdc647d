#!/usr/bin/env node
/**
 * The `iam-ocsf` executable: runs the command line on Node, with logs on stderr and the project's
 * exit codes.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { Command } from "effect/cli"
import { cli } from "./cli/commands.ts"
import { teardown } from "./common/exit.ts"
import { version } from "./common/version.ts"

cli.pipe(
  Command.run({ version }),
  // Logs go to stderr: stdout belongs to the events of the stdout sink.
  Effect.provide(Layer.mergeAll(NodeServices.layer, Layer.succeed(Logger.LogToStderr, true))),
  (program) => NodeRuntime.runMain(program, { teardown })
)
