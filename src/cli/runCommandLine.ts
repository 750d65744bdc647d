/**
 * How a command line runs as a Node process: on NodeRuntime.runMain, with the project's exit codes,
 * and with stdout kept for events: logs, errors, stack traces and the help shown with a refused
 * command line all go to stderr, whatever fails.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { CliOutput } from "effect/cli"
import { reportFailure, teardown } from "../common/exit.ts"

// `--help` alone stays on stdout, where `| less` expects it; with errors, it goes to stderr.
const toStderr: Console.Console = Object.assign(Object.create(console), { log: console.error.bind(console) })
const errorsOnStderr = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? CliOutput.defaultPresenter.present(event).pipe(Effect.provideService(Console.Console, toStderr))
      : CliOutput.defaultPresenter.present(event)
})

/** Runs `program` (the parsed command line) as the process, and exits with its code. */
export const runCommandLine = <E>(program: Effect.Effect<void, E, NodeServices.NodeServices>): void => {
  // A log line that cannot be written (stderr closed: `2>&1 | head`) is lost, but must not end
  // the run: its outcome is still in the sinks, the dead-letter file and the exit code.
  process.stderr.on("error", () => {})
  program.pipe(
    // runMain's own report of a failure would be written outside the program, where the logger
    // still writes to stdout: it is off, and `reportFailure` reports inside instead.
    reportFailure,
    Effect.provide(Layer.mergeAll(NodeServices.layer, Layer.succeed(Logger.LogToStderr, true), errorsOnStderr)),
    (main) => NodeRuntime.runMain(main, { teardown, disableErrorReporting: true })
  )
}
