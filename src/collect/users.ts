/**
 * The per-user strategy (ListUsers, then seven calls a user), and `UserOutcome`: what became of
 * each listed user, as both strategies report it, so that a failure is that user's, not the run's.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Iam } from "../iam/Iam.ts"
import type { IamError } from "../iam/IamError.ts"
import type { IamUser } from "../iam/IamUser.ts"
import { enrichUser } from "./enrich.ts"
import { checkedListing } from "./paging.ts"

/** What became of one user that ListUsers returned. */
export type UserOutcome =
  /** `collectedAt`: when the last answer about the user arrived (the strict profiles' event `time`). */
  | { readonly _tag: "Collected"; readonly user: IamUser; readonly collectedAt: Date }
  /** Enrichment failed after its retries: the user must not be emitted with guessed values. */
  | { readonly _tag: "Failed"; readonly userName: string; readonly arn: string | undefined; readonly error: IamError }
  /** Deleted between ListUsers and its per-user calls (NoSuchEntity): nothing to report. */
  | { readonly _tag: "Vanished"; readonly userName: string }

export interface CollectOptions {
  /** ListUsers MaxItems. */
  readonly pageSize: number
  /** Users enriched at once. */
  readonly concurrency: number
}

/** One user's collection as an outcome: its failures are the user's, not the run's. */
export const outcome = <R>(
  userName: string,
  arn: string | undefined,
  collect: Effect.Effect<IamUser, IamError, R>
): Effect.Effect<UserOutcome, never, R> =>
  collect.pipe(
    Effect.flatMap((user) =>
      Effect.map(Clock.currentTimeMillis, (now): UserOutcome => ({ _tag: "Collected", user, collectedAt: new Date(now) }))
    ),
    Effect.catch((error) =>
      Effect.succeed<UserOutcome>(
        error.reason._tag === "NotFound"
          ? { _tag: "Vanished", userName }
          : { _tag: "Failed", userName, arn, error }
      )
    )
  )

/**
 * The per-user strategy. Every user of the account, enriched, as a stream: ListUsers is followed page by page (only
 * one page is held at a time) and users are enriched concurrently, in completion order so a
 * slow or retried user does not hold up the others. A ListUsers page that fails after its
 * retries fails the stream: the snapshot would be incomplete without anyone knowing which
 * users are missing; so does a listing whose pages do not hold together (`paging.ts`).
 */
export const collectUsers = (options: CollectOptions): Stream.Stream<UserOutcome, IamError, Iam> =>
  Stream.unwrap(Effect.gen(function*() {
    const iam = yield* Iam
    const check = yield* checkedListing((limits) => limits.users)
    return Stream.paginate(undefined as string | undefined, (marker) =>
      iam.listUsers(marker, options.pageSize).pipe(
        Effect.flatMap(check),
        Effect.map((page) => [page.items, Option.fromUndefinedOr(page.marker)] as const)
      )).pipe(
        Stream.mapEffect(
          (summary) =>
            outcome(summary.UserName ?? "", summary.Arn, enrichUser(summary)).pipe(Effect.provideService(Iam, iam)),
          { concurrency: options.concurrency, unordered: true }
        )
      )
  }))
