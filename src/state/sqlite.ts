/**
 * The state store in one SQLite file (Node's built-in `node:sqlite`), no server needed. All the
 * SQL of the program is here.
 *
 * - Durability: write-ahead log, `synchronous=NORMAL`. A process killed at any moment, mid-commit
 *   included, leaves a file the next run opens with the last committed state (SQLite rolls the
 *   unfinished transaction back). A power cut may lose the last commit, which only makes the next
 *   run detect the same changes again: at least once, never zero.
 * - Versions: `PRAGMA user_version` is the schema version and `application_id` marks the file as
 *   ours; a file of a newer version, or not ours, is refused with a message, never rewritten.
 * - Memory: a run stages its users in a temporary table (in batches, one transaction each),
 *   not in JavaScript, and reads the unseen users back a page at a time.
 * - node:sqlite is synchronous: each call is short (a point lookup, a batch), but a commit of
 *   many changed users holds the event loop for its duration (about a second per 100,000 written
 *   rows here); unchanged users cost nothing at the commit.
 */
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { DatabaseSync, type StatementSync } from "node:sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { hashJson, snapshotJson, UserSnapshot } from "../changes/snapshot.ts"
import {
  type AccountSummary,
  type CommitSummary,
  type Observation,
  type RunState,
  StateError,
  StateStore,
  type StateStoreService
} from "./StateStore.ts"

/** The schema version this code writes, and the newest it reads. */
export const STATE_SCHEMA_VERSION = 1
/** `PRAGMA application_id`: "iamo", so that a file of another program is never taken for ours. */
const APPLICATION_ID = 0x69616d6f

const SCHEMA = `
CREATE TABLE accounts (
  -- AUTOINCREMENT: an id is never reused, so a run can tell its account was reset meanwhile
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id TEXT NOT NULL UNIQUE,
  last_run INTEGER,
  -- when the last run's state was recorded: after every observation it made
  last_commit INTEGER,
  last_complete_run INTEGER,
  last_snapshot INTEGER
);
CREATE TABLE users (
  account INTEGER NOT NULL REFERENCES accounts(id),
  user_id TEXT NOT NULL,
  hash TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (account, user_id)
);
`

/** Users staged per flush: a batch is one transaction on the temporary table. */
const STAGE_BATCH = 512
/** Users per page of `unseen`. */
const UNSEEN_PAGE = 256

interface SqliteFailure {
  readonly errcode?: number
  readonly errstr?: string
  readonly message?: string
}

const failureOf = (location: string, what: string, e: unknown): StateError => {
  if (e instanceof StateError) return e
  const f = (typeof e === "object" && e !== null ? e : {}) as SqliteFailure
  const text = f.message ?? String(e)
  // SQLite's primary result codes: BUSY 5, LOCKED 6, CORRUPT 11, NOTADB 26
  const code = (f.errcode ?? -1) & 0xff
  const reason = code === 5 || code === 6
    ? "Busy"
    : code === 26
    ? "Foreign"
    : code === 11
    ? "Corrupt"
    : "Io"
  const hint = reason === "Busy"
    ? " (another process held the state store too long; is a second iam-ocsf using the same state.path?)"
    : reason === "Foreign"
    ? " (not an SQLite file: set state.path to the state store, or to a new file)"
    : ""
  return new StateError({ reason, location, message: `cannot ${what} the state store ${location}: ${text}${hint}` })
}

const millis = (value: unknown): Date | undefined => typeof value === "number" ? new Date(value) : undefined

const decodeSnapshot = Schema.decodeUnknownSync(UserSnapshot)

/**
 * Opens (creating when absent) the state store at `path`: the folder is created, the schema
 * checked or created. Fails with `Newer` or `Foreign` without touching a file it cannot read.
 */
export const openSqliteStore = (path: string): Effect.Effect<StateStoreService & { readonly close: () => void }, StateError> =>
  Effect.try({
    try: () => open(path),
    catch: (e) => failureOf(path, "open", e)
  })

