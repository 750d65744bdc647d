/**
 * The metrics an operator watches, as Effect metrics: always counted in memory (a fixed set of
 * series, so nothing grows), exported through `@effect/opentelemetry` only when OTLP or the
 * /metrics endpoint asks for them. Prometheus sees `iam_ocsf.users.collected` as
 * `iam_ocsf_users_collected_total`. Units are in the names: Effect metrics carry none. Every attribute comes from a small closed set
 * (an AWS action, an outcome, an account id, a sink name from the config), never from data such as a
 * user name.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/** Seconds: runs take minutes, batches take milliseconds to seconds. */
const secondsBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]


/**
 * A counter with one series per set of attributes, each made once: `withAttributes` on every
 * update would work out the series' key again each time, for thousands of attempts a second.
 */
const counterSeries = (name: string, description: string) => {
  const made = new Map<string, Metric.Counter<number>>()
  return (attributes: Readonly<Record<string, string>>): Metric.Counter<number> => {
    const key = Object.values(attributes).join("\u0000")
    let series = made.get(key)
    if (series === undefined) {
      series = Metric.counter(name, { description, incremental: true, attributes })
      made.set(key, series)
    }
    return series
  }
}

const usersCollectedIn = counterSeries("iam_ocsf.users.collected", "Users enriched and mapped to an OCSF event, by account")
const usersFailedIn = counterSeries("iam_ocsf.users.failed", "Users that could not be collected (dead-lettered), by account")
const awsCalls = counterSeries("iam_ocsf.aws.calls", "IAM API attempts, by action and outcome")
const awsThrottles = counterSeries("iam_ocsf.aws.throttles", "IAM API attempts refused for the request rate, by action")
const awsRetries = counterSeries("iam_ocsf.aws.retries", "IAM API attempts that repeat an earlier one, by action")
const eventsDelivered = counter("iam_ocsf.events.delivered", "Events a sink accepted, by sink")
const eventsDeadLettered = counter("iam_ocsf.events.dead_lettered", "Events a sink refused after its retries, by sink")
const batchDuration = Metric.histogram("iam_ocsf.sink.batch.duration_seconds", {
  description: "Seconds from a batch's first attempt to its delivery or dead-lettering, by sink and outcome",
  boundaries: secondsBoundaries
})
const runs = counter("iam_ocsf.runs", "Collection runs ended, by outcome (complete, incomplete, failed)")
const runDuration = Metric.histogram("iam_ocsf.run.duration_seconds", {
  description: "Seconds a collection run took, by outcome",
  boundaries: secondsBoundaries
})
export const credentialReportAge = Metric.gauge("iam_ocsf.credential_report.age_seconds", {
  description: "Age of the credential report the last bulk collection used, at the time it read the report"
})

/** The age of the credential report a bulk collection is about to use. */
export const recordReportAge = (ageMs: number): Effect.Effect<void> => Metric.update(credentialReportAge, ageMs / 1000)

const lastSuccess = Metric.gauge("iam_ocsf.run.last_success_timestamp_seconds", {
  description: "Unix time at which the last run that did not fail ended"
})

/** The outcome of one IAM attempt: "ok", or the reason it failed ("Throttled", "AccessDenied", ...). */
export const recordAwsAttempt = (action: string, attempt: number, outcome: string, account?: string): Effect.Effect<void> =>
  Effect.contextWith((context) => {
    const where = account === undefined ? {} : { "aws.account.id": account }
    awsCalls({ action, outcome, ...where }).updateUnsafe(1, context)
    if (outcome === "Throttled") awsThrottles({ action, ...where }).updateUnsafe(1, context)
    if (attempt > 1) awsRetries({ action, ...where }).updateUnsafe(1, context)
    return Effect.void
  })

/** A user collected or failed, in `account` when the run reads several. */
export const recordUser = (outcome: "collected" | "failed", account?: string): Effect.Effect<void> =>
  Effect.contextWith((context) => {
    const where = account === undefined ? {} : { "aws.account.id": account }
    ;(outcome === "collected" ? usersCollectedIn : usersFailedIn)(where).updateUnsafe(1, context)
    return Effect.void
  })

export const recordBatch = (
  sink: string,
  events: number,
  outcome: "delivered" | "dead_lettered",
  seconds: number
): Effect.Effect<void> =>
  Effect.all([
    Metric.update(Metric.withAttributes(outcome === "delivered" ? eventsDelivered : eventsDeadLettered, { sink }), events),
    Metric.update(Metric.withAttributes(batchDuration, { sink, outcome }), seconds)
  ], { discard: true })

export type RunOutcome = "complete" | "incomplete" | "failed"

export const recordRun = (outcome: RunOutcome, seconds: number, endedAtMillis: number): Effect.Effect<void> =>
  Effect.all([
    Metric.update(Metric.withAttributes(runs, { outcome }), 1),
    Metric.update(Metric.withAttributes(runDuration, { outcome }), seconds),
    outcome === "failed" ? Effect.void : Metric.update(lastSuccess, endedAtMillis / 1000)
  ], { discard: true })

/**
 * Zeroes for the series an operator alerts on, so that /metrics shows `0` rather than nothing
 * before the first failure (an absent series makes `rate()` and alerts silently empty).
 */
const registerSeries = (sinkNames: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.all([
    Metric.update(usersCollectedIn({}), 0),
    Metric.update(usersFailedIn({}), 0),
    ...(["complete", "incomplete", "failed"] as const).map((outcome) =>
      Metric.update(Metric.withAttributes(runs, { outcome }), 0)
    ),
    ...sinkNames.flatMap((sink) => [
      Metric.update(Metric.withAttributes(eventsDelivered, { sink }), 0),
      Metric.update(Metric.withAttributes(eventsDeadLettered, { sink }), 0)
    ])
  ], { discard: true })

/**
 * Counts a run and its duration by outcome, and the time of the last run that did not fail.
 * An interrupted run is not counted: it neither succeeded nor failed.
 */
export const observeRun = (sinkNames: ReadonlyArray<string>) =>
<A extends { readonly complete: boolean }, E, R>(run: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    yield* registerSeries(sinkNames)
    const startedAt = yield* Clock.currentTimeMillis
    return yield* run.pipe(
      Effect.onExit((exit) =>
        Effect.flatMap(Clock.currentTimeMillis, (endedAt) => {
          const seconds = (endedAt - startedAt) / 1000
          if (Exit.isSuccess(exit)) return recordRun(exit.value.complete ? "complete" : "incomplete", seconds, endedAt)
          return Cause.hasInterruptsOnly(exit.cause) ? Effect.void : recordRun("failed", seconds, endedAt)
        })
      )
    )
  })
