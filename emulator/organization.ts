/**
 * The emulator's AWS Organization: its accounts (the management account `ACCOUNT_ID` and N-1
 * members with deterministic ids), its root and its tree of OUs, and what each account is set
 * to do (status, role, external id, faults, session lifetime). Pure data: no HTTP here; the
 * Organizations and STS answers (`organizations.ts`, `sts.ts`) and the IAM server read it.
 */
import { ACCOUNT_ID } from "./account.ts"
import { type Faults, validateFaults } from "./faults.ts"

/** The role every account accepts in AssumeRole unless `roleName` says otherwise. */
export const DEFAULT_ROLE_NAME = "iam-ocsf-reader"

export const MANAGEMENT_ACCOUNT_ID = ACCOUNT_ID

/** The id of member account `n` (1-based): `200000000001`, `200000000002`, … */
export const memberAccountId = (n: number): string => {
  if (!Number.isInteger(n) || n < 1 || n > 99_999_999_999) throw new RangeError(`member account number must be ≥ 1, got ${n}`)
  return String(200_000_000_000 + n)
}

export type AccountStatus = "ACTIVE" | "SUSPENDED"

/**
 * How long a session AssumeRole hands out really lasts, whatever its `Expiration` says (which is
 * always the requested `DurationSeconds`, as a session revoked or cut short would): after
 * `calls` IAM calls, or `ms` milliseconds after it was issued, every call signed with it answers
 * `ExpiredToken`. A new AssumeRole gives a fresh session. Read when a session is issued.
 */
export interface SessionLifetime {
  readonly calls?: number
  readonly ms?: number
}

/** One OU: its name, the member accounts placed directly in it (by id) and its child OUs. */
export interface OrganizationalUnitOptions {
  readonly name: string
  readonly accounts?: ReadonlyArray<string>
  readonly children?: ReadonlyArray<OrganizationalUnitOptions>
}

/** What one account is set to, over the organization-wide defaults. */
export interface AccountSettings {
  readonly name?: string
  /** Generated users of a member account (the management account's come from `EmulatorOptions.users`). */
  readonly users?: number
  readonly status?: AccountStatus
  /** The account's IAM faults and `requestsPerSecond` budget, instead of `memberFaults` (or `EmulatorOptions.faults`). */
  readonly faults?: Faults
  /** AssumeRole into this account answers AccessDenied. */
  readonly assumeRoleDenied?: boolean
  /** AssumeRole into this account must carry this ExternalId (else AccessDenied). */
  readonly externalId?: string
  readonly sessionLifetime?: SessionLifetime
}

/** Faults of the Organizations API, every action together. */
export interface OrganizationsFaults {
  /** Fixed delay before every answer. */
  readonly latencyMs?: number
  /** Probability (0..1) of `TooManyRequestsException` (HTTP 429). */
  readonly throttleRate?: number
  /** Budget (token bucket, burst = budget) above which calls answer `TooManyRequestsException`. */
  readonly requestsPerSecond?: number
  /** Every call answers `AccessDeniedException` (HTTP 403), as when the caller lacks `organizations:*` reads. */
  readonly accessDenied?: boolean
  /** ListAccountsForParent and ListOrganizationalUnitsForParent on these roots/OUs answer `AccessDeniedException`. */
  readonly deniedParents?: ReadonlyArray<string>
}

export interface OrganizationOptions {
  /** Accounts in the organization, the management account included (≥ 1). */
  readonly accounts: number
  /** Generated users of every member account. Default: `EmulatorOptions.users`. */
  readonly usersPerAccount?: number
  /** IAM faults and budget of every member account (the management account keeps `EmulatorOptions.faults`). */
  readonly memberFaults?: Faults
  /** The role name every account accepts in AssumeRole. Default `iam-ocsf-reader`. */
  readonly roleName?: string
  /** An ExternalId every account requires (an account's own `externalId` wins). */
  readonly externalId?: string
  /** Every account's session lifetime (an account's own wins). */
  readonly sessionLifetime?: SessionLifetime
  /**
   * The OU tree under the root. Member accounts not placed in an OU sit under the root, as does
   * the management account. Default: Security, Workloads (with Production and Development
   * inside) and Sandbox, members dealt round-robin in that order.
   */
  readonly organizationalUnits?: ReadonlyArray<OrganizationalUnitOptions>
  /** Per account id: its name, users, status, faults, role and session settings. */
  readonly perAccount?: { readonly [accountId: string]: AccountSettings }
  readonly organizationsFaults?: OrganizationsFaults
  /** Every other page of every Organizations list is half of MaxResults (empty when MaxResults is 1) while NextToken is present. */
  readonly shortPages?: boolean
  /** The overlap recorder's gap (see `overlap.ts`). Default 250 ms. */
  readonly overlapGapMs?: number
}

