import { Duration, Effect, Fiber, Schedule, Stream } from "effect"
import { collectUsers, type CollectOptions, type UserOutcome } from "./collect/users.ts"
import { DeadLetter, type DeadLetterError } from "./DeadLetter.ts"
import { deliverBatch } from "./Delivery.ts"
import { BadData, IamError } from "./iam/IamError.ts"
import { eventKey, mapperFor, type OcsfProfile } from "./ocsf/index.ts"
import type { RetrySettings } from "./retry.ts"
import { formatSummary, RunStats, type RunSummary } from "./RunStats.ts"
import type { Envelope, Sink } from "./Sink.ts"

export interface RunSettings {
  readonly collect: CollectOptions
  readonly profile: OcsfProfile
  /** Events per sink batch, and the longest a partial batch waits for more. */
  readonly batchSize: number
  readonly batchWindow: Duration.Duration
  readonly deliveryRetry: RetrySettings
  /** How often a long run logs its progress. */
  readonly progressEvery?: Duration.Duration
}

/**
 * One collection run: users → enrichment → OCSF events → batches → every sink. Users that
 * cannot be collected are dead-lettered with their reason and counted; they are never
 * emitted with guessed values. Memory is bounded by the page size, the concurrency and the
 * batch size, never by the number of users.
 */
export const runCollection = Effect.fn("collection run")(function*(
  settings: RunSettings,
  sinks: ReadonlyArray<Sink>
) {
  const deadLetter = yield* DeadLetter
  const stats = new RunStats(sinks.map((s) => s.name))
  const collectedAt = new Date()
  const map = mapperFor(settings.profile)

  const toEnvelope = (outcome: UserOutcome): Effect.Effect<Envelope | undefined, DeadLetterError> => {
    stats.seen += 1
    switch (outcome._tag) {
      case "Vanished":
        stats.vanished += 1
        return Effect.logInfo(`user ${outcome.userName} was deleted during the run; skipped`).pipe(Effect.as(undefined))
      case "Failed":
        return failUser(outcome.userName, outcome.arn, outcome.error)
      case "Collected": {
        try {
          const event = map(outcome.user, { collectedAt })
          stats.collected += 1
          return Effect.succeed({ key: eventKey(event), json: JSON.stringify(event) })
        } catch (cause) {
          const error = new IamError({
            action: "MapToOcsf",
            userName: outcome.user.UserName,
            reason: new BadData({ code: "MappingFailed", message: String(cause) })
          })
          return failUser(outcome.user.UserName, outcome.user.Arn, error)
        }
      }
    }
  }

  const failUser = (userName: string, arn: string | undefined, error: IamError) => {
    stats.failed += 1
    return Effect.logWarning(`user ${userName} not collected: ${error.message}`).pipe(
      Effect.annotateLogs({ user: userName, action: error.action, reason: error.reason._tag, code: error.reason.code }),
      Effect.andThen(deadLetter.user(userName, arn, error)),
      Effect.as(undefined)
    )
  }

  const every = settings.progressEvery ?? Duration.seconds(10)
  const progress = yield* Effect.suspend(() => Effect.logInfo(`in progress: ${formatSummary(stats.summary())}`)).pipe(
    Effect.delay(every),
    Effect.repeat(Schedule.spaced(every)),
    Effect.forkChild
  )

  yield* collectUsers(settings.collect).pipe(
    Stream.mapEffect(toEnvelope),
    Stream.filter((e): e is Envelope => e !== undefined),
    Stream.groupedWithin(settings.batchSize, settings.batchWindow),
    Stream.runForEach((batch) => deliverBatch(sinks, batch, stats, settings.deliveryRetry))
  )
  yield* Fiber.interrupt(progress)

  const summary: RunSummary = stats.summary()
  yield* Effect.annotateCurrentSpan({ "users.collected": summary.collected, "users.failed": summary.failed })
  return summary
})
