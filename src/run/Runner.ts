/**
 * Turns a config into running work: the layers a run needs and one run (`--once`, and each of
 * the daemon's runs in `Daemon.ts`). Sinks are acquired per run and released after it, so a run starts from a
 * clean state and nothing stays open between runs.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type { AppConfig } from "./AppConfig.ts"
import { DeadLetter } from "../delivery/DeadLetter.ts"
import { Accounts, type AccountsSettings } from "../accounts/Accounts.ts"
import { statePath } from "../state/StateConfig.ts"
import type { StateStore } from "../state/StateStore.ts"
import type { AccountTarget } from "../accounts/discover.ts"
import type { Connection } from "../iam/sdkClient.ts"
import { runCollection, type RunSettings } from "./Pipeline.ts"
import { formatSummary, pushback, type RunSummary } from "./RunStats.ts"
import { observeRun } from "../telemetry/metrics.ts"
import { acquireSinks } from "../sinks/acquire.ts"
import type { DeliveryTarget } from "../delivery/Delivery.ts"
import { ExitCode } from "../common/exit.ts"
import { StopSignal, stopGracefully } from "./StopSignal.ts"

/**
 * `--once` stopped by SIGTERM/SIGINT before every user was collected: the snapshot is partial, so
 * the exit code is the shell's for that signal (143, 130), never 0. What was collected was
 * delivered or dead-lettered (the summary line says which).
 */
export class RunStopped extends Schema.TaggedError<RunStopped>()("RunStopped", {
  signal: Schema.String
}) {
  override readonly [Runtime.errorReported] = false
  override readonly [Runtime.errorExitCode] = this.signal === "SIGINT" ? ExitCode.stoppedBySigint : ExitCode.stoppedBySigterm
  override get message(): string {
    return `run stopped by ${this.signal} before every user was collected`
  }
}