export interface OrgAccount {
  readonly id: string
  readonly name: string
  readonly email: string
  readonly arn: string
  readonly status: AccountStatus
  /** The root or OU the account sits in. */
  readonly parentId: string
  readonly joinedMethod: "INVITED" | "CREATED"
  /** Epoch seconds. */
  readonly joinedTimestamp: number
}

export interface OrgUnit {
  readonly id: string
  readonly arn: string
  readonly name: string
  readonly parentId: string
}

export interface OrgStructure {
  readonly id: string
  readonly arn: string
  readonly rootId: string
  readonly rootArn: string
  readonly managementAccountId: string
  readonly managementEmail: string
  /** Management account first, then the members in order: ListAccounts' order. */
  readonly accounts: ReadonlyArray<OrgAccount>
  /** Every OU, depth first. */
  readonly units: ReadonlyArray<OrgUnit>
  account(id: string): OrgAccount | undefined
  /** Accounts directly under a root or OU. */
  accountsIn(parentId: string): ReadonlyArray<OrgAccount>
  /** OUs directly under a root or OU. */
  unitsIn(parentId: string): ReadonlyArray<OrgUnit>
  /** Ids of the accounts under a root or OU, at any depth. */
  accountsUnder(parentId: string): ReadonlyArray<string>
  isParent(id: string): boolean
}

const DEFAULT_TREE: ReadonlyArray<OrganizationalUnitOptions> = [
  { name: "Security" },
  { name: "Workloads", children: [{ name: "Production" }, { name: "Development" }] },
  { name: "Sandbox" }
]

/** Lowercase base-36 digits drawn from a seeded hash (ids look like AWS's, stay deterministic). */
const idChars = (seed: number, salt: number, n: number): string => {
  let h = (seed ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0
  let s = ""
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0
    h = (h ^ (h >>> 12)) >>> 0
    s += "abcdefghijklmnopqrstuvwxyz0123456789"[h % 36]
  }
  return s
}

const checkLifetime = (where: string, l: SessionLifetime | undefined): void => {
  if (l === undefined) return
  if (l.calls !== undefined && !(Number.isInteger(l.calls) && l.calls >= 0)) {
    throw new RangeError(`${where}.calls must be an integer ≥ 0, got ${l.calls}`)
  }
  if (l.ms !== undefined && !(Number.isFinite(l.ms) && l.ms >= 0)) throw new RangeError(`${where}.ms must be a number ≥ 0, got ${l.ms}`)
}

const checkRate = (where: string, v: number | undefined): void => {
  if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`${where} must be within 0..1, got ${v}`)
}

export const validateOrganizationsFaults = (f: OrganizationsFaults): void => {
  if (f.latencyMs !== undefined && !(Number.isFinite(f.latencyMs) && f.latencyMs >= 0)) {
    throw new RangeError(`organizationsFaults.latencyMs must be a number ≥ 0, got ${f.latencyMs}`)
  }
  checkRate("organizationsFaults.throttleRate", f.throttleRate)
  if (f.requestsPerSecond !== undefined && !(Number.isFinite(f.requestsPerSecond) && f.requestsPerSecond > 0)) {
    throw new RangeError(`organizationsFaults.requestsPerSecond must be a positive number, got ${f.requestsPerSecond}`)
  }
}

export const validateAccountSettings = (id: string, s: AccountSettings): void => {
  const where = `organization.perAccount["${id}"]`
  if (s.users !== undefined && !(Number.isSafeInteger(s.users) && s.users >= 0 && s.users <= 1e9)) {
    throw new RangeError(`${where}.users must be an integer between 0 and 1e9, got ${s.users}`)
  }
  if (s.status !== undefined && s.status !== "ACTIVE" && s.status !== "SUSPENDED") {
    throw new RangeError(`${where}.status must be ACTIVE or SUSPENDED, got ${String(s.status)}`)
  }
  if (s.faults !== undefined) validateFaults(s.faults)
  checkLifetime(`${where}.sessionLifetime`, s.sessionLifetime)
}

