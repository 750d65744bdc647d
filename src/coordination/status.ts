/**
 * `iam-ocsf status --config F`: what the workers of a coordinated config are doing, read from
 * their PostgreSQL: every account ever scheduled, with its last run (when, by which worker, how it
 * ended), the worker holding it now, its jobs waiting, when it is next due, and its state.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { InvalidInput, RunFailed } from "../common/exit.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import { locationOf, makePool } from "../state/postgres.ts"
import { type AccountStatus, accountStatuses, queueFigures } from "./leases.ts"

export type StatusFormat = "table" | "json"

const iso = (d: Date | undefined) => d?.toISOString() ?? null

const accountJson = (a: AccountStatus) => ({
  account: a.accountId,
  lastStarted: iso(a.lastStarted),
  lastEnded: iso(a.lastEnded),
  lastWorker: a.lastWorker ?? null,
  lastOutcome: a.lastOutcome ?? null,
  runningOn: a.holder ?? null,
  queued: a.queued,
  nextDue: iso(a.nextDue),
  users: a.users ?? null,
  lastCompleteRun: iso(a.lastCompleteRun),
  expiredJobs: a.expired
})

const table = (accounts: ReadonlyArray<AccountStatus>): string => {
  const rows = [
    ["account", "last run", "worker", "outcome", "running on", "queued", "next due", "users"],
    ...accounts.map((a) => [
      a.accountId,
      a.lastStarted?.toISOString() ?? "never",
      a.lastWorker ?? "-",
      (a.lastOutcome ?? "-").split(":")[0]!,
      a.holder ?? "-",
      String(a.queued),
      a.nextDue?.toISOString() ?? "-",
      a.users === undefined ? "-" : String(a.users)
    ])
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")
}

export const showStatus = (config: AppConfig, format: StatusFormat): Effect.Effect<void, RunFailed | InvalidInput> => {
  const coordination = config.coordination
  if (coordination === undefined) {
    const message = "status lists the accounts of coordinated workers: the config has no coordination section"
    return Console.error(message).pipe(Effect.andThen(Effect.fail(new InvalidInput({ message }))))
  }
  const location = locationOf(coordination.postgres)
  return Effect.acquireUseRelease(
    Effect.sync(() => makePool(coordination.postgres, 2, () => undefined)),
    (pool) =>
      Effect.tryPromise({
        try: async () => {
          const schema = await pool.query("SELECT to_regclass('iam_ocsf.leases') IS NOT NULL AS ok")
          if (schema.rows[0]?.ok !== true) return undefined
          return { accounts: await accountStatuses(pool), queue: await queueFigures(pool) }
        },
        catch: (e) => new RunFailed({ message: `cannot read the workers' status from ${location}: ${e instanceof Error ? e.message : String(e)}` })
      }),
    (pool) => Effect.promise(() => pool.end().catch(() => undefined))
  ).pipe(
    Effect.tapError((e) => Console.error(e.message)),
    Effect.flatMap((found) => {
      const accounts = found?.accounts ?? []
      if (format === "json") {
        return Console.log(JSON.stringify({ database: location, queue: found?.queue ?? null, accounts: accounts.map(accountJson) }))
      }
      if (found === undefined) return Console.log(`${location}: no worker has started yet (no iam_ocsf schema)`)
      const q = found.queue
      return Console.log(
        `${location}: ${accounts.length} account${accounts.length === 1 ? "" : "s"}; jobs: ${q.queued} queued, ${q.active} active, ` +
          `${q.completed} completed, ${q.failed} failed, ${q.expired} expired` + (accounts.length === 0 ? "" : `\n${table(accounts)}`)
      )
    })
  )
}
