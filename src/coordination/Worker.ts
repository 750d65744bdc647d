/**
 * The daemon as one worker of several (`coordination` in the config): the workers share an
 * organization's accounts through one PostgreSQL, with pg-boss as the job queue (SKIP LOCKED
 * fetches, per-key policies, retries, expiry and heartbeats: a proven engine, not a lock service
 * of our own). Every worker runs two loops:
 *
 * - **Scheduling**: every account discovered (as a single process discovers them, once per
 *   interval) whose interval has passed since it was last scheduled becomes one job keyed by its
 *   id, in the same transaction that marks it scheduled, so that two workers never schedule it
 *   twice. The queue's `stately` policy keeps at most one job queued and one active per account.
 * - **Working**: a worker keeps up to `accounts.concurrency` jobs in flight, taking another as
 *   soon as one ends (a slow account holds its own slot, never the others'). For each it raises
 *   the account's fence and reads the account with the single-process pipeline (a run of its
 *   own: its users, its events; the sinks shared with the runs in flight, `sharedSinks.ts`),
 *   heartbeating the job meanwhile. The state store is PostgreSQL's, its commit fenced on the
 *   job: a worker that lost its job (its heartbeat or timeout lapsed and another took it) has its
 *   late commit refused. The job is then completed, or failed (pg-boss retries it
 *   `coordination.retryLimit` times, `coordination.retryDelay` apart: an account read in part is
 *   read again).
 *
 * A worker killed mid-job stops heartbeating: pg-boss fails the job after `coordination.heartbeat`
 * and another worker retries it. PostgreSQL unreachable: the loops log, wait and try again; a run
 * in progress finishes its collection and delivery, its state commit fails (nothing half-written:
 * the commit is one transaction), its jobs are retaken later; nothing needs a restart.
 */
import * as os from "node:os"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { PgBoss } from "pg-boss"
import type pg from "pg"
import { Accounts } from "../accounts/Accounts.ts"
import type { AccountTarget } from "../accounts/discover.ts"
import { DaemonHealth, type Readiness } from "../ops/health.ts"
import { opsServer } from "../ops/OpsServer.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import { type DaemonOptions, lastingAccounts, reloadOnSighup } from "../run/Daemon.ts"
import { deadLetterWritableAtStart } from "../delivery/DeadLetter.ts"
import { runOnce } from "../run/Runner.ts"
import { formatSummary } from "../run/RunStats.ts"
import { StopSignal, stopGracefully } from "../run/StopSignal.ts"
import { BOSS_SCHEMA, type Fence, inTransaction, locationOf, makePool, makePostgresStore, migrate } from "../state/postgres.ts"
import { StateStore } from "../state/StateStore.ts"
import { Telemetry } from "../telemetry/Telemetry.ts"
import type { CoordinationConfig } from "./CoordinationConfig.ts"
import { makeSharedSinks } from "./sharedSinks.ts"
import { type AccountJob, formatQueueFigures, QUEUE, queueFigures, releaseLease, takeDue, takeLease } from "./leases.ts"

/** The database or the queue failed; the worker logs it, waits and tries again. */
export class CoordinationError extends Schema.TaggedError<CoordinationError>()("CoordinationError", {
  message: Schema.String
}) {}

const seconds = (d: Duration.Duration) => Math.max(1, Math.round(Duration.toMillis(d) / 1000))

/**
 * How a job is sent: the expiry, heartbeat and retries of the config in force (an account read in
 * part, or taken back from a worker, is read again at most `retryLimit` times).
 */
export const jobOptions = (c: CoordinationConfig) => ({
  expireInSeconds: seconds(c.jobTimeout),
  heartbeatSeconds: seconds(c.heartbeat),
  retryLimit: c.retryLimit,
  retryDelay: Math.round(Duration.toMillis(c.retryDelay) / 1000)
})

/** A job as fetched from the queue. */
interface Job {
  readonly id: string
  readonly retryCount: number
  readonly data: AccountJob
}

interface Database {
  readonly boss: PgBoss
  readonly pool: pg.Pool
  readonly location: string
}

const attempt = <A>(what: string, location: string, f: () => Promise<A>) =>
  Effect.tryPromise({
    try: f,
    catch: (e) => new CoordinationError({ message: `${what} (${location}): ${e instanceof Error ? e.message : String(e)}` })
  })

/**
 * The pool and pg-boss, started (pg-boss installs or migrates its schema, ours is created): tried
 * again every few seconds while PostgreSQL cannot be reached, until it can or a stop is asked.
 */
