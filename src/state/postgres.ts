/**
 * The state store in PostgreSQL, for workers that share accounts (`coordination`): the same
 * interface as the SQLite store (`StateStore.ts`), so that any worker can take any account and
 * still emit the right changes. All the SQL of the state in PostgreSQL is here; the tables live in
 * the schema `iam_ocsf` (the job queue's, pg-boss's, in `pgboss`).
 *
 * - A run stages its users in `iam_ocsf.staged` (a logged table, so that a database restart in the
 *   middle of a run loses nothing staged), tagged with the run's fence, and writes them into
 *   `iam_ocsf.users` in the commit's one transaction.
 * - The commit is FENCED on the job that asked for the run: in the same transaction it locks the
 *   account's lease and checks that its fence is still the one this run was given, and that the
 *   pg-boss job is still active in the attempt this worker holds, within its expiry and heartbeat.
 *   A worker that lost its job (expired while it ran on, cut off from the database, frozen) has its
 *   late commit refused with `StateError` reason `Fenced`, and nothing it staged is written.
 * - Versions: `iam_ocsf.meta` holds the schema version; a newer one is refused, never rewritten.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"
import { hashJson, snapshotJson, UserSnapshot } from "../changes/snapshot.ts"
import {
  type AccountSummary,
  type CommitSummary,
  type Observation,
  type RunState,
  StateError,
  type StateStoreService
} from "./StateStore.ts"

/** The schema version this code writes, and the newest it reads. */
export const POSTGRES_SCHEMA_VERSION = 1
/** pg-boss's schema, where the jobs a commit is fenced on live. */
export const BOSS_SCHEMA = "pgboss"

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS iam_ocsf;
CREATE TABLE IF NOT EXISTS iam_ocsf.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS iam_ocsf.accounts (
  -- a sequence: an id is never reused, so a run can tell its account was reset meanwhile
  id bigserial PRIMARY KEY,
  account_id text NOT NULL UNIQUE,
  last_run timestamptz,
  -- when the last run's state was recorded: after every observation it made
  last_commit timestamptz,
  last_complete_run timestamptz,
  last_snapshot timestamptz
);
CREATE TABLE IF NOT EXISTS iam_ocsf.users (
  account bigint NOT NULL REFERENCES iam_ocsf.accounts(id) ON DELETE CASCADE,
  user_id text COLLATE "C" NOT NULL,
  hash text NOT NULL,
  body text NOT NULL,
  PRIMARY KEY (account, user_id)
);
CREATE TABLE IF NOT EXISTS iam_ocsf.staged (
  account_id text NOT NULL,
  fence bigint NOT NULL,
  user_id text COLLATE "C" NOT NULL,
  hash text,
  body text,
  PRIMARY KEY (account_id, fence, user_id)
);
-- One row per account ever scheduled: when it is due, who holds it (fence: raised at every take,
-- so that only the latest holder may commit), and how its last job went. Never removed by
-- \`state reset\`, so that a fence never goes back.
CREATE TABLE IF NOT EXISTS iam_ocsf.leases (
  account_id text PRIMARY KEY,
  next_due timestamptz NOT NULL DEFAULT now(),
  fence bigint NOT NULL DEFAULT 0,
  holder text,
  job_id uuid,
  retry_count int,
  taken_at timestamptz,
  last_worker text,
  last_started timestamptz,
  last_ended timestamptz,
  last_outcome text,
  expired bigint NOT NULL DEFAULT 0
);
`

/** Users staged per flush: one multi-row insert. */
const STAGE_BATCH = 512
/** Users per page of `unseen`. */
const UNSEEN_PAGE = 256

/** Where the database is, for messages: its host, port and database, never its password. */
export const locationOf = (url: Redacted.Redacted<string>): string => {
  try {
    const u = new URL(Redacted.value(url))
    return `postgres://${u.host}${u.pathname}`
  } catch {
    return "PostgreSQL"
  }
}

