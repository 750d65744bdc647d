/**
 * The accounts a run reads, and the one IAM service of each: its own door (rate, counts,
 * failures), its own credentials (the base ones, or a role session assumed with them). Services
 * are made the first time an account is read and kept for the life of this layer, so that in
 * the daemon an account's learned request rate outlives a run. Without an `accounts` section
 * there is one account: the credentials' own, read as before.
 */
import type * as Duration from "effect/Duration"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { RetrySettings } from "../common/retry.ts"
import type { AdaptiveRateOptions } from "../iam/AdaptiveRate.ts"
import { type Door, makeDoor } from "../iam/door.ts"
import { type IamService, type IamSettings, makeIam } from "../iam/Iam.ts"
import { AccessDenied, IamError } from "../iam/IamError.ts"
import { organizationReader } from "../iam/Organizations.ts"
import type { Connection } from "../iam/sdkClient.ts"
import { assumedRole, callerIdentity } from "../iam/Sts.ts"
import type { AccountsConfig } from "./AccountsConfig.ts"
import { type AccountTarget, discoverOrganization, listedAccounts, partitionOf } from "./discover.ts"

export interface AccountsSettings {
  readonly connection: Connection
  readonly accounts: AccountsConfig | undefined
  /** Everything an account's IAM service needs but its credentials and account. */
  readonly iam: Omit<IamSettings, keyof Connection | "account" | "renewCredentials">
  readonly callTimeout: Duration.Duration
  readonly retry: RetrySettings
  readonly requestRate?: AdaptiveRateOptions | undefined
}

export interface AccountsService {
  /** Whether the run reads several accounts (an `accounts` section): one account's failure is then its own. */
  readonly several: boolean
  /** Accounts read at once. */
  readonly concurrency: number
  /** This run's accounts, discovered now. Fails when discovery does (the run cannot know what to read). */
  readonly discover: Effect.Effect<ReadonlyArray<AccountTarget>, IamError>
  /** The IAM service of an account; for a role, the session is assumed first (its failure is the account's). */
  readonly open: (account: AccountTarget) => Effect.Effect<IamService, IamError>
  /** The id of an account: a target's own, or for the credentials' own account, GetCallerIdentity's (asked once). */
  readonly idOf: (account: AccountTarget) => Effect.Effect<string, IamError>
}

/** The account of the credentials themselves, when no `accounts` section names others. */
export const ownAccount: AccountTarget = { id: undefined, name: undefined, organizationId: undefined, access: { _tag: "Base" } }

const noPermission = (action: string, permission: string, error: IamError) =>
  error.reason._tag === "AccessDenied"
    ? new IamError({
      action,
      reason: new AccessDenied({
        ...error.reason,
        message: `account discovery needs ${permission}, which is denied: ${error.reason.message}`
      })
    })
    : error

export class Accounts extends Context.Service<Accounts, AccountsService>()("iam-ocsf/Accounts") {
  static readonly layer = (settings: AccountsSettings) => Layer.effect(Accounts, make(settings))
}

const make = Effect.fnUntraced(function*(settings: AccountsSettings) {
  const scope = yield* Effect.scope
  const context = yield* Effect.context<never>()
  const { connection, accounts } = settings
  const doorOf = (service: "STS" | "Organizations", account?: string): Effect.Effect<Door> =>
    makeDoor({
      service,
      account,
      callTimeout: settings.callTimeout,
      retry: settings.retry,
      maxInFlight: 4,
      requestRate: settings.requestRate
    }).pipe(Scope.provide(scope))
  const sts = yield* doorOf("STS")
  const organizations = yield* doorOf("Organizations")
  const services = new Map<string, IamService>()

  const iamService = (account: AccountTarget, extra: Pick<IamSettings, "credentials" | "renewCredentials">) =>
    makeIam({ ...settings.iam, ...connection, account: account.id, ...extra }).pipe(Scope.provide(scope))

  const open = (account: AccountTarget): Effect.Effect<IamService, IamError> =>
    Effect.gen(function*() {
      const key = account.id ?? ""
      const known = services.get(key)
      if (known !== undefined) return known
      if (account.access._tag === "Base") {
        const iam = yield* iamService(account, {})
        services.set(key, iam)
        return iam
      }
      const session = assumedRole(connection, {
        roleArn: account.access.roleArn,
        externalId: account.access.externalId,
        sessionName: accounts?.sessionName ?? "iam-ocsf",
        duration: accounts?.sessionDuration ?? (yield* Effect.die("no sessionDuration"))
      }, sts, context)
      // Assumed now, inside the account's span: a role that cannot be assumed fails this account
      // here, with AssumeRole's own error, rather than its first IAM call.
      yield* Effect.tryPromise({
        try: () => session.provider(),
        catch: (e) =>
          e instanceof IamError
            ? e
            : new IamError({
              action: "AssumeRole",
              userName: account.access._tag === "AssumeRole" ? account.access.roleArn : undefined,
              reason: new AccessDenied({ code: "CredentialsProviderError", message: String(e instanceof Error ? e.message : e) })
            })
      })
      const iam = yield* iamService(account, { credentials: session.provider, renewCredentials: session.renew })
      services.set(key, iam)
      return iam
    })

  const discover: Effect.Effect<ReadonlyArray<AccountTarget>, IamError> = accounts === undefined
    ? Effect.succeed([ownAccount])
    : Effect.scoped(Effect.gen(function*() {
      const caller = yield* callerIdentity(connection, sts)
      const partition = partitionOf(caller.arn)
      const listed = listedAccounts(accounts, partition)
      if (accounts.organization === undefined) return listed
      const reader = yield* organizationReader(connection, organizations)
      const found = yield* discoverOrganization(accounts.organization, reader, partition).pipe(
        Effect.mapError((e) => noPermission(e.action, `organizations:${e.action}`, e))
      )
      // An account both listed and discovered is read as listed (its role, its name).
      const ids = new Set(listed.map((a) => a.id))
      return [...listed, ...found.filter((a) => !ids.has(a.id))]
    })).pipe(Effect.withSpan("accounts.discover"))

  let ownId: string | undefined
  const idOf = (account: AccountTarget): Effect.Effect<string, IamError> =>
    account.id !== undefined
      ? Effect.succeed(account.id)
      : ownId !== undefined
      ? Effect.succeed(ownId)
      : Effect.scoped(callerIdentity(connection, sts)).pipe(Effect.map((caller) => (ownId = caller.account)))

  return Accounts.of({
    idOf,
    several: accounts !== undefined,
    concurrency: accounts?.concurrency ?? 1,
    discover,
    open
  })
})
