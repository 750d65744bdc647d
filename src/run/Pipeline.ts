/**
 * The collection run as a pipeline, from the collector's users to the sinks' queues: the one place
 * where collection, mapping and delivery meet.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { ownString } from "../common/ownString.ts"
import { collect, type CollectionOptions } from "../collect/strategy.ts"
import type { UserOutcome } from "../collect/users.ts"
import { DeadLetter, type DeadLetterError } from "../delivery/DeadLetter.ts"
import { type DeliveryTarget, deliverStream } from "../delivery/Delivery.ts"
import { Iam } from "../iam/Iam.ts"
import { BadData, IamError } from "../iam/IamError.ts"
import { eventKey, mapperFor, needsAccessKeyIds, type OcsfProfile } from "../ocsf/index.ts"
import { Progress } from "../cli/progress.ts"
import { type AwsFigures, RunStats, type RunSummary } from "./RunStats.ts"
import type { Envelope } from "../delivery/Sink.ts"
import { StopSignal } from "./StopSignal.ts"
import { recordUser } from "../telemetry/metrics.ts"

export interface RunSettings {
  /** How users are collected; whether key ids are needed follows from the profile. */
  readonly collect: Omit<CollectionOptions, "accessKeyIds">
  readonly profile: OcsfProfile
  /** How often a long run logs its progress. */
  readonly progressEvery?: Duration.Duration
}

/**
 * What the run asks of AWS from now on: the `Iam` service's counts and learned rate since this
 * run started (in the daemon, the service lives across runs).
 */
const awsFigures = Effect.gen(function*() {
  const iam = yield* Iam
  const clock = yield* Clock.Clock
  const total = (calls: Readonly<Record<string, number>>) => Object.values(calls).reduce((n, c) => n + c, 0)
  const start = iam.counts()
  const startedAt = clock.currentTimeMillisUnsafe()
  const startRate = iam.requestRate(startedAt, true)
  return (): AwsFigures => {
    const now = clock.currentTimeMillisUnsafe()
    const counts = iam.counts()
    const rate = iam.requestRate(now)
    const seconds = (now - startedAt) / 1000
    return {
      calls: total(counts.calls) - total(start.calls),
      throttled: counts.throttled - start.throttled,
      retries: counts.retries - start.retries,
      rate: { mean: seconds > 0 ? (rate.integral - startRate.integral) / seconds : rate.now, peak: rate.peak }
    }
  }
})

/**
 * One collection run: users → enrichment → OCSF events → every sink's queue → batches. Users that
 * cannot be collected are dead-lettered with their reason and counted; they are never
 * emitted with guessed values. Memory is bounded by the page size, the concurrency and each
 * sink's queue and batch sizes, never by the number of users.
 */
export const runCollection = Effect.fn("collection run")(function*(
  settings: RunSettings,
  targets: ReadonlyArray<DeliveryTarget>
) {
  const deadLetter = yield* DeadLetter
  const stats = new RunStats(targets.map((t) => t.sink.name))
  stats.aws = yield* awsFigures
  const map = mapperFor(settings.profile)

  const toEnvelope = (outcome: UserOutcome): Effect.Effect<Envelope | undefined, DeadLetterError> => {
    stats.seen += 1
    switch (outcome._tag) {
      case "Vanished":
        stats.vanished += 1
        return Effect.logInfo(`user ${outcome.userName} was deleted during the run; skipped`).pipe(Effect.as(undefined))
      case "Failed":
        return failUser(outcome.userName, outcome.arn, outcome.error)
      case "Collected":
        return Effect.suspend(() => {
          try {
            const event = map(outcome.user, { collectedAt: outcome.collectedAt })
            stats.collected += 1
            return recordUser("collected").pipe(Effect.as({ key: ownString(eventKey(event)), json: JSON.stringify(event) }))
          } catch (cause) {
            const error = new IamError({
              action: "MapToOcsf",
              userName: outcome.user.UserName,
              reason: new BadData({ code: "MappingFailed", message: String(cause) })
            })
            return failUser(outcome.user.UserName, outcome.user.Arn, error)
          }
        }).pipe(Effect.withSpan("ocsf.map", { attributes: { "aws.iam.user": outcome.user.UserName, "ocsf.profile": settings.profile } }))
    }
  }

  const failUser = (userName: string, arn: string | undefined, error: IamError) => {
    stats.failed += 1
    return Effect.logWarning(`user ${userName} not collected: ${error.message}`).pipe(
      Effect.annotateLogs({ user: userName, action: error.action, reason: error.reason._tag, code: error.reason.code }),
      Effect.andThen(deadLetter.user(userName, arn, error)),
      Effect.andThen(recordUser("failed")),
      Effect.as(undefined)
    )
  }

  const report = yield* Progress
  const progress = yield* report(stats, settings.progressEvery ?? Duration.seconds(10)).pipe(Effect.forkChild)
  const stop = yield* StopSignal

  yield* deliverStream(
    collect({ ...settings.collect, accessKeyIds: needsAccessKeyIds(settings.profile) }).pipe(
      // On SIGTERM no new user is taken; the events already made are still delivered.
      Stream.interruptWhen(stop.requested),
      Stream.mapEffect(toEnvelope),
      Stream.filter((e): e is Envelope => e !== undefined)
    ),
    targets,
    stats
  )
  yield* Fiber.interrupt(progress)

  const summary: RunSummary = stats.summary()
  yield* Effect.annotateCurrentSpan({ "users.collected": summary.collected, "users.failed": summary.failed })
  return summary
})