const connect = (coordination: CoordinationConfig, concurrency: number) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const log = (effect: Effect.Effect<void>) => void Effect.runForkWith(context)(effect)
    const location = locationOf(coordination.postgres)
    const supervise = Math.max(1, Math.floor(seconds(coordination.heartbeat) / 4))
    const stop = yield* StopSignal
    return yield* Effect.acquireRelease(
      Effect.gen(function*() {
        let tries = 0
        while (true) {
          const pool = makePool(coordination.postgres, concurrency + 4, (e) => log(Effect.logWarning(`PostgreSQL ${location}: ${e.message}`)))
          const boss = new PgBoss({
            connectionString: Redacted.value(coordination.postgres),
            schema: BOSS_SCHEMA,
            max: 4,
            application_name: "iam-ocsf pg-boss",
            // Lost heartbeats and timeouts are noticed within a quarter of the heartbeat.
            superviseIntervalSeconds: supervise,
            monitorIntervalSeconds: supervise,
            schedule: false
          })
          boss.on("error", (e: Error) => log(Effect.logWarning(`job queue (${location}): ${e.message}`)))
          const started = yield* attempt("cannot start the job queue", location, async () => {
            await boss.start()
            await boss.createQueue(QUEUE, { policy: "stately" }).catch(async (e) => {
              // Created meanwhile by another worker.
              if ((await boss.getQueue(QUEUE)) === null) throw e
            })
          }).pipe(
            Effect.andThen(migrate(pool, location).pipe(Effect.mapError((e) => new CoordinationError({ message: e.message })))),
            Effect.result
          )
          if (Result.isSuccess(started)) {
            yield* Effect.logInfo(`worker connected to ${location}`)
            return { boss, pool, location } satisfies Database
          }
          yield* Effect.promise(() => boss.stop({ graceful: false, close: true }).catch(() => undefined))
          yield* Effect.promise(() => pool.end().catch(() => undefined))
          tries += 1
          const wait = Duration.seconds(Math.min(30, 2 ** Math.min(tries, 5)))
          yield* Effect.logWarning(`${started.failure.message}; trying again in ${Duration.format(wait)}`)
          const stopped = yield* Effect.raceFirst(Effect.sleep(wait).pipe(Effect.as(false)), stop.requested.pipe(Effect.as(true)))
          if (stopped) return yield* new CoordinationError({ message: `stopped before ${location} could be reached` })
        }
      }),
      (db) =>
        Effect.promise(async () => {
          await db.boss.stop({ graceful: false, close: true, timeout: 5000 }).catch(() => undefined)
          await db.pool.end().catch(() => undefined)
        })
    )
  })

/** /readyz of a worker: PostgreSQL answers (within 3 s), and the last run, if any, did not fail. */
const readinessOf = (db: Database, health: DaemonHealth): Effect.Effect<Readiness> =>
  attempt("PostgreSQL does not answer", db.location, () => db.pool.query("SELECT 1")).pipe(
    Effect.timeoutOrElse({
      duration: Duration.seconds(3),
      orElse: () => Effect.fail(new CoordinationError({ message: `PostgreSQL ${db.location} does not answer within 3s` }))
    }),
    Effect.match({
      onFailure: (e): Readiness => ({ ready: false, reason: e.message, lastRun: health.lastRun }),
      onSuccess: (): Readiness =>
        health.lastRun !== undefined && !health.lastRun.ok
          ? { ready: false, reason: `PostgreSQL ${db.location} answers, but the last run failed: ${health.lastRun.message}`, lastRun: health.lastRun }
          : { ready: true, reason: `PostgreSQL ${db.location} answers`, lastRun: health.lastRun }
    })
  )

/** The ids of `targets`, as jobs name them: a target's own, or the credentials' account's. */
const idsOf = (accounts: Context.Context<Accounts>, targets: ReadonlyArray<AccountTarget>) =>
  Effect.forEach(targets, (t) => Context.get(accounts, Accounts).idOf(t).pipe(Effect.map((id) => [id, t] as const)))