/** The store as a service, open for the layer's lifetime. */
export const layer = (path: string): Layer.Layer<StateStore, StateError> =>
  Layer.effect(
    StateStore,
    Effect.acquireRelease(openSqliteStore(path), (store) => Effect.sync(() => store.close()))
  )

const open = (path: string): StateStoreService & { readonly close: () => void } => {
  fs.mkdirSync(nodePath.dirname(nodePath.resolve(path)), { recursive: true })
  const db = new DatabaseSync(path, { timeout: 10_000 })
  try {
    prepare(db, path)
  } catch (e) {
    db.close()
    throw e
  }
  return make(db, path)
}

const pragma = (db: DatabaseSync, name: string): number => {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined
  return Number(row?.[name] ?? 0)
}

/** Checks the file is ours and of a version we read; creates the schema in a new file. */
const prepare = (db: DatabaseSync, path: string): void => {
  const refuse = (reason: "Newer" | "Foreign", message: string) => {
    throw new StateError({ reason, location: path, message })
  }
  const check = () => {
    const version = pragma(db, "user_version")
    const app = pragma(db, "application_id")
    if (app !== 0 && app !== APPLICATION_ID) {
      refuse("Foreign", `${path} is an SQLite file of another program (application_id ${app}), not an iam-ocsf state store: set state.path to another file`)
    }
    if (version > STATE_SCHEMA_VERSION) {
      refuse(
        "Newer",
        `the state store ${path} was written by a newer iam-ocsf (state schema version ${version}; this version reads up to ` +
          `${STATE_SCHEMA_VERSION}): upgrade iam-ocsf, or set state.path to another file (its first run records a new baseline)`
      )
    }
    return { version, app }
  }
  const { version } = check()
  if (version === 0) {
    db.exec("BEGIN IMMEDIATE")
    try {
      // checked again under the write lock: another process may have created it meanwhile
      const again = check()
      if (again.version === 0) {
        const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number }
        if (tables.n > 0) {
          refuse("Foreign", `${path} is an SQLite database of another program, not an iam-ocsf state store: set state.path to another file`)
        }
        db.exec(SCHEMA)
        db.exec(`PRAGMA application_id = ${APPLICATION_ID}`)
        db.exec(`PRAGMA user_version = ${STATE_SCHEMA_VERSION}`)
      }
      db.exec("COMMIT")
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK")
      throw e
    }
  }
  // (schema migrations, from an older user_version, would go here)
  db.exec("PRAGMA journal_mode = WAL")
  db.exec("PRAGMA synchronous = NORMAL")
  // the log shrinks back after a large commit is checkpointed
  db.exec("PRAGMA journal_size_limit = 16777216")
  // The staged users: their transactions need no journal file, and up to 16 MB of them stay in
  // memory before spilling to a temporary file (a baseline of 100,000 users is some 60 MB).
  db.exec("PRAGMA temp.journal_mode = MEMORY")
  db.exec("PRAGMA temp.cache_size = -16000")
  db.exec(
    "CREATE TEMP TABLE IF NOT EXISTS seen (run INTEGER NOT NULL, user_id TEXT NOT NULL, hash TEXT, body TEXT, " +
      "PRIMARY KEY (run, user_id)) WITHOUT ROWID"
  )
}

type Params = ReadonlyArray<string | number | null>

