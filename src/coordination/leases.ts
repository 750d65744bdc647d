/**
 * The accounts' leases in PostgreSQL (`iam_ocsf.leases`, created with the state store's tables):
 * when each account is due, which worker holds it under which fence, how its last job went. The
 * job queue itself is pg-boss's; these rows only say what pg-boss does not: the interval between
 * two collections of an account, the fence that refuses a stale worker's commit
 * (`src/state/postgres.ts`), and what `iam-ocsf status` and /metrics show.
 */
import type pg from "pg"
import { BOSS_SCHEMA } from "../state/postgres.ts"

/** pg-boss's queue of account collections: one job per due account, keyed by its id. */
export const QUEUE = "iam-ocsf-accounts"

/** What a job carries: only the account's id (its role, external id and name come from the worker's own config). */
export interface AccountJob {
  readonly accountId: string
}

/**
 * In `client`'s transaction: the accounts of `ids` that are due (never scheduled, or their
 * interval since the last scheduling passed), now marked as scheduled. Two workers scheduling at
 * once get disjoint answers: the second waits for the first's row locks and sees them not due.
 */
export const takeDue = async (client: pg.PoolClient, ids: ReadonlyArray<string>, intervalMs: number): Promise<Array<string>> => {
  await client.query(
    "INSERT INTO iam_ocsf.leases (account_id) SELECT unnest($1::text[]) ON CONFLICT (account_id) DO NOTHING",
    [ids]
  )
  const due = await client.query<{ account_id: string }>(
    "UPDATE iam_ocsf.leases SET next_due = now() + $2 * interval '1 millisecond' " +
      "WHERE account_id = ANY($1::text[]) AND next_due <= now() RETURNING account_id",
    [ids, intervalMs]
  )
  return due.rows.map((r) => r.account_id).sort()
}

/**
 * A worker takes an account for a job: the fence goes up (the previous holder, if any, may no
 * longer commit), and a previous holder that never settled its job counts as an expiry.
 */
export const takeLease = async (
  pool: pg.Pool,
  take: { readonly accountId: string; readonly worker: string; readonly jobId: string; readonly retryCount: number }
): Promise<number> => {
  const row = await pool.query<{ fence: string }>(
    "INSERT INTO iam_ocsf.leases AS l (account_id, fence, holder, job_id, retry_count, taken_at, last_worker, last_started) " +
      "VALUES ($1, 1, $2, $3, $4, now(), $2, now()) ON CONFLICT (account_id) DO UPDATE SET " +
      "fence = l.fence + 1, expired = l.expired + CASE WHEN l.holder IS NULL THEN 0 ELSE 1 END, holder = $2, job_id = $3, " +
      "retry_count = $4, taken_at = now(), last_worker = $2, last_started = now() RETURNING fence",
    [take.accountId, take.worker, take.jobId, take.retryCount]
  )
  return Number(row.rows[0]!.fence)
}

/** The job ended (either way): the lease is released, if it is still this fence's. */
export const releaseLease = (pool: pg.Pool, accountId: string, fence: number, outcome: string) =>
  pool.query(
    "UPDATE iam_ocsf.leases SET holder = NULL, last_ended = now(), last_outcome = $3 WHERE account_id = $1 AND fence = $2",
    [accountId, fence, outcome]
  )

/** One account as `iam-ocsf status` lists it. */
export interface AccountStatus {
  readonly accountId: string
  readonly lastStarted: Date | undefined
  readonly lastEnded: Date | undefined
  readonly lastWorker: string | undefined
  readonly lastOutcome: string | undefined
  /** The worker collecting it now, if any. */
  readonly holder: string | undefined
  /** Jobs of it waiting (created, or failed and waiting for a retry). */
  readonly queued: number
  readonly nextDue: Date | undefined
  readonly users: number | undefined
  readonly lastCompleteRun: Date | undefined
  /** Its jobs taken back from a worker that never settled them. */
  readonly expired: number
}

const date = (value: unknown): Date | undefined => value == null ? undefined : new Date(value as string)

export const accountStatuses = async (pool: pg.Pool): Promise<Array<AccountStatus>> => {
  const rows = await pool.query(
    "SELECT l.account_id, l.last_started, l.last_ended, l.last_worker, l.last_outcome, l.holder, l.next_due, l.expired, " +
      "a.last_complete_run, (SELECT count(*) FROM iam_ocsf.users u WHERE u.account = a.id) AS users, " +
      `(SELECT count(*) FROM ${BOSS_SCHEMA}.job j WHERE j.name = $1 AND j.singleton_key = l.account_id ` +
      "AND j.state IN ('created', 'retry')) AS queued " +
      "FROM iam_ocsf.leases l LEFT JOIN iam_ocsf.accounts a ON a.account_id = l.account_id ORDER BY l.account_id",
    [QUEUE]
  )
  return rows.rows.map((r) => ({
    accountId: String(r.account_id),
    lastStarted: date(r.last_started),
    lastEnded: date(r.last_ended),
    lastWorker: r.last_worker ?? undefined,
    lastOutcome: r.last_outcome ?? undefined,
    holder: r.holder ?? undefined,
    queued: Number(r.queued),
    nextDue: date(r.next_due),
    users: r.last_complete_run == null ? undefined : Number(r.users),
    lastCompleteRun: date(r.last_complete_run),
    expired: Number(r.expired)
  }))
}

/** The queue's figures for /metrics. */
export interface QueueFigures {
  readonly queued: number
  readonly active: number
  readonly completed: number
  readonly failed: number
  readonly expired: number
}

export const queueFigures = async (pool: pg.Pool): Promise<QueueFigures> => {
  const states = await pool.query<{ state: string; n: string }>(
    `SELECT state::text AS state, count(*) AS n FROM ${BOSS_SCHEMA}.job WHERE name = $1 GROUP BY state`,
    [QUEUE]
  )
  const count = (...names: Array<string>) => states.rows.filter((r) => names.includes(r.state)).reduce((n, r) => n + Number(r.n), 0)
  const expired = await pool.query<{ n: string | null }>("SELECT sum(expired) AS n FROM iam_ocsf.leases")
  return {
    queued: count("created", "retry"),
    active: count("active"),
    completed: count("completed"),
    failed: count("failed"),
    expired: Number(expired.rows[0]?.n ?? 0)
  }
}

/** The figures in the Prometheus text format, appended to the process's own metrics. */
export const formatQueueFigures = (f: QueueFigures): string =>
  [
    ["iam_ocsf_jobs_queued", "gauge", "Account jobs waiting in the queue (created, or waiting for a retry)", f.queued],
    ["iam_ocsf_jobs_active", "gauge", "Account jobs being collected by a worker now", f.active],
    ["iam_ocsf_jobs_completed", "gauge", "Account jobs completed and still retained by the queue", f.completed],
    ["iam_ocsf_jobs_failed", "gauge", "Account jobs failed after their retries and still retained by the queue", f.failed],
    ["iam_ocsf_jobs_expired_total", "counter", "Account jobs taken back from a worker that never settled them (killed, cut off)", f.expired]
  ].map(([name, type, help, value]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`).join("")
