/**
 * How a process winds down on SIGTERM/SIGINT, the same for the daemon and `--once`: the run is
 * asked to stop rather than interrupted, gets `schedule.shutdownTimeout` to deliver what it has
 * collected, and at that deadline cancels what is still in flight and dead-letters what is left.
 * The collection run and the delivery read the signal; `stopGracefully` gives it.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Option from "effect/Option"
import { abandonedAfterStop, endedAfterStop } from "../common/exit.ts"

export interface StopSignalService {
  /**
   * Completes when a stop is asked (SIGTERM/SIGINT): a run in progress stops taking new users and
   * delivers every event it has already produced, then ends as usual. Interrupting the run instead
   * would drop the events waiting in a partial batch.
   */
  readonly requested: Effect.Effect<void>
  /** Whether a stop was asked, for loops that check between steps. */
  readonly isRequested: () => boolean
  /**
   * Completes `shutdownTimeout` after the stop was asked: the delivery cancels the writes in
   * flight and the waits for a next attempt, and dead-letters every event not delivered.
   */
  readonly deadline: Effect.Effect<void>
  /** The signal that asked the stop, when one did ("SIGTERM", "SIGINT"). */
  readonly signal: () => string | undefined
}

/** The default never fires: runs in tests and benchmarks go to their end. */
export const StopSignal = Context.Reference<StopSignalService>("iam-ocsf/StopSignal", {
  defaultValue: () => ({ requested: Effect.never, isRequested: () => false, deadline: Effect.never, signal: () => undefined })
})

/** A stop signal and the hands that give it (the daemon's loop in `bench/soak.ts` stops itself this way). */
export interface Stopper {
  readonly signal: StopSignalService
  readonly request: Effect.Effect<void>
  readonly passDeadline: Effect.Effect<void>
  /** Notes a signal: the first names the stop, a second means "now" (the deadline passes at once). */
  readonly noteSignal: (name: string) => void
}

export const makeStopper: Effect.Effect<Stopper> = Effect.gen(function*() {
  const requested = yield* Latch.make()
  const deadline = yield* Latch.make()
  let signal: string | undefined
  return {
    signal: {
      requested: requested.await,
      isRequested: () => requested.isOpen(),
      deadline: deadline.await,
      signal: () => signal
    },
    request: requested.open,
    passDeadline: deadline.open,
    noteSignal: (name) => {
      if (signal === undefined) signal = name
      else deadline.openUnsafe()
    }
  }
})

/**
 * SIGTERM and SIGINT noted while the scope is open. Only noted: NodeRuntime.runMain's own
 * listeners turn the signal into the interruption that `stopGracefully` answers.
 */
const noteSignals = (stopper: Stopper) => {
  const onTerm = () => stopper.noteSignal("SIGTERM")
  const onInt = () => stopper.noteSignal("SIGINT")
  return Effect.acquireRelease(
    Effect.sync(() => {
      // First, so that the signal is known when runMain's listener interrupts.
      process.prependListener("SIGTERM", onTerm)
      process.prependListener("SIGINT", onInt)
    }),
    () =>
      Effect.sync(() => {
        process.off("SIGTERM", onTerm)
        process.off("SIGINT", onInt)
      })
  )
}

/**
 * After the deadline, how long the cancelled work may take to dead-letter what it holds (a local
 * file write) before the process exits anyway.
 */
export const deadLetterGrace = Duration.seconds(5)

/**
 * Runs `work` with a stop signal so that an interruption of the caller (SIGTERM/SIGINT: runMain
 * interrupts the main fiber) becomes a graceful stop: the signal fires, `work` gets
 * `shutdownTimeout` to end by itself, then the deadline fires (writes in flight cancelled, the
 * rest dead-lettered) and `work` gets `deadLetterGrace` more. Whatever `work` then returns or
 * fails with is the result, and a failure keeps its exit code (`endedAfterStop`), so a `--once`
 * run exits as it would have without the signal; a `work` that still has not ended is left
 * behind and the process exits without it.
 */
export const stopGracefully = <A, E, R>(
  work: Effect.Effect<A, E, R>,
  shutdownTimeout: Effect.Effect<Duration.Duration>
): Effect.Effect<A, E, R> =>
  Effect.scoped(Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const stopper = yield* makeStopper
      yield* noteSignals(stopper)
      // Detached: past the deadline and its grace the process exits without waiting for it.
      const fiber = yield* restore(work).pipe(Effect.provideService(StopSignal, stopper.signal), Effect.forkDetach)
      const first = yield* restore(Fiber.await(fiber)).pipe(Effect.exit)
      if (Exit.isSuccess(first)) return yield* first.value

      const timeout = yield* shutdownTimeout
      const by = stopper.signal.signal() ?? "a stop request"
      yield* Effect.logInfo(`${by}: stopping; delivering what was collected (at most ${Duration.format(timeout)}), then exiting`)
      yield* stopper.request
      const ended = yield* Effect.raceFirst(
        Fiber.await(fiber).pipe(Effect.map(Option.some)),
        Effect.raceFirst(Effect.sleep(timeout), stopper.signal.deadline).pipe(Effect.as(Option.none()))
      )
      if (Option.isSome(ended)) {
        if (Exit.isSuccess(ended.value)) yield* Effect.logInfo("stopped: everything collected was delivered or dead-lettered")
        else yield* endedAfterStop(ended.value.cause)
        return yield* ended.value
      }
      yield* Effect.logWarning(
        `stopping: not delivered within ${Duration.format(timeout)} (schedule.shutdownTimeout); cancelling the ` +
          "writes in flight and dead-lettering what is left"
      )
      yield* stopper.passDeadline
      const late = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(deadLetterGrace))
      if (Option.isSome(late)) {
        if (Exit.isSuccess(late.value)) yield* Effect.logInfo("stopped: what was not delivered by the deadline is in the dead-letter file")
        else yield* endedAfterStop(late.value.cause)
        return yield* late.value
      }
      yield* Effect.logError(
        `stopping: the run did not end ${Duration.format(deadLetterGrace)} after the deadline; exiting anyway ` +
          "(the next run collects every user again, so nothing is missing from the next snapshot)"
      )
      yield* abandonedAfterStop(stopper.signal.signal())
      yield* Fiber.interrupt(fiber).pipe(Effect.forkDetach)
      return yield* Effect.interrupt
    })
  ))
