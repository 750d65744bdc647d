/**
 * How the process ends: the exit codes the README and `--help` document, the errors that carry
 * them, and the teardown that gives a stop on a signal and a refused command line their codes.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Option from "effect/Option"
import { CliError } from "effect/cli"

/**
 * Exit codes, documented in the README and `--help`:
 *   0  everything collected was delivered (or the daemon stopped on SIGTERM/SIGINT)
 *   1  the run failed (IAM unreachable or denied ListUsers, a sink or the dead-letter file
 *      could not be opened)
 *   2  the command line or the config file is invalid; nothing was done
 *   3  the run finished but some users or batches were dead-lettered
 *   130, 143  `--once` stopped by SIGINT, SIGTERM before every user was collected (128 + the
 *      signal's number, as a shell reports a process a signal ended)
 */
export const ExitCode = { ok: 0, failed: 1, invalid: 2, incomplete: 3, stoppedBySigint: 130, stoppedBySigterm: 143 } as const

/**
 * Like the default teardown, except that stopping on a signal is a clean exit, not 130 (the
 * daemon's way to stop), unless the run the signal stopped says otherwise (`endedAfterStop`), and a
 * command line the parser refused (effect/cli shows the help with its errors, exit 1) is 2.
 */
export const teardown: Runtime.Teardown = (exit, onExit) => {
  if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return onExit(failureAfterStop ?? ExitCode.ok)
  if (Exit.isFailure(exit)) {
    const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
    if (CliError.isCliError(error) && error._tag === "ShowHelp" && error.errors.length > 0) return onExit(ExitCode.invalid)
  }
  return Runtime.defaultTeardown(exit, onExit)
}

/** The exit code of a run that failed after SIGTERM/SIGINT asked it to stop (see `endedAfterStop`). */
let failureAfterStop: number | undefined

/**
 * A run that a signal asked to stop and that then failed (`RunIncomplete`, `RunStopped`, an
 * `IamError`): the fiber is interrupted by then, so the handlers that would report the failure and
 * give it its exit code do not run. The code is kept for the teardown, and the failure reported
 * now unless it says it was.
 */
export const endedAfterStop = (cause: Cause.Cause<unknown>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.void
    const error = Cause.squash(cause)
    failureAfterStop = Runtime.getErrorExitCode(error)
    return Runtime.getErrorReported(error) ? Effect.logError(cause) : Effect.void
  })

/**
 * A run that did not end even after the shutdown deadline is left behind: some events may be
 * neither delivered nor dead-lettered, so the process exits as a signal ends one (143, 130).
 */
export const abandonedAfterStop = (signal: string | undefined): Effect.Effect<void> =>
  Effect.sync(() => void (failureAfterStop = signal === "SIGINT" ? ExitCode.stoppedBySigint : ExitCode.stoppedBySigterm))

/**
 * A failure no one has reported yet (a defect, a crash in a fiber), logged with its stack trace.
 * NodeRuntime.runMain would report it itself, but outside the program, where the logger still
 * writes to stdout, among the stdout sink's events: so main.ts turns that report off and
 * reports here, inside, where every log goes to stderr.
 */
export const reportFailure = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapCause(self, (cause) =>
    Cause.hasInterruptsOnly(cause) || !Runtime.getErrorReported(Cause.squash(cause)) ? Effect.void : Effect.logError(cause))

/** A bad command line or config file: the message says what to fix; exit code 2. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", { message: Schema.String }) {
  override readonly [Runtime.errorExitCode] = ExitCode.invalid
  override readonly [Runtime.errorReported] = false
}

/** A run that could not finish (already logged with its reason); exit code 1. */
export class RunFailed extends Schema.TaggedError<RunFailed>()("RunFailed", { message: Schema.String }) {
  override readonly [Runtime.errorExitCode] = ExitCode.failed
  override readonly [Runtime.errorReported] = false
}