/** `--once` ended without delivering everything: exit code 3, details already logged. */
export class RunIncomplete extends Schema.TaggedError<RunIncomplete>()("RunIncomplete", {
  failed: Schema.Int,
  deadLettered: Schema.Int,
  deadLetterPath: Schema.String
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.incomplete
  override readonly [Runtime.errorReported] = false
  override get message(): string {
    return `run incomplete: ${this.failed} users failed, ${this.deadLettered} events dead-lettered (see ${this.deadLetterPath})`
  }
}

/** Where the AWS calls go and with which credentials: the `aws` section. */
export const connectionOf = (config: AppConfig): Connection => ({
  region: config.aws.region,
  endpoint: config.aws.endpoint,
  credentials: config.aws.accessKeyId !== undefined && config.aws.secretAccessKey !== undefined
    ? {
      accessKeyId: config.aws.accessKeyId,
      secretAccessKey: config.aws.secretAccessKey,
      sessionToken: config.aws.sessionToken
    }
    : undefined,
  // Each user being enriched has up to seven calls in flight.
  maxSockets: Math.max(50, config.collection.concurrency * 8)
})

/** How the run reaches its accounts, and what each account's IAM service is made of. */
export const accountsSettings = (config: AppConfig): AccountsSettings => {
  const requestRate = { ceiling: config.collection.maxRequestsPerSecond, floor: config.collection.minRequestsPerSecond }
  return {
    connection: connectionOf(config),
    accounts: config.accounts,
    iam: {
      callTimeout: config.collection.callTimeout,
      retry: config.collection.retry,
      maxInFlight: config.collection.concurrency * 7,
      requestRate
    },
    callTimeout: config.collection.callTimeout,
    retry: config.collection.retry,
    requestRate
  }
}

export const runSettings = (config: AppConfig): RunSettings => ({
  collect: {
    pageSize: config.collection.pageSize,
    concurrency: config.collection.concurrency,
    strategy: config.collection.strategy,
    maxCredentialReportAge: config.collection.maxCredentialReportAge,
    sshPublicKeys: config.collection.sshPublicKeys
  },
  profile: config.ocsf.profile,
  emit: { emit: config.ocsf.emit, snapshotEvery: config.ocsf.snapshotEvery }
})

/**
 * The state store, when the run emits changes: opened for the run (SQLite loads only then), so
 * that a daemon holds no lock on the file between runs and `state reset` can run beside it.
 */
const withState = (config: AppConfig, state: Layer.Layer<StateStore> | undefined) => <A, E, R>(run: Effect.Effect<A, E, R>) =>
  config.ocsf.emit === "snapshot"
    ? run
    : state !== undefined
    ? run.pipe(Effect.provide(state))
    : Effect.promise(() => import("../state/sqlite.ts")).pipe(
      Effect.flatMap((sqlite) =>
        run.pipe(Effect.provide(sqlite.layer(statePath(config.state, config.deadLetter.path))))
      )
    )

/** The services a run needs, built from the config. */
export const runLayer = (config: AppConfig) =>
  Layer.mergeAll(Accounts.layer(accountsSettings(config)), DeadLetter.layer(config.deadLetter.path))

/** What a coordinated worker decides for a run (`src/coordination/`): absent, the run discovers and uses SQLite. */
export interface RunOptions {
  /** The accounts of the jobs taken, read instead of discovering. */
  readonly accounts?: ReadonlyArray<AccountTarget> | undefined
  /** The state store (PostgreSQL, fenced on the jobs), instead of the SQLite file. */
  readonly state?: Layer.Layer<StateStore> | undefined
  /** The sinks, opened by the caller (a worker's runs in flight share them), instead of opened for the run. */
  readonly sinks?: ReadonlyArray<DeliveryTarget> | undefined
}

/**
 * One run from start to summary; sinks are released when it ends. A dead-letter file that could
 * not be written fails the run before the sinks are opened and the first AWS call is made.
 */
export const runOnce = (config: AppConfig, options: RunOptions = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      yield* (yield* DeadLetter).check
      const targets = options.sinks ?? (yield* acquireSinks(config))
      yield* Effect.logInfo(`collection started; sinks: ${targets.map((t) => t.sink.name).join(", ")}`)
      const summary = yield* runCollection({ ...runSettings(config), accounts: options.accounts }, targets).pipe(
        withState(config, options.state)
      )
      const log = summary.complete ? Effect.logInfo : Effect.logWarning
      const ended = summary.stopped ? `stopped by ${(yield* StopSignal).signal() ?? "a stop request"}` : "finished"
      yield* log(`collection ${ended}: ${formatSummary(summary)}`)
      const pushedBack = pushback(summary)
      if (pushedBack !== undefined) {
        yield* Effect.logWarning(
          `${pushedBack}. IAM's request budget is shared by the whole account: other tools, the console or ` +
            "CI pipelines may be using it; the run went on at the rate the account admitted"
        )
      }
      return summary
    })
  ).pipe(observeRun(config.sinks.map((entry) => entry.name)))

/**
 * `--once`: fails with `RunIncomplete` (exit 3) unless every user reached every sink, or with
 * `RunStopped` (exit 143, 130) when SIGTERM/SIGINT cut the collection short. A signal winds the
 * run down as in the daemon (`StopSignal.ts`): within `schedule.shutdownTimeout` what was
 * collected is delivered or dead-lettered, and the summary line is logged.
 */
export const runOnceStrict = (config: AppConfig) =>
  stopGracefully(
    runOnce(config).pipe(
      Effect.flatMap((summary: RunSummary) =>
        Effect.gen(function*() {
          if (summary.stopped) return yield* new RunStopped({ signal: (yield* StopSignal).signal() ?? "SIGTERM" })
          if (summary.complete) return summary
          return yield* new RunIncomplete({
            failed: summary.failed,
            deadLettered: Object.values(summary.sinks).reduce((n, s) => n + s.deadLettered, 0),
            deadLetterPath: config.deadLetter.path
          })
        })
      )
    ),
    Effect.succeed(config.schedule.shutdownTimeout)
  )