/** A connection pool; its idle connections' errors (a restarted server) are reported, never thrown. */
export const makePool = (url: Redacted.Redacted<string>, max: number, onError: (error: Error) => void): pg.Pool => {
  const pool = new pg.Pool({
    connectionString: Redacted.value(url),
    max,
    connectionTimeoutMillis: 10_000,
    application_name: "iam-ocsf"
  })
  pool.on("error", onError)
  return pool
}

/**
 * `f` in one transaction on a connection of its own, rolled back when it throws. While the
 * connection is out of the pool, its own errors (the server going away between two statements)
 * are the statement's to report, not an unhandled event that ends the process.
 */
export const inTransaction = async <A>(pool: pg.Pool, f: (client: pg.PoolClient) => Promise<A>): Promise<A> => {
  const client = await pool.connect()
  const ignore = () => undefined
  client.on("error", ignore)
  let broken: Error | undefined
  try {
    await client.query("BEGIN")
    const result = await f(client)
    await client.query("COMMIT")
    return result
  } catch (e) {
    await client.query("ROLLBACK").catch((r: Error) => void (broken = r))
    throw e
  } finally {
    client.off("error", ignore)
    // A connection whose rollback failed is closed, not given back to the pool.
    client.release(broken)
  }
}

const failureOf = (location: string, what: string, e: unknown): StateError => {
  if (e instanceof StateError) return e
  const text = e instanceof Error ? e.message : String(e)
  return new StateError({ reason: "Io", location, message: `cannot ${what} the state store ${location}: ${text}` })
}

/**
 * Creates the tables when absent (under an advisory lock: workers start together) and checks the
 * version. Idempotent.
 */
export const migrate = (pool: pg.Pool, location: string): Effect.Effect<void, StateError> =>
  Effect.tryPromise({
    try: () =>
      inTransaction(pool, async (client) => {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('iam_ocsf schema'))")
        await client.query(SCHEMA)
        const found = await client.query<{ value: string }>("SELECT value FROM iam_ocsf.meta WHERE key = 'version'")
        const version = found.rows[0] === undefined ? 0 : Number(found.rows[0].value)
        if (version > POSTGRES_SCHEMA_VERSION) {
          throw new StateError({
            reason: "Newer",
            location,
            message: `the state store ${location} was written by a newer iam-ocsf (state schema version ${version}; this ` +
              `version reads up to ${POSTGRES_SCHEMA_VERSION}): upgrade iam-ocsf`
          })
        }
        if (version === 0) {
          await client.query("INSERT INTO iam_ocsf.meta (key, value) VALUES ('version', $1)", [String(POSTGRES_SCHEMA_VERSION)])
        }
      }),
    catch: (e) => failureOf(location, "prepare", e)
  })

/** The job a run was started for: its commit is refused unless this is still the account's current holder. */
export interface Fence {
  readonly accountId: string
  /** The lease's fence when the job was taken. */
  readonly token: number
  /** pg-boss's queue, job id and attempt (its retry count). */
  readonly queue: string
  readonly jobId: string
  readonly retryCount: number
}

const decodeSnapshot = Schema.decodeUnknownSync(UserSnapshot)

const date = (value: unknown): Date | undefined => value instanceof Date ? value : value == null ? undefined : new Date(String(value))

/** A user's row in the state: its snapshot's hash and JSON. */
interface StoredUser {
  readonly hash: string
  readonly body: string
}

/**
 * The store over `pool`. `fences` says, per account, which job a run of it belongs to: with
 * coordination every run is fenced, and `beginRun` of an account without a fence is a `Misuse`.
 * Without `fences` (the `state` commands), runs are not fenced.
 */
