/**
 * The state of each account between runs, behind an interface that says nothing of how it is
 * kept: what the last complete run saw of every user (its snapshot and content hash), and when the
 * account was last read, completely read and sent in full. A run reads it user by user and writes
 * it in one step at its end, so that memory stays flat at any account size and a run that dies
 * leaves the state as it was. `sqlite.ts` keeps it in one SQLite file; a server-backed store
 * (PostgreSQL) implements the same interface.
 *
 * How a run uses it, for one account:
 *   const run = yield* store.beginRun(accountId)        // scoped: abandoned unless committed
 *   for each collected user:  run.stage(toSnapshot(user)) → New | Unchanged | Changed(previous)
 *   for each user whose collection failed:  run.keep(userId)   (neither changed nor deleted)
 *   after a complete listing:  run.unseen()              → the users gone since: deletions
 *   once every event was delivered or dead-lettered:  run.commit({ complete, at, snapshot })
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { UserSnapshot } from "../changes/snapshot.ts"

/**
 * Why the state could not be read or written. `Newer`: written by a newer iam-ocsf (refused, never
 * downgraded); `Foreign`: the file is not a state store; `Corrupt`: a stored row does not decode;
 * `Busy`: another process held the store too long; `Misuse`: a run handle used out of turn;
 * `Fenced`: a worker's run whose job was taken back (expired, given to another worker) may not
 * commit; `Io`: anything else the storage reported.
 */
export class StateError extends Schema.TaggedError<StateError>()("StateError", {
  reason: Schema.Literals(["Newer", "Foreign", "Corrupt", "Busy", "Misuse", "Fenced", "Io"]),
  /** Where the state is (a file path, a server), for the message. */
  location: Schema.String,
  message: Schema.String
}) {}

/** What `stage` found of the user in the last complete state. */
export type Observation =
  /** Not in the state: a new user (or the account's first run). */
  | { readonly _tag: "New" }
  /** The same content hash: nothing changed. */
  | { readonly _tag: "Unchanged" }
  /** Something changed: diff `previous` with the staged snapshot (`diffUser`). */
  | { readonly _tag: "Changed"; readonly previous: UserSnapshot }

export interface CommitOptions {
  /**
   * Whether the run read its account's whole listing. Only then are the users it did not see
   * (`unseen`) removed from the state, and only then does the run count as the account's
   * last complete run (its baseline, for the first).
   */
  readonly complete: boolean
  /** When the run started: recorded as the account's last run (and last complete run). */
  readonly at: Date
  /** Whether the run sent the account's full snapshot (for `snapshotEvery`). */
  readonly snapshot: boolean
}

export interface CommitSummary {
  /** Users whose stored snapshot was written (new or changed). */
  readonly written: number
  /** Users removed because a complete listing no longer had them. */
  readonly removed: number
}

/** One run of one account, from `beginRun` to `commit` (or `abandon`). Nothing it stages is visible before the commit. */
export interface RunState {
  readonly accountId: string
  /** The account's last complete run; `undefined`: none yet, this run records the baseline. */
  readonly lastCompleteRun: Date | undefined
  /** When the account's full snapshot was last sent (any mode). */
  readonly lastSnapshot: Date | undefined
  /**
   * When the account's last run recorded its state: every fact the state holds was observed
   * before then (a source older than that, a stale credential report, may be older than the state).
   */
  readonly lastCommit: Date | undefined
  /** The user as the last complete state has it (a point lookup; staged snapshots are not visible). */
  readonly previous: (userId: string) => Effect.Effect<Option.Option<UserSnapshot>, StateError>
  /**
   * Records the user as this run saw it, to be written at the commit, and says what the state had:
   * one lookup, and the previous snapshot is read only when its hash differs.
   */
  readonly stage: (snapshot: UserSnapshot) => Effect.Effect<Observation, StateError>
  /**
   * Reads at once what the state has of the users about to be staged, for their `stage` calls:
   * a store across a network would otherwise pay a round trip for each user (PostgreSQL: 0.6 ms
   * a user, a minute at 100,000 users). Each call replaces the last one's users; `stage` gives
   * the same answer with or without it.
   */
  readonly readAhead: (userIds: ReadonlyArray<string>) => Effect.Effect<void, StateError>
  /**
   * The user was listed but not collected (its enrichment failed): it keeps its previous state,
   * and is neither changed nor deleted by this run.
   */
  readonly keep: (userId: string) => Effect.Effect<void, StateError>
  /**
   * The users of the last complete state that this run neither staged nor kept, in UserId order,
   * read a page at a time. They are deletions only when the run's listing was complete.
   */
  readonly unseen: () => Stream.Stream<UserSnapshot, StateError>
  /**
   * In one transaction: writes the staged users whose content changed, removes the unseen users
   * when `complete`, and records the run's times. The handle is then spent.
   */
  readonly commit: (options: CommitOptions) => Effect.Effect<CommitSummary, StateError>
  /** Drops what was staged; the state stays as it was. Idempotent, and a no-op after a commit. */
  readonly abandon: Effect.Effect<void>
}

/** One account, as `iam-ocsf state show` lists it. */
export interface AccountSummary {
  readonly accountId: string
  /** Users in the last complete state. */
  readonly users: number
  readonly lastRun: Date | undefined
  readonly lastCompleteRun: Date | undefined
  readonly lastSnapshot: Date | undefined
}

export interface StateStoreService {
  /** Where the state is, for messages (a file path). */
  readonly location: string
  /**
   * Starts a run of `accountId`. Scoped: a run not committed when its scope closes is abandoned.
   * One run per account at a time in this process (a second fails with `Misuse`).
   */
  readonly beginRun: (accountId: string) => Effect.Effect<RunState, StateError, Scope.Scope>
  /** Every account the state holds, by account id. */
  readonly show: Effect.Effect<ReadonlyArray<AccountSummary>, StateError>
  /**
   * Forgets one account (or every account): its next run records a new baseline. Returns what
   * was removed.
   */
  readonly reset: (accountId?: string) => Effect.Effect<ReadonlyArray<AccountSummary>, StateError>
}

export class StateStore extends Context.Service<StateStore, StateStoreService>()("iam-ocsf/StateStore") {}