/** Checks the options (a RangeError names the first bad field) and lays out the organization. */
export const makeStructure = (options: OrganizationOptions, seed: number): OrgStructure => {
  const n = options.accounts
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new RangeError(`organization.accounts must be an integer between 1 and 100000 (the management account included), got ${n}`)
  }
  if (options.usersPerAccount !== undefined && !(Number.isSafeInteger(options.usersPerAccount) && options.usersPerAccount >= 0)) {
    throw new RangeError(`organization.usersPerAccount must be an integer ≥ 0, got ${options.usersPerAccount}`)
  }
  if (options.roleName !== undefined && !/^[\w+=,.@-]{1,64}$/.test(options.roleName)) {
    throw new RangeError(`organization.roleName must be an IAM role name ([\\w+=,.@-]{1,64}), got '${options.roleName}'`)
  }
  if (options.memberFaults !== undefined) validateFaults(options.memberFaults)
  checkLifetime("organization.sessionLifetime", options.sessionLifetime)
  if (options.organizationsFaults !== undefined) validateOrganizationsFaults(options.organizationsFaults)
  if (options.overlapGapMs !== undefined && !(Number.isFinite(options.overlapGapMs) && options.overlapGapMs >= 0)) {
    throw new RangeError(`organization.overlapGapMs must be a number ≥ 0, got ${options.overlapGapMs}`)
  }

  const managementAccountId = MANAGEMENT_ACCOUNT_ID
  const memberIds = Array.from({ length: n - 1 }, (_, i) => memberAccountId(i + 1))
  const known = new Set([managementAccountId, ...memberIds])
  for (const [id, s] of Object.entries(options.perAccount ?? {})) {
    if (!known.has(id)) throw new RangeError(`organization.perAccount: no account ${id} in an organization of ${n} accounts`)
    validateAccountSettings(id, s)
  }

  const orgId = `o-${idChars(seed, 0, 10)}`
  const rootSuffix = idChars(seed, 1, 4)
  const rootId = `r-${rootSuffix}`
  const arnBase = `arn:aws:organizations::${managementAccountId}`

  // OUs, depth first; placement of the members.
  const units: Array<OrgUnit> = []
  const placed = new Map<string, string>()
  const names = new Set<string>()
  const addUnits = (specs: ReadonlyArray<OrganizationalUnitOptions>, parentId: string, path: string): void => {
    for (const spec of specs) {
      if (typeof spec.name !== "string" || spec.name === "") throw new RangeError(`organization.organizationalUnits: an OU under ${path} has no name`)
      const id = `ou-${rootSuffix}-${idChars(seed, 2 + units.length, 8)}`
      units.push({ id, arn: `${arnBase}:ou/${orgId}/${id}`, name: spec.name, parentId })
      const where = `${path}/${spec.name}`
      if (names.has(where)) throw new RangeError(`organization.organizationalUnits: two OUs named ${where}`)
      names.add(where)
      for (const a of spec.accounts ?? []) {
        if (!known.has(a) || a === managementAccountId) throw new RangeError(`organization.organizationalUnits: ${where} lists ${a}, which is not a member account`)
        if (placed.has(a)) throw new RangeError(`organization.organizationalUnits: account ${a} is placed twice`)
        placed.set(a, id)
      }
      addUnits(spec.children ?? [], id, where)
    }
  }
  const explicit = options.organizationalUnits !== undefined
  addUnits(options.organizationalUnits ?? DEFAULT_TREE, rootId, "")
  if (!explicit && units.length > 0) memberIds.forEach((id, i) => placed.set(id, units[i % units.length]!.id))

  const perAccount = options.perAccount ?? {}
  const joinedBase = Date.UTC(2019, 0, 1) / 1000
  const makeOrgAccount = (id: string, i: number): OrgAccount => ({
    id,
    name: perAccount[id]?.name ?? (i === 0 ? "management" : `member-${i}`),
    email: `aws+${id}@example.com`,
    arn: `${arnBase}:account/${orgId}/${id}`,
    status: perAccount[id]?.status ?? "ACTIVE",
    parentId: placed.get(id) ?? rootId,
    joinedMethod: i === 0 ? "INVITED" : "CREATED",
    joinedTimestamp: joinedBase + i * 86_400
  })
  const accounts = [managementAccountId, ...memberIds].map(makeOrgAccount)
  const byId = new Map(accounts.map((a) => [a.id, a] as const))
  const parents = new Set([rootId, ...units.map((u) => u.id)])
  const group = <A extends { readonly parentId: string }>(items: ReadonlyArray<A>): Map<string, Array<A>> => {
    const m = new Map<string, Array<A>>()
    for (const item of items) {
      const list = m.get(item.parentId)
      if (list === undefined) m.set(item.parentId, [item])
      else list.push(item)
    }
    return m
  }
  const accountsByParent = group(accounts)
  const unitsByParent = group(units)
  const accountsIn = (parentId: string): ReadonlyArray<OrgAccount> => accountsByParent.get(parentId) ?? []
  const unitsIn = (parentId: string): ReadonlyArray<OrgUnit> => unitsByParent.get(parentId) ?? []
  const accountsUnder = (parentId: string): ReadonlyArray<string> => [
    ...accountsIn(parentId).map((a) => a.id),
    ...unitsIn(parentId).flatMap((u) => accountsUnder(u.id))
  ]

  return {
    id: orgId,
    arn: `${arnBase}:organization/${orgId}`,
    rootId,
    rootArn: `${arnBase}:root/${orgId}/${rootId}`,
    managementAccountId,
    managementEmail: `aws+${managementAccountId}@example.com`,
    accounts,
    units,
    account: (id) => byId.get(id),
    accountsIn,
    unitsIn,
    accountsUnder,
    isParent: (id) => parents.has(id)
  }
}