const make = (db: DatabaseSync, location: string): StateStoreService & { readonly close: () => void } => {
  const statements = new Map<string, StatementSync>()
  const sql = (text: string): StatementSync => {
    let s = statements.get(text)
    if (s === undefined) {
      s = db.prepare(text)
      statements.set(text, s)
    }
    return s
  }
  const get = (text: string, ...params: Params) => sql(text).get(...params) as Record<string, unknown> | undefined
  const all = (text: string, ...params: Params) => sql(text).all(...params) as Array<Record<string, unknown>>
  const run = (text: string, ...params: Params) => sql(text).run(...params)

  const attempt = <A>(what: string, f: () => A): Effect.Effect<A, StateError> =>
    Effect.try({ try: f, catch: (e) => failureOf(location, what, e) })

  /** `f` in one transaction, rolled back when it throws. */
  const transaction = <A>(begin: "BEGIN" | "BEGIN IMMEDIATE", f: () => A): A => {
    db.exec(begin)
    try {
      const result = f()
      db.exec("COMMIT")
      return result
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK")
      throw e
    }
  }

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

  const accountRow = (accountId: string) =>
    get("SELECT id, last_run, last_commit, last_complete_run, last_snapshot FROM accounts WHERE account_id = ?", accountId)

  const summaries = (accountId: string | undefined): Array<AccountSummary> =>
    all(
      "SELECT a.account_id, a.last_run, a.last_complete_run, a.last_snapshot, " +
        "(SELECT count(*) FROM users u WHERE u.account = a.id) AS users FROM accounts a " +
        "WHERE ?1 IS NULL OR a.account_id = ?1 ORDER BY a.account_id",
      accountId ?? null
    ).map((r) => ({
      accountId: String(r.account_id),
      users: Number(r.users),
      lastRun: millis(r.last_run),
      lastCompleteRun: millis(r.last_complete_run),
      lastSnapshot: millis(r.last_snapshot)
    }))

  const active = new Set<string>()
  let nextRun = 1

  const beginRun = (accountId: string): Effect.Effect<RunState, StateError, Scope.Scope> =>
    Effect.acquireRelease(
      attempt("read", () => {
        if (active.has(accountId)) {
          throw new StateError({ reason: "Misuse", location, message: `a run of account ${accountId} is already in progress in this process` })
        }
        const row = accountRow(accountId)
        const handle = runState(accountId, row)
        active.add(accountId)
        return handle
      }),
      (handle) => handle.abandon
    )

  const runState = (accountId: string, row: Record<string, unknown> | undefined): RunState => {
    const runId = nextRun++
    // undefined until the account's first commit: nothing is stored yet, every user is new
    let account = row === undefined ? undefined : Number(row.id)
    let state: "open" | "committed" | "abandoned" = "open"
    let pending: Array<[string, string | null, string | null]> = []

    const ensureOpen = (what: string) => {
      if (state !== "open") {
        throw new StateError({ reason: "Misuse", location, message: `${what} after the run of account ${accountId} was ${state}` })
      }
    }
    const flush = () => {
      if (pending.length === 0) return
      const rows = pending
      pending = []
      transaction("BEGIN", () => {
        for (const [userId, hash, body] of rows) {
          run("INSERT OR REPLACE INTO temp.seen (run, user_id, hash, body) VALUES (?, ?, ?, ?)", runId, userId, hash, body)
        }
      })
    }
    const push = (userId: string, hash: string | null, body: string | null) => {
      pending.push([userId, hash, body])
      if (pending.length >= STAGE_BATCH) flush()
    }
    const storedBody = (userId: string) =>
      account === undefined ? undefined : get("SELECT body FROM users WHERE account = ? AND user_id = ?", account, userId)?.body
    const drop = () => {
      pending = []
      run("DELETE FROM temp.seen WHERE run = ?", runId)
    }

    const handle: RunState = {
      accountId,
      lastCompleteRun: millis(row?.last_complete_run),
      lastSnapshot: millis(row?.last_snapshot),
      lastCommit: millis(row?.last_commit),

      previous: (userId) =>
        attempt("read", () => {
          ensureOpen("previous")
          const body = storedBody(userId)
          return body === undefined ? Option.none() : Option.some(decode(accountId, userId, body))
        }),

      stage: (snapshot) =>
        attempt("stage a user in", (): Observation => {
          ensureOpen("stage")
          const json = snapshotJson(snapshot)
          const hash = hashJson(json)
          const stored = account === undefined
            ? undefined
            : get("SELECT hash FROM users WHERE account = ? AND user_id = ?", account, snapshot.UserId)
          if (stored === undefined) {
            push(snapshot.UserId, hash, json)
            return { _tag: "New" }
          }
          if (stored.hash === hash) {
            push(snapshot.UserId, hash, null)
            return { _tag: "Unchanged" }
          }
          const previous = decode(accountId, snapshot.UserId, storedBody(snapshot.UserId))
          push(snapshot.UserId, hash, json)
          return { _tag: "Changed", previous }
        }),

      // A point lookup in a local file costs microseconds: nothing to read ahead.
      readAhead: () => Effect.void,

      keep: (userId) =>
        attempt("stage a user in", () => {
          ensureOpen("keep")
          push(userId, null, null)
        }),

      unseen: () =>
        Stream.paginate("", (after: string) =>
          attempt("read", () => {
            ensureOpen("unseen")
            flush()
            if (account === undefined) return [[], Option.none<string>()] as const
            const rows = all(
              "SELECT user_id, body FROM users u WHERE u.account = ? AND u.user_id > ? AND NOT EXISTS " +
                "(SELECT 1 FROM temp.seen s WHERE s.run = ? AND s.user_id = u.user_id) ORDER BY u.user_id LIMIT ?",
              account,
              after,
              runId,
              UNSEEN_PAGE
            )
            const users = rows.map((r) => decode(accountId, String(r.user_id), r.body))
            const last = rows.at(-1)
            return [users, rows.length < UNSEEN_PAGE || last === undefined ? Option.none<string>() : Option.some(String(last.user_id))] as const
          })
        ),

      commit: (options) =>
        attempt("commit to", (): CommitSummary => {
          ensureOpen("commit")
          flush()
          const at = options.at.getTime()
          const summary = transaction("BEGIN IMMEDIATE", () => {
            run("INSERT INTO accounts (account_id) VALUES (?) ON CONFLICT (account_id) DO NOTHING", accountId)
            const id = Number(accountRow(accountId)!.id)
            // The account was reset while this run went on: what it staged as unchanged is no
            // longer stored, so it is no complete state (the next run records a new baseline).
            const complete = options.complete && (account === undefined || account === id)
            const written = run(
              "INSERT INTO users (account, user_id, hash, body) SELECT ?, user_id, hash, body FROM temp.seen " +
                "WHERE run = ? AND body IS NOT NULL " +
                "ON CONFLICT (account, user_id) DO UPDATE SET hash = excluded.hash, body = excluded.body",
              id,
              runId
            ).changes
            const removed = complete
              ? run(
                "DELETE FROM users WHERE account = ? AND NOT EXISTS " +
                  "(SELECT 1 FROM temp.seen s WHERE s.run = ? AND s.user_id = users.user_id)",
                id,
                runId
              ).changes
              : 0
            run(
              "UPDATE accounts SET last_run = ?1, last_commit = ?5, " +
                "last_complete_run = CASE WHEN ?2 THEN ?1 ELSE last_complete_run END, " +
                "last_snapshot = CASE WHEN ?3 THEN ?1 ELSE last_snapshot END WHERE id = ?4",
              at,
              complete ? 1 : 0,
              options.snapshot ? 1 : 0,
              id,
              Date.now()
            )
            run("DELETE FROM temp.seen WHERE run = ?", runId)
            account = id
            return { written: Number(written), removed: Number(removed) }
          })
          state = "committed"
          active.delete(accountId)
          return summary
        }),

      abandon: Effect.sync(() => {
        if (state !== "open") return
        state = "abandoned"
        active.delete(accountId)
        try {
          drop()
        } catch {
          // the temporary rows die with the connection anyway
        }
      })
    }
    return handle
  }

  return {
    location,
    beginRun,
    show: attempt("read", () => summaries(undefined)),
    reset: (accountId) =>
      attempt("reset", () =>
        transaction("BEGIN IMMEDIATE", () => {
          const removed = summaries(accountId)
          const where = "(?1 IS NULL OR account_id = ?1)"
          run(`DELETE FROM users WHERE account IN (SELECT id FROM accounts WHERE ${where})`, accountId ?? null)
          run(`DELETE FROM accounts WHERE ${where}`, accountId ?? null)
          return removed
        })),
    close: () => {
      if (db.isOpen) db.close()
    }
  }
}
