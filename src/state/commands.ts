/**
 * `iam-ocsf state show` and `iam-ocsf state reset`: what the state store holds of each account,
 * and forgetting an account so that its next run records a new baseline. Loaded only by those
 * commands (it opens SQLite; with coordination, the workers' PostgreSQL).
 */
import * as fs from "node:fs"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { InvalidInput, RunFailed } from "../common/exit.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import { openSqliteStore } from "./sqlite.ts"
import { statePath } from "./StateConfig.ts"
import type { AccountSummary, StateError, StateStoreService } from "./StateStore.ts"

export type StateFormat = "table" | "json"

const when = (d: Date | undefined): string => d === undefined ? "never" : d.toISOString()

const accountJson = (a: AccountSummary) => ({
  account: a.accountId,
  users: a.users,
  lastCompleteRun: a.lastCompleteRun?.toISOString() ?? null,
  lastRun: a.lastRun?.toISOString() ?? null,
  lastSnapshot: a.lastSnapshot?.toISOString() ?? null
})

/** A fixed-width table, one line per account. */
export const formatAccounts = (accounts: ReadonlyArray<AccountSummary>): string => {
  const rows = [
    ["account", "users", "last complete run", "last run", "last snapshot"],
    ...accounts.map((a) => [a.accountId, String(a.users), when(a.lastCompleteRun), when(a.lastRun), when(a.lastSnapshot)])
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")
}

/** The store failed: said once on stderr, exit code 1. */
const storeFailed = (error: StateError) =>
  Console.error(error.message).pipe(Effect.andThen(Effect.fail(new RunFailed({ message: error.message }))))

/** `f` with the config's store open; `absent` when the file does not exist (nothing is created to say so). */
const withStore = <A>(
  config: AppConfig,
  absent: (path: string) => Effect.Effect<A, RunFailed | InvalidInput>,
  f: (store: StateStoreService, path: string) => Effect.Effect<A, StateError | RunFailed | InvalidInput>
): Effect.Effect<A, RunFailed | InvalidInput> => {
  if (config.coordination !== undefined) {
    // The workers' state, in their PostgreSQL.
    const url = config.coordination.postgres
    return Effect.promise(() => import("./postgres.ts")).pipe(
      Effect.flatMap((postgres) =>
        Effect.acquireUseRelease(
          Effect.sync(() => postgres.makePool(url, 2, () => undefined)),
          (pool) =>
            postgres.migrate(pool, postgres.locationOf(url)).pipe(
              Effect.andThen(f(postgres.makePostgresStore(pool, postgres.locationOf(url)), postgres.locationOf(url)))
            ),
          (pool) => Effect.promise(() => pool.end().catch(() => undefined))
        )
      ),
      Effect.catchTag("StateError", storeFailed)
    )
  }
  const path = statePath(config.state, config.deadLetter.path)
  if (!fs.existsSync(path)) return absent(path)
  return Effect.acquireUseRelease(
    openSqliteStore(path),
    (store) => f(store, path),
    (store) => Effect.sync(() => store.close())
  ).pipe(Effect.catchTag("StateError", storeFailed))
}

export const showState = (config: AppConfig, format: StateFormat): Effect.Effect<void, RunFailed | InvalidInput> =>
  withStore(
    config,
    (path) =>
      format === "json"
        ? Console.log(JSON.stringify({ path, accounts: [] }))
        : Console.log(`no state yet: ${path} does not exist (the first run with ocsf.emit "changes" or "both" creates it)`),
    (store, path) =>
      store.show.pipe(Effect.flatMap((accounts) =>
        format === "json"
          ? Console.log(JSON.stringify({ path, accounts: accounts.map(accountJson) }))
          : Console.log(
            `state store ${path}: ${accounts.length} account${accounts.length === 1 ? "" : "s"}` +
              (accounts.length === 0 ? "" : `\n${formatAccounts(accounts)}`)
          )
      ))
  )

export const resetState = (config: AppConfig, accountId: string | undefined): Effect.Effect<void, RunFailed | InvalidInput> => {
  if (accountId !== undefined && !/^\d{12}$/.test(accountId)) {
    const message = `--account: expected a 12-digit AWS account id; found "${accountId}"`
    return Console.error(message).pipe(Effect.andThen(Effect.fail(new InvalidInput({ message }))))
  }
  return withStore(
    config,
    (path) => Console.log(`nothing to reset: ${path} does not exist`),
    (store, path) =>
      Effect.gen(function*() {
        if (accountId !== undefined) {
          const known = yield* store.show
          if (!known.some((a) => a.accountId === accountId)) {
            const message = `account ${accountId} is not in the state store ${path} (it holds: ` +
              `${known.map((a) => a.accountId).join(", ") || "no account"})`
            yield* Console.error(message)
            return yield* new InvalidInput({ message })
          }
        }
        const removed = yield* store.reset(accountId)
        const users = removed.reduce((n, a) => n + a.users, 0)
        yield* Console.log(
          removed.length === 0
            ? `the state store ${path} holds no account: nothing to reset`
            : `reset ${removed.map((a) => a.accountId).join(", ")} (${users} users forgotten) in ${path}: ` +
              `the next run of ${removed.length === 1 ? "this account" : "each"} records a new baseline and sends its snapshot`
        )
      })
  )
}
