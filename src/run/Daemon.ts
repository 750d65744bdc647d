/**
 * The daemon: a run at once, then one per interval (with jitter) after the previous run ended,
 * so runs never overlap. A failed run is logged and the next one tried. SIGHUP re-reads the
 * config file for the next run; SIGTERM/SIGINT stop taking users, deliver what was collected
 * and exit, dead-lettering what is not delivered by `schedule.shutdownTimeout` (`StopSignal.ts`,
 * as `--once` does).
 */
import { createHash } from "node:crypto"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { type AppConfig, loadConfig } from "./AppConfig.ts"
import type { ConfigError } from "../config/index.ts"
import { configJson } from "./describeConfig.ts"
import { DeadLetter, deadLetterWritableAtStart } from "../delivery/DeadLetter.ts"
import { Accounts } from "../accounts/Accounts.ts"
import { DaemonHealth } from "../ops/health.ts"
import { opsServer } from "../ops/OpsServer.ts"
import { accountsSettings, runOnce, type RunOptions } from "./Runner.ts"
import { formatSummary, type RunSummary } from "./RunStats.ts"
import { StopSignal, stopGracefully } from "./StopSignal.ts"
import { Telemetry } from "../telemetry/Telemetry.ts"

/** The wait before the next run: the interval times 1 ± `jitter`, `u` uniform in [0, 1). */
export const nextDelay = (interval: Duration.Duration, jitter: number, u: number): Duration.Duration =>
  Duration.millis(Math.round(Duration.toMillis(interval) * (1 + jitter * (2 * u - 1))))

export interface LoopOptions<E, R> {
  /** The config in force; SIGHUP replaces it, and each run reads it when it starts. */
  readonly current: Ref.Ref<AppConfig>
  readonly health: DaemonHealth
  readonly run: (config: AppConfig) => Effect.Effect<RunSummary, E, R>
}

/**
 * A full garbage collection between two runs, when Node runs with `--expose-gc` (`bin/node-flags`).
 * Without it, what a run left behind (its pages of users, the answers and the buffers behind
 * them) waits for V8's next major collection, kept meanwhile as heap headroom and as allocator
 * memory that the next run fragments further: the daemon's RSS crept from run to run although
 * its live heap did not (`bench/soak.ts`). Collected while the daemon waits, it costs a few tens
 * of milliseconds of an interval of an hour.
 */
const collectGarbage = Effect.sync(() => (globalThis as { readonly gc?: () => void }).gc?.())

/** Runs until the `StopSignal` fires: the run in progress winds down, and no other starts. */
export const runLoop = <E extends { readonly message: string }, R>(options: LoopOptions<E, R>) =>
  Effect.gen(function*() {
    const { health } = options
    const stop = yield* StopSignal
    while (!stop.isRequested()) {
      const config = yield* Ref.get(options.current)
      health.interval = config.schedule.interval
      const result = yield* options.run(config).pipe(Effect.result)
      const endedAt = yield* Clock.currentTimeMillis
      if (Result.isSuccess(result)) {
        health.lastRun = { endedAt, ok: true, message: formatSummary(result.success), summary: result.success }
      } else {
        health.lastRun = { endedAt, ok: false, message: result.failure.message }
        yield* Effect.logError(`collection failed: ${result.failure.message}`)
      }
      if (stop.isRequested()) break
      yield* collectGarbage
      const delay = nextDelay(config.schedule.interval, config.schedule.jitter, yield* Random.next)
      yield* Effect.logDebug(`next run in ${Duration.format(delay)}`)
      yield* Effect.raceFirst(Effect.sleep(delay), stop.requested)
    }
  })

/** Sections a running daemon set up once: a reload changes them only after a restart. */
const RESTART_ONLY: ReadonlySet<string> = new Set(["telemetry", "server", "log"])

/** What a reload changes, in one line for the log: sinks by name, then every other section that differs. */
export const describeReload = (before: AppConfig, after: AppConfig): string => {
  const [b, a] = [configJson(before), configJson(after)]
  const sinks = (json: Readonly<Record<string, unknown>>) =>
    new Map((json.sinks as ReadonlyArray<{ readonly name: string }>).map((s) => [s.name, JSON.stringify(s)] as const))
  const [was, now] = [sinks(b), sinks(a)]
  const added = [...now.keys()].filter((n) => !was.has(n))
  const removed = [...was.keys()].filter((n) => !now.has(n))
  const changed = [...now].filter(([n, s]) => was.has(n) && was.get(n) !== s).map(([n]) => n)
  const sections = Object.keys({ ...b, ...a }).filter((k) => k !== "sinks" && JSON.stringify(b[k]) !== JSON.stringify(a[k]))
  const changes = [
    added.length > 0 && `sinks added: ${added.join(", ")}`,
    removed.length > 0 && `sinks removed: ${removed.join(", ")}`,
    changed.length > 0 && `sinks changed: ${changed.join(", ")}`,
    Duration.toMillis(before.schedule.interval) !== Duration.toMillis(after.schedule.interval) &&
    `interval ${Duration.format(before.schedule.interval)} -> ${Duration.format(after.schedule.interval)}`,
    sections.some((k) => !RESTART_ONLY.has(k)) && `changed: ${sections.filter((k) => !RESTART_ONLY.has(k)).join(", ")}`,
    sections.some((k) => RESTART_ONLY.has(k)) &&
    `${sections.filter((k) => RESTART_ONLY.has(k)).join(", ")} changed but take effect only after a restart`
  ].filter((c): c is string => typeof c === "string")
  return changes.length === 0 ? "no change" : changes.join("; ")
}