export const workerDaemon = (options: DaemonOptions) =>
  Effect.gen(function*() {
    const { config } = options
    const coordination = config.coordination
    if (coordination === undefined) return yield* Effect.die("workerDaemon without coordination")
    const worker = `${os.hostname()}/${process.pid}`
    const accountsFor = yield* lastingAccounts
    const health = new DaemonHealth(config.schedule.interval)
    const current = yield* Ref.make(config)
    yield* deadLetterWritableAtStart(config.deadLetter.path)
    if (options.configFile !== undefined) yield* reloadOnSighup(options.configFile, current)

    const work = Effect.gen(function*() {
      const stop = yield* StopSignal
      const db = yield* connect(coordination, config.accounts?.concurrency ?? 1)
      if (config.server.port !== undefined) {
        const telemetry = yield* Telemetry
        const own = telemetry.scrape ?? Effect.succeed("")
        yield* opsServer({
          host: config.server.host,
          port: config.server.port,
          health,
          readiness: readinessOf(db, health),
          metrics: Effect.all([
            own,
            attempt("cannot read the queue", db.location, () => queueFigures(db.pool)).pipe(
              Effect.map(formatQueueFigures),
              Effect.catch((e) => Effect.succeed(`# the queue's figures are unavailable: ${e.message.replace(/\n/g, " ")}\n`))
            )
          ]).pipe(Effect.map(([a, b]) => a + b))
        })
      }
      yield* Effect.logInfo(
        `worker ${worker} started: accounts of ${db.location}, ${config.accounts?.concurrency ?? 1} at once, each every ` +
          Duration.format(config.schedule.interval)
      )

      const shared = yield* makeSharedSinks
      /** Opened when a slot frees or this worker queued jobs: the fetcher looks for work at once. */
      const wake = yield* Latch.make(false)

      /** The accounts as last discovered, by id, and when. */
      let known: { readonly at: number; readonly byId: ReadonlyMap<string, AccountTarget> } | undefined
      const discover = (cfg: AppConfig) =>
        Effect.gen(function*() {
          const accounts = yield* accountsFor(cfg)
          const targets = yield* Context.get(accounts, Accounts).discover
          const byId = new Map(yield* idsOf(accounts, targets))
          known = { at: Date.now(), byId }
          return byId
        })
      const knownAccounts = (cfg: AppConfig, fresh: boolean) =>
        known !== undefined && !fresh && Date.now() - known.at < Duration.toMillis(cfg.schedule.interval)
          ? Effect.succeed(known.byId)
          : discover(cfg)

      /** Due accounts become jobs, in the transaction that marks them scheduled. */
      const schedule = Effect.gen(function*() {
        const cfg = yield* Ref.get(current)
        const byId = yield* knownAccounts(cfg, false)
        const sent = yield* attempt("cannot schedule the due accounts", db.location, () =>
          inTransaction(db.pool, async (client) => {
            const due = await takeDue(client, [...byId.keys()], Duration.toMillis(cfg.schedule.interval))
            const jobDb = { executeSql: (text: string, values?: Array<unknown>) => client.query(text, values) }
            let queued = 0
            for (const accountId of due) {
              const id = await db.boss.send(QUEUE, { accountId } satisfies AccountJob, {
                ...jobOptions(cfg.coordination ?? coordination),
                singletonKey: accountId,
                db: jobDb
              })
              if (id !== null) queued += 1
            }
            return { due: due.length, queued }
          }))
        if (sent.queued > 0) yield* wake.open
        if (sent.due > 0) {
          yield* Effect.logDebug(`scheduled ${sent.queued} account jobs (${sent.due - sent.queued} already queued)`)
        }
      })

      const scheduling = Effect.gen(function*() {
        while (!stop.isRequested()) {
          const cfg = yield* Ref.get(current)
          yield* schedule.pipe(Effect.catch((e) => Effect.logWarning(`scheduling: ${e.message}; trying again shortly`)))
          // Often enough that an account is scheduled soon after it is due, whatever the interval.
          const tick = Duration.millis(Math.min(30_000, Math.max(500, Duration.toMillis(cfg.schedule.interval) / 10)))
          yield* Effect.raceFirst(Effect.sleep(tick), stop.requested)
        }
      })

      /**
       * One job: its account read in a run of its own (its users, its events, the sinks shared
       * with the runs in flight), heartbeating the job meanwhile, then the job settled.
       */
      const runJob = (cfg: AppConfig, job: Job) =>
        Effect.gen(function*() {
          const { accountId } = job.data
          let byId = yield* knownAccounts(cfg, false)
          if (!byId.has(accountId)) byId = yield* knownAccounts(cfg, true)
          let fence: Fence | undefined
          const settle = (outcome: "completed" | "failed", message: string) =>
            attempt(`cannot settle the job of account ${accountId}`, db.location, async () => {
              const attemptOf = { id: job.id, retryCount: job.retryCount }
              if (outcome === "completed") await db.boss.complete(QUEUE, [attemptOf], { message })
              else await db.boss.fail(QUEUE, [attemptOf], { message })
            }).pipe(
              Effect.catch((e) => Effect.logWarning(`${e.message}; the job will be taken back when its heartbeat lapses`)),
              // Released whether or not the job could be settled: `status` must not show the account still running here.
              Effect.andThen(fence === undefined ? Effect.void : attempt(`cannot release account ${accountId}`, db.location, () =>
                releaseLease(db.pool, accountId, fence!.token, `${outcome}: ${message}`)).pipe(Effect.catch((e) => Effect.logWarning(e.message))))
            )

          const target = byId.get(accountId)
          if (target === undefined) {
            yield* Effect.logWarning(`account ${accountId} is no longer discovered; its job is completed without a run`)
            return yield* settle("completed", "not discovered any more")
          }
          const token = yield* attempt(`cannot take account ${accountId}`, db.location, () =>
            takeLease(db.pool, { accountId, worker, jobId: job.id, retryCount: job.retryCount }))
          fence = { accountId, token, queue: QUEUE, jobId: job.id, retryCount: job.retryCount }
          yield* Effect.logInfo(`worker ${worker} took account ${accountId}`)

          // The job stays ours while the run goes on: a heartbeat every third of the interval it was sent with.
          const beat = Duration.millis(Duration.toMillis((cfg.coordination ?? coordination).heartbeat) / 3)
          const heartbeat = Effect.gen(function*() {
            while (true) {
              yield* Effect.sleep(beat)
              yield* attempt(`cannot send the heartbeat of account ${accountId}'s job`, db.location, () =>
                db.boss.touch(QUEUE, [{ id: job.id, retryCount: job.retryCount }])).pipe(
                  Effect.catch((e) => Effect.logWarning(e.message))
                )
            }
          })
          const state = Layer.succeed(StateStore, makePostgresStore(db.pool, db.location, new Map([[accountId, fence]])))
          const accounts = yield* accountsFor(cfg)
          const result = yield* shared.use(cfg, (sinks) =>
            runOnce(cfg, { accounts: [target], state, sinks: sinks.targets }).pipe(
              Effect.provide(sinks.deadLetter),
              Effect.provide(accounts),
              Effect.raceFirst(heartbeat),
              Effect.result
            ))
          const endedAt = Date.now()
          if (Result.isFailure(result)) {
            health.lastRun = { endedAt, ok: false, message: result.failure.message }
            yield* Effect.logError(`collection of account ${accountId} failed: ${result.failure.message}`)
            return yield* settle("failed", result.failure.message)
          }
          const summary = result.success
          health.lastRun = { endedAt, ok: true, message: formatSummary(summary), summary }
          const account = summary.accounts.find((a) => a.id === accountId)
          const ok = account === undefined ? summary.complete : account.status === "complete" && !summary.stopped
          const message = account?.error ?? (summary.stopped ? "stopped before the account was read" : ok ? "read" : "not read in full")
          yield* settle(ok ? "completed" : "failed", message)
        })

      /**
       * Up to `accounts.concurrency` jobs in flight, each started as soon as a slot is free: one
       * slow account holds its own slot only, never the others'.
       */
      const working = Effect.gen(function*() {
        const poll = coordination.pollInterval
        const inFlight = yield* FiberSet.make<void, never>()
        while (!stop.isRequested()) {
          // Closed before the slots are counted: a slot freed (or a job queued) from now on wakes the wait below.
          yield* wake.close
          const cfg = yield* Ref.get(current)
          const opened = shared.openFor()
          // A reloaded config takes the next jobs once the runs in flight under the previous one (its sinks) have ended.
          const free = opened !== undefined && opened !== cfg ? 0 : (cfg.accounts?.concurrency ?? 1) - (yield* FiberSet.size(inFlight))
          if (free <= 0) {
            yield* Effect.raceFirst(wake.await, stop.requested)
            continue
          }
          const fetched = yield* attempt("cannot fetch jobs", db.location, () =>
            db.boss.fetch<AccountJob>(QUEUE, { batchSize: free })).pipe(Effect.result)
          if (Result.isFailure(fetched)) {
            yield* Effect.logWarning(`${fetched.failure.message}; trying again in ${Duration.format(poll)}`)
            yield* Effect.raceFirst(Effect.sleep(poll), stop.requested)
            continue
          }
          for (const job of fetched.success) {
            yield* FiberSet.run(
              inFlight,
              // A job that cannot start (discovery fails, the database is lost) stays unsettled:
              // it is taken back when its heartbeat lapses.
              runJob(cfg, job).pipe(
                Effect.catch((e) => Effect.logError(`the job of account ${job.data.accountId} could not be run: ${e.message}`)),
                Effect.ensuring(wake.open)
              )
            )
          }
          // As many as asked: more may be waiting, taken as soon as a slot frees. Fewer: none is
          // waiting now; look again after the poll interval, or when this worker queues jobs.
          if (fetched.success.length < free) yield* Effect.raceFirst(Effect.raceFirst(Effect.sleep(poll), wake.await), stop.requested)
        }
        // Stopping: the runs in flight wind down (their runs see the stop), deliver and settle.
        yield* FiberSet.awaitEmpty(inFlight)
      })

      yield* Effect.all([scheduling, working], { concurrency: 2, discard: true })
    }).pipe(Effect.scoped)

    yield* stopGracefully(work, Ref.get(current).pipe(Effect.map((c) => c.schedule.shutdownTimeout)))
  }).pipe(Effect.scoped)
