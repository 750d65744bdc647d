/**
 * Which accounts a run reads, decided at the start of every run (so that a new account joins
 * without a restart): the listed ones, or the organization's ACTIVE accounts after the
 * `parents`, `include` and `exclude` filters. The walk of the organization's tree is only made
 * when an OU is named (it costs a call per OU); otherwise one paginated ListAccounts suffices.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { AccountsConfig, ListedAccount, OrganizationConfig } from "./AccountsConfig.ts"

/** One account of the organization, as Organizations describes it. */
export interface OrgAccount {
  readonly id: string
  readonly name: string | undefined
  /** `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`... (the newer `State`, else `Status`). */
  readonly state: string
}

/** What discovery needs from AWS Organizations; each listing is followed to its last page by the implementation. */
export interface OrganizationReader<E> {
  readonly describe: Effect.Effect<{ readonly id: string; readonly managementAccountId: string }, E>
  readonly listAccounts: Effect.Effect<ReadonlyArray<OrgAccount>, E>
  readonly listRoots: Effect.Effect<ReadonlyArray<string>, E>
  readonly listAccountsForParent: (parentId: string) => Effect.Effect<ReadonlyArray<OrgAccount>, E>
  readonly listOrganizationalUnitsForParent: (parentId: string) => Effect.Effect<ReadonlyArray<string>, E>
}

/** How a run gets into one account. */
export type AccountAccess =
  | { readonly _tag: "Base" }
  | {
    readonly _tag: "AssumeRole"
    readonly roleArn: string
    readonly externalId: Redacted.Redacted<string> | undefined
  }

/** One account a run reads. */
export interface AccountTarget {
  /** Undefined for the credentials' own account when no `accounts` section names any (not looked up). */
  readonly id: string | undefined
  /** Organizations' name for it, the config's, or undefined. */
  readonly name: string | undefined
  /** The organization it belongs to, when discovered through Organizations. */
  readonly organizationId: string | undefined
  readonly access: AccountAccess
}

/** The partition of the base credentials' ARN ("aws", "aws-cn", "aws-us-gov"): role ARNs are built in it. */
export const partitionOf = (callerArn: string): string => callerArn.split(":")[1] ?? "aws"

const roleArn = (partition: string, accountId: string, roleName: string) =>
  `arn:${partition}:iam::${accountId}:role/${roleName}`

const listed = (entry: ListedAccount, partition: string): AccountTarget => ({
  id: entry.id,
  name: entry.name,
  organizationId: undefined,
  access: entry.roleArn !== undefined
    ? { _tag: "AssumeRole", roleArn: entry.roleArn, externalId: entry.externalId }
    : entry.roleName !== undefined
    ? { _tag: "AssumeRole", roleArn: roleArn(partition, entry.id, entry.roleName), externalId: entry.externalId }
    : { _tag: "Base" }
})

/** Every account under `parentId` (recursively) with the OUs above it, up to `parentId`. */
const walk = <E>(
  reader: OrganizationReader<E>,
  parentId: string,
  above: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<{ readonly account: OrgAccount; readonly parents: ReadonlyArray<string> }>, E> =>
  Effect.gen(function*() {
    const parents = [...above, parentId]
    const here = (yield* reader.listAccountsForParent(parentId)).map((account) => ({ account, parents }))
    const children = yield* reader.listOrganizationalUnitsForParent(parentId)
    const below = yield* Effect.forEach(children, (ou) => walk(reader, ou, parents), { concurrency: 1 })
    return [...here, ...below.flat()]
  })

const namesOu = (ids: ReadonlyArray<string> | undefined) => (ids ?? []).some((id) => !/^\d{12}$/.test(id))

/**
 * The organization's accounts a run reads: ACTIVE ones only, under `parents` when given, then
 * `include` (when given) and `exclude` by account id or by an OU above the account. The
 * management account is read with the base credentials (they are its own) unless excluded.
 */
export const discoverOrganization = <E>(
  organization: OrganizationConfig,
  reader: OrganizationReader<E>,
  partition: string
): Effect.Effect<ReadonlyArray<AccountTarget>, E> =>
  Effect.gen(function*() {
    const described = yield* reader.describe
    const walkTree = organization.parents !== undefined || namesOu(organization.include) || namesOu(organization.exclude)
    const found = walkTree
      ? (yield* Effect.forEach(organization.parents ?? (yield* reader.listRoots), (p) => walk(reader, p, []), { concurrency: 1 }))
        .flat()
      : (yield* reader.listAccounts).map((account) => ({ account, parents: [] as ReadonlyArray<string> }))
    const matches = (ids: ReadonlyArray<string>, entry: { readonly account: OrgAccount; readonly parents: ReadonlyArray<string> }) =>
      ids.includes(entry.account.id) || entry.parents.some((p) => ids.includes(p))
    const seen = new Set<string>()
    const targets: Array<AccountTarget> = []
    for (const entry of found) {
      if (entry.account.state !== "ACTIVE" || seen.has(entry.account.id)) continue
      if (organization.include !== undefined && !matches(organization.include, entry)) continue
      if (organization.exclude !== undefined && matches(organization.exclude, entry)) continue
      seen.add(entry.account.id)
      targets.push({
        id: entry.account.id,
        name: entry.account.name,
        organizationId: described.id,
        access: entry.account.id === described.managementAccountId
          ? { _tag: "Base" }
          : {
            _tag: "AssumeRole",
            roleArn: roleArn(partition, entry.account.id, organization.roleName),
            externalId: organization.externalId
          }
      })
    }
    // A stable order: the same accounts are read in the same order run after run.
    return targets.sort((a, b) => a.id! < b.id! ? -1 : a.id! > b.id! ? 1 : 0)
  })

/** The accounts of `accounts.list`, in the order written. */
export const listedAccounts = (accounts: AccountsConfig, partition: string): ReadonlyArray<AccountTarget> =>
  (accounts.list ?? []).map((entry) => listed(entry, partition))
