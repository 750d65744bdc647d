/**
 * The `collection` section of the config file: which strategy collects the users, how many at
 * once, and the bounds of each AWS call (deadline, retries, request rate). A module of its own so
 * that reading the config does not load the collectors.
 */
import * as Schema from "effect/Schema"
import { RetryConfig } from "../common/RetryConfig.ts"
import { durationField } from "../config/durations.ts"
import { intBetween, section, withDefault } from "../config/fields.ts"

/**
 * Which strategy collects the users. `per-user`: ListUsers, then seven calls a user (the
 * spec's minimal permissions). `bulk`: a handful of account-wide calls (`bulk.ts`). `auto`:
 * bulk, or per-user for the whole run when an action bulk needs is denied. Every strategy
 * yields the same events for the same account. */
export const CollectionStrategy = Schema.Literals(["per-user", "bulk", "auto"])
export type CollectionStrategy = typeof CollectionStrategy.Type

/**
 * Where the strict profiles list each user's SSH public keys (ListSSHPublicKeys, one call a user:
 * no account-wide call lists them). `per-user` (default): where the strategy makes calls per user
 * anyway, so bulk stays a handful of calls and its events carry no SSH keys (absent, not empty);
 * `always`: bulk lists them too, one call a user, and both strategies give the same events;
 * `never`: nowhere (a role without iam:ListSSHPublicKeys).
 */
export const SshPublicKeysListing = Schema.Literals(["per-user", "always", "never"])
export type SshPublicKeysListing = typeof SshPublicKeysListing.Type

/**
 * A request rate: from one request every 10 seconds (slower, a 1,000-user account would take a
 * day) to 10,000 a second (far above any IAM quota; an emulator is not slower than that).
 */
const RequestsPerSecond = Schema.Number.check(Schema.isBetween({ minimum: 0.1, maximum: 10_000 }))

export const CollectionConfig = Schema.Struct({
  /**
   * Users enriched at once: seven times this many AWS calls in flight. A call waiting out a
   * retry's backoff is not in flight, and meanwhile more users are enriched (`collect/users.ts`).
   */
  concurrency: intBetween(1, 256).pipe(withDefault(8)),
  /** `MaxItems` of each `ListUsers` page. */
  pageSize: intBetween(1, 1000).pipe(withDefault(100)),
  /** Timeout of each AWS call (each attempt). */
  callTimeout: durationField({ minimum: "1ms", maximum: "10m", default: "10s" }),
  retry: RetryConfig.pipe(section),
  /** `per-user`, `bulk` (GetAccountAuthorizationDetails + the credential report) or `auto` (bulk unless denied). */
  strategy: CollectionStrategy.pipe(withDefault("auto")),
  /** bulk: a credential report younger than this is reused; an older one is regenerated (AWS: at most one per 4h). */
  maxCredentialReportAge: durationField({ minimum: "1s", maximum: "7d", default: "4h" }),
  /** The strict profiles: where users' SSH public keys are listed (`per-user`, `always`, `never`). */
  sshPublicKeys: SshPublicKeysListing.pipe(withDefault("per-user")),
  /** A fixed ceiling on the requests per second sent to the account; absent: the learned rate alone. */
  maxRequestsPerSecond: Schema.optionalKey(RequestsPerSecond),
  /** The learned rate never drops below this, however much AWS throttles (retries still back off). */
  minRequestsPerSecond: RequestsPerSecond.pipe(withDefault(1))
}).check(Schema.makeFilter((c: { readonly maxRequestsPerSecond?: number; readonly minRequestsPerSecond: number }) =>
  c.maxRequestsPerSecond !== undefined && c.maxRequestsPerSecond < c.minRequestsPerSecond
    ? `maxRequestsPerSecond must not be below minRequestsPerSecond; found ${c.maxRequestsPerSecond} and ${c.minRequestsPerSecond}`
    : undefined
))
export type CollectionConfig = typeof CollectionConfig.Type