export const makePostgresStore = (
  pool: pg.Pool,
  location: string,
  fences?: ReadonlyMap<string, Fence>
): StateStoreService => {
  const attempt = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, StateError> =>
    Effect.tryPromise({ try: f, catch: (e) => failureOf(location, what, e) })

  const query = async (text: string, params: ReadonlyArray<unknown> = []) => (await pool.query(text, params as Array<unknown>)).rows

  const transaction = <A>(f: (client: pg.PoolClient) => Promise<A>): Promise<A> => inTransaction(pool, f)

  const decode = (accountId: string, userId: string, body: unknown): UserSnapshot => {
    try {
      return decodeSnapshot(JSON.parse(String(body)))
    } catch (e) {
      throw new StateError({
        reason: "Corrupt",
        location,
        message: `the stored state of user ${userId} of account ${accountId} in ${location} does not decode ` +
          `(${e instanceof Error ? e.message.split("\n")[0] : String(e)}): run \`iam-ocsf state reset --account ${accountId}\``
      })
    }
  }

  const summaries = async (accountId: string | undefined, client?: pg.PoolClient): Promise<Array<AccountSummary>> => {
    const text = "SELECT a.account_id, a.last_run, a.last_complete_run, a.last_snapshot, " +
      "(SELECT count(*) FROM iam_ocsf.users u WHERE u.account = a.id) AS users FROM iam_ocsf.accounts a " +
      "WHERE $1::text IS NULL OR a.account_id = $1 ORDER BY a.account_id"
    const rows = client === undefined ? await query(text, [accountId ?? null]) : (await client.query(text, [accountId ?? null])).rows
    return rows.map((r) => ({
      accountId: String(r.account_id),
      users: Number(r.users),
      lastRun: date(r.last_run),
      lastCompleteRun: date(r.last_complete_run),
      lastSnapshot: date(r.last_snapshot)
    }))
  }

  const active = new Set<string>()
  /** Unfenced runs (the `state` commands never run; a test may) stage under negative numbers. */
  let unfenced = 0

  const beginRun = (accountId: string): Effect.Effect<RunState, StateError, Scope.Scope> =>
    Effect.acquireRelease(
      attempt("read", async () => {
        if (active.has(accountId)) {
          throw new StateError({ reason: "Misuse", location, message: `a run of account ${accountId} is already in progress in this process` })
        }
        const fence = fences?.get(accountId)
        if (fences !== undefined && fence === undefined) {
          throw new StateError({ reason: "Misuse", location, message: `no job holds account ${accountId} in this worker` })
        }
        const token = fence?.token ?? --unfenced
        // What an earlier holder of the account staged and never committed (a killed worker) goes now.
        await query("DELETE FROM iam_ocsf.staged WHERE account_id = $1 AND fence <> $2 AND ($2 < 0 OR fence < $2)", [accountId, token])
        const rows = await query(
          "SELECT id, last_run, last_commit, last_complete_run, last_snapshot FROM iam_ocsf.accounts WHERE account_id = $1",
          [accountId]
        )
        active.add(accountId)
        return runState(accountId, rows[0], token, fence)
      }),
      (handle) => handle.abandon
    )

  const runState = (accountId: string, row: Record<string, unknown> | undefined, token: number, fence: Fence | undefined): RunState => {
    let account = row === undefined ? undefined : Number(row.id)
    let state: "open" | "committed" | "abandoned" = "open"
    let pending: Array<[string, string | null, string | null]> = []

    const ensureOpen = (what: string) => {
      if (state !== "open") {
        throw new StateError({ reason: "Misuse", location, message: `${what} after the run of account ${accountId} was ${state}` })
      }
    }
    const flush = async () => {
      if (pending.length === 0) return
      const rows = pending
      pending = []
      await query(
        "INSERT INTO iam_ocsf.staged (account_id, fence, user_id, hash, body) " +
          "SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[]) " +
          "ON CONFLICT (account_id, fence, user_id) DO UPDATE SET hash = excluded.hash, body = excluded.body",
        [accountId, token, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])]
      )
    }
    const push = async (userId: string, hash: string | null, body: string | null) => {
      pending.push([userId, hash, body])
      if (pending.length >= STAGE_BATCH) await flush()
    }
    /** What `readAhead` read, by user id (null: not in the state), each taken by its user's `stage`. */
    let ahead = new Map<string, StoredUser | null>()
    const stored = async (userId: string): Promise<StoredUser | undefined> => {
      const read = ahead.get(userId)
      if (read !== undefined) {
        ahead.delete(userId)
        return read ?? undefined
      }
      return account === undefined
        ? undefined
        : (await query("SELECT hash, body FROM iam_ocsf.users WHERE account = $1 AND user_id = $2", [account, userId]))[0] as
          | StoredUser
          | undefined
    }
    const storedBody = async (userId: string) =>
      account === undefined
        ? undefined
        : (await query("SELECT body FROM iam_ocsf.users WHERE account = $1 AND user_id = $2", [account, userId]))[0]?.body

    const handle: RunState = {
      accountId,
      lastCompleteRun: date(row?.last_complete_run),
      lastSnapshot: date(row?.last_snapshot),
      lastCommit: date(row?.last_commit),

      previous: (userId) =>
        attempt("read", async () => {
          ensureOpen("previous")
          const body = await storedBody(userId)
          return body === undefined ? Option.none() : Option.some(decode(accountId, userId, body))
        }),

      stage: (snapshot) =>
        attempt("stage a user in", async (): Promise<Observation> => {
          ensureOpen("stage")
          const json = snapshotJson(snapshot)
          const hash = hashJson(json)
          const was = await stored(snapshot.UserId)
          if (was === undefined) {
            await push(snapshot.UserId, hash, json)
            return { _tag: "New" }
          }
          if (was.hash === hash) {
            await push(snapshot.UserId, hash, null)
            return { _tag: "Unchanged" }
          }
          const previous = decode(accountId, snapshot.UserId, was.body)
          await push(snapshot.UserId, hash, json)
          return { _tag: "Changed", previous }
        }),

      readAhead: (userIds) =>
        attempt("read", async () => {
          ensureOpen("readAhead")
          const read = new Map<string, StoredUser | null>(userIds.map((id) => [id, null]))
          if (account !== undefined && userIds.length > 0) {
            const rows = await query("SELECT user_id, hash, body FROM iam_ocsf.users WHERE account = $1 AND user_id = ANY($2::text[])", [
              account,
              userIds
            ])
            for (const r of rows) read.set(String(r.user_id), { hash: String(r.hash), body: String(r.body) })
          }
          ahead = read
        }),

      keep: (userId) =>
        attempt("stage a user in", async () => {
          ensureOpen("keep")
          await push(userId, null, null)
        }),

      unseen: () =>
        Stream.paginate("", (after: string) =>
          attempt("read", async () => {
            ensureOpen("unseen")
            await flush()
            if (account === undefined) return [[], Option.none<string>()] as const
            const rows = await query(
              "SELECT user_id, body FROM iam_ocsf.users u WHERE u.account = $1 AND u.user_id > $2 AND NOT EXISTS " +
                "(SELECT 1 FROM iam_ocsf.staged s WHERE s.account_id = $3 AND s.fence = $4 AND s.user_id = u.user_id) " +
                "ORDER BY u.user_id LIMIT $5",
              [account, after, accountId, token, UNSEEN_PAGE]
            )
            const users = rows.map((r) => decode(accountId, String(r.user_id), r.body))
            const last = rows.at(-1)
            return [users, rows.length < UNSEEN_PAGE || last === undefined ? Option.none<string>() : Option.some(String(last.user_id))] as const
          })
        ),

      commit: (options) =>
        attempt("commit to", async (): Promise<CommitSummary> => {
          ensureOpen("commit")
          await flush()
          const summary = await transaction(async (client) => {
            if (fence !== undefined) await checkFence(client, fence)
            await client.query("INSERT INTO iam_ocsf.accounts (account_id) VALUES ($1) ON CONFLICT (account_id) DO NOTHING", [accountId])
            const id = Number((await client.query("SELECT id FROM iam_ocsf.accounts WHERE account_id = $1 FOR UPDATE", [accountId])).rows[0].id)
            // The account was reset while this run went on: what it staged as unchanged is no
            // longer stored, so it is no complete state (the next run records a new baseline).
            const complete = options.complete && (account === undefined || account === id)
            const written = await client.query(
              "INSERT INTO iam_ocsf.users (account, user_id, hash, body) SELECT $1, user_id, hash, body FROM iam_ocsf.staged " +
                "WHERE account_id = $2 AND fence = $3 AND body IS NOT NULL " +
                "ON CONFLICT (account, user_id) DO UPDATE SET hash = excluded.hash, body = excluded.body",
              [id, accountId, token]
            )
            const removed = complete
              ? await client.query(
                "DELETE FROM iam_ocsf.users u WHERE u.account = $1 AND NOT EXISTS " +
                  "(SELECT 1 FROM iam_ocsf.staged s WHERE s.account_id = $2 AND s.fence = $3 AND s.user_id = u.user_id)",
                [id, accountId, token]
              )
              : undefined
            await client.query(
              "UPDATE iam_ocsf.accounts SET last_run = $1, last_commit = now(), " +
                "last_complete_run = CASE WHEN $2 THEN $1 ELSE last_complete_run END, " +
                "last_snapshot = CASE WHEN $3 THEN $1 ELSE last_snapshot END WHERE id = $4",
              [options.at, complete, options.snapshot, id]
            )
            await client.query("DELETE FROM iam_ocsf.staged WHERE account_id = $1 AND fence = $2", [accountId, token])
            return { id, written: written.rowCount ?? 0, removed: removed?.rowCount ?? 0 }
          })
          account = summary.id
          state = "committed"
          active.delete(accountId)
          return { written: summary.written, removed: summary.removed }
        }),

      abandon: Effect.suspend(() => {
        if (state !== "open") return Effect.void
        state = "abandoned"
        active.delete(accountId)
        pending = []
        // Best effort: the next run of the account removes what is left.
        return Effect.promise(() =>
          query("DELETE FROM iam_ocsf.staged WHERE account_id = $1 AND fence = $2", [accountId, token]).catch(() => undefined)
        ).pipe(Effect.asVoid)
      })
    }
    return handle
  }

  /**
   * In the commit's transaction: the lease still carries this run's fence (locked until the
   * commit ends, so no take slips in between), and the job is still this worker's attempt,
   * active, within its expiry and heartbeat (its row share-locked, so pg-boss's expiry of it waits
   * for the commit, or the commit for the expiry).
   */
  const checkFence = async (client: pg.PoolClient, fence: Fence) => {
    const lease = (await client.query("SELECT fence, holder FROM iam_ocsf.leases WHERE account_id = $1 FOR UPDATE", [fence.accountId])).rows[0]
    const job = (await client.query(
      `SELECT state, retry_count, ` +
        `(started_on + expire_seconds * interval '1s') > now() ` +
        `AND (heartbeat_seconds IS NULL OR heartbeat_on IS NULL OR (heartbeat_on + heartbeat_seconds * interval '1s') > now()) AS live ` +
        `FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND id = $2 FOR SHARE`,
      [fence.queue, fence.jobId]
    )).rows[0]
    const reason = lease === undefined
      ? "its lease is gone"
      : Number(lease.fence) !== fence.token
      ? `another worker (${lease.holder ?? "unknown"}) took the account since (fence ${lease.fence}, this run's ${fence.token})`
      : job === undefined
      ? "its job is gone"
      : job.state !== "active" || Number(job.retry_count) !== fence.retryCount
      ? `its job is no longer this worker's (state ${job.state}, attempt ${job.retry_count}, this run's ${fence.retryCount})`
      : job.live !== true
      ? "its job expired (past its timeout or heartbeat)"
      : undefined
    if (reason !== undefined) {
      throw new StateError({
        reason: "Fenced",
        location,
        message: `the run of account ${fence.accountId} lost its job ${fence.jobId} and may not record its state: ${reason}. ` +
          `Nothing of it was written; the worker that holds the account now records it`
      })
    }
  }

  return {
    location,
    beginRun,
    show: attempt("read", () => summaries(undefined)),
    reset: (accountId) =>
      attempt("reset", () =>
        transaction(async (client) => {
          const removed = await summaries(accountId, client)
          await client.query("DELETE FROM iam_ocsf.accounts WHERE $1::text IS NULL OR account_id = $1", [accountId ?? null])
          return removed
        }))
  }
}
