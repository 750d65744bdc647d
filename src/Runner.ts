import { Duration, Effect, Layer, Runtime, Schedule, Schema } from "effect"
import type { AppConfig } from "./config/index.ts"
import { DeadLetter } from "./DeadLetter.ts"
import { Iam, type IamSettings } from "./iam/Iam.ts"
import { runCollection, type RunSettings } from "./Pipeline.ts"
import { formatSummary, type RunSummary } from "./RunStats.ts"
import type { Sink } from "./Sink.ts"
import { sinkDefinition } from "../sinks/index.ts"

/**
 * Turns a config into running work: the layers a run needs, one run (`--once`), or the
 * daemon loop. Sinks are acquired per run and released after it, so a run starts from a
 * clean state and nothing stays open between runs.
 */

/** `--once` ended without delivering everything: exit code 3, details already logged. */
export class RunIncomplete extends Schema.TaggedError<RunIncomplete>()("RunIncomplete", {
  failed: Schema.Int,
  deadLettered: Schema.Int,
  deadLetterPath: Schema.String
}) {
  override readonly [Runtime.errorExitCode] = 3
  override readonly [Runtime.errorReported] = false
  override get message(): string {
    return `run incomplete: ${this.failed} users failed, ${this.deadLettered} events dead-lettered (see ${this.deadLetterPath})`
  }
}

export const iamSettings = (config: AppConfig): IamSettings => ({
  region: config.aws.region,
  endpoint: config.aws.endpoint,
  credentials: config.aws.accessKeyId !== undefined && config.aws.secretAccessKey !== undefined
    ? {
      accessKeyId: config.aws.accessKeyId,
      secretAccessKey: config.aws.secretAccessKey,
      sessionToken: config.aws.sessionToken
    }
    : undefined,
  callTimeout: config.collection.callTimeout,
  retry: config.collection.retry,
  // Each user being enriched has up to seven calls in flight.
  maxSockets: Math.max(50, config.collection.concurrency * 8)
})

export const runSettings = (config: AppConfig): RunSettings => ({
  collect: { pageSize: config.collection.pageSize, concurrency: config.collection.concurrency },
  profile: config.ocsf.profile,
  batchSize: config.delivery.batchSize,
  batchWindow: config.delivery.batchWindow,
  deliveryRetry: config.collection.retry
})

/** The services a run needs, built from the config. */
export const runLayer = (config: AppConfig) =>
  Layer.mergeAll(Iam.layer(iamSettings(config)), DeadLetter.layer(config.deadLetter.path))

const acquireSinks = (config: AppConfig) =>
  Effect.forEach(config.sinks, (entry) => {
    const definition = sinkDefinition(entry.type)
    // The config schema only admits registered types, so this cannot happen; say so if it does.
    if (definition === undefined) return Effect.die(new Error(`no sink of type ${entry.type}`))
    return definition.make(entry, entry.name)
  })

/** One run from start to summary; sinks are released when it ends. */
export const runOnce = (config: AppConfig) =>
  Effect.scoped(
    Effect.gen(function*() {
      const sinks = yield* acquireSinks(config)
      yield* Effect.logInfo(`collection started; sinks: ${sinks.map((s) => s.name).join(", ")}`)
      const summary = yield* runCollection(runSettings(config), sinks)
      const log = summary.complete ? Effect.logInfo : Effect.logWarning
      yield* log(`collection finished: ${formatSummary(summary)}`)
      return summary
    })
  )

/** `--once`: fails with `RunIncomplete` (exit 3) unless every user reached every sink. */
export const runOnceStrict = (config: AppConfig) =>
  runOnce(config).pipe(
    Effect.flatMap((summary: RunSummary) =>
      summary.complete ? Effect.succeed(summary) : Effect.fail(
        new RunIncomplete({
          failed: summary.failed,
          deadLettered: Object.values(summary.sinks).reduce((n, s) => n + s.deadLettered, 0),
          deadLetterPath: config.deadLetter.path
        })
      )
    )
  )

/**
 * The daemon: a run at start, then one every interval after the previous run ended (so runs
 * never overlap). A failed run is logged and the next one tried: a transient AWS outage must
 * not stop the inventory for good.
 */
export const daemon = (config: AppConfig) =>
  Effect.logInfo(`daemon started; a run every ${Duration.format(config.schedule.interval)}`).pipe(
    Effect.andThen(
      runOnce(config).pipe(
        Effect.catch((error) => Effect.logError(`collection failed: ${error.message}`)),
        Effect.repeat(Schedule.spaced(config.schedule.interval))
      )
    )
  )
