/**
 * Which strategy collects a run's users: `per-user`, `bulk`, or `auto`, which is bulk unless an
 * action bulk needs is denied before the first user, and then per-user for the whole run.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Iam } from "../iam/Iam.ts"
import type { IamError } from "../iam/IamError.ts"
import { bulkUsers, indexAccount } from "./bulk.ts"
import type { CollectionStrategy } from "./CollectionConfig.ts"
import { ListingLimits, listingLimits } from "./paging.ts"
import { type CollectOptions, collectUsers, type UserOutcome } from "./users.ts"

export interface CollectionOptions extends CollectOptions {
  readonly strategy: CollectionStrategy
  /** bulk: a credential report younger than this is reused, an older one regenerated. */
  readonly maxCredentialReportAge: Duration.Duration
  /** The profile's events carry access key ids, which bulk must then list per user. */
  readonly accessKeyIds: boolean
}

/** The actions bulk needs beyond the per-user strategy's: denying one of these makes `auto` fall back. */
const BULK_ACTIONS: ReadonlySet<string> = new Set([
  "GetAccountAuthorizationDetails",
  "GenerateCredentialReport",
  "GetCredentialReport"
])

const deniedToBulk = (e: IamError) => e.reason._tag === "AccessDenied" && BULK_ACTIONS.has(e.action)

/**
 * Every user of the account, by the configured strategy. The account summary is read first: it
 * bounds the listings (`paging.ts`).
 */
export const collect = (options: CollectionOptions): Stream.Stream<UserOutcome, IamError, Iam> =>
  Stream.unwrap(Effect.map(listingLimits, (limits) => byStrategy(options).pipe(Stream.provideService(ListingLimits, limits))))

const byStrategy = (options: CollectionOptions): Stream.Stream<UserOutcome, IamError, Iam> => {
  if (options.strategy === "per-user") return collectUsers(options)
  return Stream.unwrap(
    indexAccount(options).pipe(
      Effect.map((index) => bulkUsers(index, options)),
      Effect.tap(() => Effect.logInfo("collecting in bulk (GetAccountAuthorizationDetails and the credential report)")),
      // Only before the first user: a fallback after some users were emitted would emit them twice.
      Effect.catchIf(
        (e) => options.strategy === "auto" && deniedToBulk(e),
        (e) =>
          Effect.logWarning(
            `bulk collection needs iam:${e.action}, which is denied (${e.reason.message}); ` +
              "collecting per user for this run (grant it, or set collection.strategy to \"per-user\")"
          ).pipe(Effect.as(collectUsers(options)))
      )
    )
  )
}
