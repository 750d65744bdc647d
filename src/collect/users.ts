/**
 * The per-user strategy (ListUsers, then seven calls a user, more for the strict profiles'
 * identity: `enrichUser`), and `UserOutcome`: what became of
 * each listed user, as both strategies report it, so that a failure is that user's, not the run's.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Iam, type IamService } from "../iam/Iam.ts"
import type { IamError } from "../iam/IamError.ts"
import type { IamUser } from "../iam/IamUser.ts"
import type { SshPublicKeysListing } from "./CollectionConfig.ts"
import { enrichUser } from "./enrich.ts"
import { makePolicySources } from "./identity.ts"
import { checkedListing } from "./paging.ts"

/**
 * The facts of a user the bulk strategy took from the credential report, which AWS makes at most
 * every four hours: the console password and MFA always, the access keys when the report showed
 * none (then no ListAccessKeys was made). They are as of `at`, the report's generation time.
 */
export interface Reported {
  readonly at: Date
  /** The user's access keys (none) are the report's too. */
  readonly keys: boolean
  /** The user's signing certificates (none) are the report's too. */
  readonly certificates: boolean
}

/** What became of one user that ListUsers returned. */
export type UserOutcome =
  /**
   * `collectedAt`: when the last answer about the user arrived (the strict profiles' event `time`).
   * `reported`: some facts are the credential report's, as of its generation, not as of `collectedAt`.
   */
  | { readonly _tag: "Collected"; readonly user: IamUser; readonly collectedAt: Date; readonly reported?: Reported | undefined }
  /** Enrichment failed after its retries: the user must not be emitted with guessed values. */
  | {
    readonly _tag: "Failed"
    readonly userName: string
    readonly arn: string | undefined
    /** From the listing; the state keeps such a user as it was (no change inferred from a gap). */
    readonly userId: string | undefined
    readonly error: IamError
  }
  /** Deleted between ListUsers and its per-user calls (NoSuchEntity): nothing to report. */
  | { readonly _tag: "Vanished"; readonly userName: string }

export interface CollectOptions {
  /** ListUsers MaxItems. */
  readonly pageSize: number
  /** Users enriched at once, as far as AWS calls in flight go (`usersAtOnce`). */
  readonly concurrency: number
  /** Collect each user's `Identity` (the strict profiles: `identity.ts`). */
  readonly identity?: boolean | undefined
  /** With `identity`: where SSH public keys are listed (`CollectionConfig`); absent: `per-user`. */
  readonly sshPublicKeys?: SshPublicKeysListing | undefined
}

/** One user's collection as an outcome: its failures are the user's, not the run's. */
export const outcome = <R>(
  listed: { readonly userName: string; readonly arn: string | undefined; readonly userId: string | undefined },
  collect: Effect.Effect<IamUser, IamError, R>
): Effect.Effect<UserOutcome, never, R> =>
  collect.pipe(
    Effect.flatMap((user) =>
      Effect.map(Clock.currentTimeMillis, (now): UserOutcome => ({ _tag: "Collected", user, collectedAt: new Date(now) }))
    ),
    Effect.catch((error) =>
      Effect.succeed<UserOutcome>(
        error.reason._tag === "NotFound"
          ? { _tag: "Vanished", userName: listed.userName }
          : { _tag: "Failed", ...listed, error }
      )
    )
  )

/**
 * At most this many times `concurrency` users are open at once: the bound on memory when many
 * calls wait out retry backoffs (see `usersAtOnce`).
 */
const OPEN_USERS_PER_SLOT = 32

/**
 * Users being enriched at once: `concurrency` users' worth of calls are in flight (seven each,
 * `Iam`'s `maxInFlight`), and a new user starts whenever those calls leave room (`Iam.room`).
 * A call waiting out a retry's backoff is not in flight, so while the account throttles, more
 * users are open, up to `OPEN_USERS_PER_SLOT` × `concurrency`: the run goes on at the rate the
 * account admits instead of waiting out every backoff in turn.
 */
export const usersAtOnce = <A, E, R>(iam: IamService, concurrency: number, collect: (a: A) => Effect.Effect<UserOutcome, E, R>) =>
  Stream.mapEffect((a: A) => Effect.andThen(iam.room, collect(a)), { concurrency: concurrency * OPEN_USERS_PER_SLOT, unordered: true })

/**
 * The per-user strategy. Every user of the account, enriched, as a stream: ListUsers is followed page by page (only
 * one page is held at a time, the next one asked for while it is used) and users are enriched concurrently, in completion order so a
 * slow or retried user does not hold up the others. A ListUsers page that fails after its
 * retries fails the stream: the snapshot would be incomplete without anyone knowing which
 * users are missing; so does a listing whose pages do not hold together (`paging.ts`).
 */
export const collectUsers = (options: CollectOptions): Stream.Stream<UserOutcome, IamError, Iam> =>
  Stream.unwrap(Effect.gen(function*() {
    const iam = yield* Iam
    const check = yield* checkedListing((limits) => limits.users)
    // one a run: each group's policies and each managed policy's document are read once
    const sources = options.identity === true ? makePolicySources(iam) : undefined
    return Stream.paginate(undefined as string | undefined, (marker) =>
      iam.listUsers(marker, options.pageSize).pipe(
        Effect.flatMap(check),
        Effect.map((page) => [[page.items], Option.fromUndefinedOr(page.marker)] as const)
      )).pipe(
        // The next page is fetched while this one's users are enriched: a throttled ListUsers
        // (and its backoff) must not leave the calls in flight idle.
        Stream.buffer({ capacity: 1 }),
        Stream.flattenIterable,
        usersAtOnce(iam, options.concurrency, (summary) =>
          outcome({ userName: summary.UserName ?? "", arn: summary.Arn, userId: summary.UserId }, enrichUser(summary, sources, options.sshPublicKeys !== "never")).pipe(
            Effect.provideService(Iam, iam)
          ))
      )
  }))