/** SIGHUP: the file is read again; an invalid one is reported and the running config kept. */
export const reloadOnSighup = (file: string, current: Ref.Ref<AppConfig>) =>
  Effect.gen(function*() {
    // Signals that arrive during a reload collapse into one more reload.
    const signals = yield* Queue.sliding<void>(1)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const onSignal = () => void Queue.offerUnsafe(signals, undefined)
        process.on("SIGHUP", onSignal)
        return onSignal
      }),
      (onSignal) => Effect.sync(() => void process.off("SIGHUP", onSignal))
    )
    const reload = loadConfig(file).pipe(
      Effect.matchEffect({
        onFailure: (error: ConfigError) =>
          Effect.logError(`SIGHUP: ${file} not reloaded, the running config stays in force: ${error.message}`),
        onSuccess: (next) =>
          Ref.getAndSet(current, next).pipe(
            Effect.flatMap((before) =>
              Effect.logInfo(`SIGHUP: ${file} reloaded (${describeReload(before, next)}); in force from the next run`)
            )
          )
      })
    )
    yield* Queue.take(signals).pipe(Effect.andThen(reload), Effect.forever, Effect.forkScoped)
  })

/**
 * Runs that share their accounts' IAM services (clients, sockets, learned request rates, role
 * sessions) for as long as the settings they are made from stay the same: an account's budget
 * outlives a run. A service per run would forget it every time and, as `bench/soak.ts` measured,
 * fragment native memory (RSS crept by about 50 KB a run). The dead-letter file is opened per
 * run, so it can be rotated.
 */
export const lastingAccounts = Effect.gen(function*() {
  let current: { readonly key: string; readonly scope: Scope.Closeable; readonly accounts: Context.Context<Accounts> } | undefined
  yield* Effect.addFinalizer(() => (current === undefined ? Effect.void : Scope.close(current.scope, Exit.void)))
  const accountsFor = Effect.fnUntraced(function*(config: AppConfig) {
    const settings = accountsSettings(config)
    // Secrets included, so that a rotated key gets a new client; hashed, so that no plain copy
    // of them outlives this line.
    const key = createHash("sha256")
      .update(JSON.stringify(settings, (_, value) => (Redacted.isRedacted(value) ? Redacted.value(value) : value)))
      .digest("hex")
    if (current?.key !== key) {
      if (current !== undefined) yield* Scope.close(current.scope, Exit.void)
      const scope = yield* Scope.make()
      current = { key, scope, accounts: yield* Layer.buildWithScope(Accounts.layer(settings), scope) }
    }
    return current.accounts
  })
  // A worker asks from its scheduler and from each job in flight: one at a time, or two asking
  // at once would each build the accounts, and all but the last would never be closed.
  const lock = yield* Semaphore.make(1)
  return (config: AppConfig) => lock.withPermits(1)(accountsFor(config))
})

/** Runs with lasting accounts (`lastingAccounts`), each with the dead-letter file opened for it. */
export const lastingAccountRuns = Effect.gen(function*() {
  const accountsFor = yield* lastingAccounts
  return (config: AppConfig, options?: RunOptions) =>
    accountsFor(config).pipe(
      Effect.flatMap((accounts) =>
        runOnce(config, options).pipe(Effect.provide(DeadLetter.layer(config.deadLetter.path)), Effect.provide(accounts))
      )
    )
})

export interface DaemonOptions {
  readonly config: AppConfig
  /** The file `config` came from, read again on SIGHUP; absent: SIGHUP is not handled. */
  readonly configFile?: string | undefined
}

export const daemon = (options: DaemonOptions) =>
  Effect.gen(function*() {
    const { config } = options
    const run = yield* lastingAccountRuns
    const health = new DaemonHealth(config.schedule.interval)
    const current = yield* Ref.make(config)
    if (config.server.port !== undefined) {
      const telemetry = yield* Telemetry
      yield* opsServer({
        host: config.server.host,
        port: config.server.port,
        health,
        metrics: telemetry.scrape ?? Effect.succeed("")
      })
    }
    yield* deadLetterWritableAtStart(config.deadLetter.path)
    if (options.configFile !== undefined) yield* reloadOnSighup(options.configFile, current)
    yield* Effect.logInfo(`daemon started; a run now, then every ${Duration.format(config.schedule.interval)}`)

    yield* stopGracefully(
      runLoop({ current, health, run }),
      Ref.get(current).pipe(Effect.map((c) => c.schedule.shutdownTimeout))
    )
  }).pipe(Effect.scoped)
