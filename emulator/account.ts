/**
 * The emulated AWS account: the spec's two example users plus a lazy, deterministic
 * generator of N more. User `i` is a pure function of `(seed, i)`: nothing stores the
 * generated users, so an account of 100,000 users costs no memory, and a generated user's
 * name ends in `-<index>` so that a lookup by name is O(1). An organization's member account
 * (any id but `ACCOUNT_ID`) generates users whose names, ids, keys and ARNs carry its id.
 *
 * An account can be changed (`emulator/writes.ts`, the IAM write actions): the changes sit in
 * an overlay over the generator (users replaced, deleted or created, by position), so an
 * account's memory grows with its changes only, and every read (ListUsers, the per-user calls,
 * GetAccountAuthorizationDetails, the credential report) sees them.
 *
 * Beside what the spec maps, a user has what the strict profiles describe: each access key's
 * last use, SSH public keys, signing certificates, service-specific credentials, a permissions
 * boundary, a password changed since it was set, inline policy documents (`policies.ts` holds the
 * documents of the account's policies and groups). These come from a second random stream of
 * `(seed, i)`, so that the fields the spec maps are the same as before they existed.
 */
import {
  boundaryPolicies,
  customerPolicies,
  AWS_MANAGED,
  GROUP_POLICIES,
  type InlinePolicyRecord,
  type ManagedPolicyRecord,
  managedPoliciesOf
} from "./policies.ts"

export const ACCOUNT_ID = "123456789012"

/** The identity the emulator pretends made every request (used in AccessDenied messages and `GetUser` without `UserName`). */
export const CALLER_USER_NAME = "iam-ocsf-reader"

export type KeyStatus = "Active" | "Inactive"

/** When, where and with which service an access key was last used (GetAccessKeyLastUsed, the credential report). */
export interface AccessKeyLastUseRecord {
  readonly Date: string
  readonly ServiceName: string
  readonly Region: string
}

export interface AccessKeyRecord {
  readonly AccessKeyId: string
  readonly Status: KeyStatus
  readonly CreateDate: string
  /** Absent: never used. */
  readonly LastUsed?: AccessKeyLastUseRecord
}

/** An SSH public key (CodeCommit). */
export interface SshPublicKeyRecord {
  readonly SSHPublicKeyId: string
  readonly Status: KeyStatus
  readonly UploadDate: string
}

/** An X.509 signing certificate (the legacy SOAP and SimpleDB APIs). */
export interface SigningCertificateRecord {
  readonly CertificateId: string
  readonly Status: KeyStatus
  readonly UploadDate: string
}

/** A service-specific credential (CodeCommit Git, Keyspaces, Bedrock API keys). */
export interface ServiceSpecificCredentialRecord {
  readonly ServiceSpecificCredentialId: string
  readonly ServiceName: string
  readonly ServiceUserName?: string
  readonly ServiceCredentialAlias?: string
  readonly Status: KeyStatus | "Expired"
  readonly CreateDate: string
  readonly ExpirationDate?: string
}

export interface MfaDeviceRecord {
  readonly SerialNumber: string
  readonly EnableDate: string
}

export interface TagRecord {
  readonly Key: string
  readonly Value: string
}

export interface GroupRecord {
  readonly Path: string
  readonly GroupName: string
  readonly GroupId: string
  readonly Arn: string
  readonly CreateDate: string
  /** Managed policies attached to the group. */
  readonly AttachedPolicies: ReadonlyArray<AttachedPolicyRecord>
  /** The group's inline policies with their documents. */
  readonly InlinePolicies: ReadonlyArray<InlinePolicyRecord>
}

export interface AttachedPolicyRecord {
  readonly PolicyName: string
  readonly PolicyArn: string
}

export interface LoginProfileRecord {
  readonly CreateDate: string
  readonly PasswordResetRequired: boolean
  /** When the password was last set, if after `CreateDate` (the credential report's `password_last_changed`). */
  readonly PasswordLastChanged?: string
}

/** Everything the emulator knows about one user. Timestamps are ISO 8601 without milliseconds. */
export interface UserRecord {
  readonly UserName: string
  readonly UserId: string
  readonly Arn: string
  readonly Path: string
  readonly CreateDate: string
  /** Absent when the password was never used (or the user has no password). */
  readonly PasswordLastUsed?: string
  /** Absent when the user has no console password (GetLoginProfile answers NoSuchEntity). */
  readonly LoginProfile?: LoginProfileRecord
  readonly AccessKeys: ReadonlyArray<AccessKeyRecord>
  readonly MFADevices: ReadonlyArray<MfaDeviceRecord>
  readonly Tags: ReadonlyArray<TagRecord>
  readonly Groups: ReadonlyArray<GroupRecord>
  readonly AttachedPolicies: ReadonlyArray<AttachedPolicyRecord>
  readonly InlinePolicyNames: ReadonlyArray<string>
  /** Documents (JSON text) of inline policies written by PutUserPolicy; the others' come from `inlineDocument`. */
  readonly InlinePolicyDocuments?: Readonly<Record<string, string>>
  readonly SSHPublicKeys: ReadonlyArray<SshPublicKeyRecord>
  readonly SigningCertificates: ReadonlyArray<SigningCertificateRecord>
  readonly ServiceSpecificCredentials: ReadonlyArray<ServiceSpecificCredentialRecord>
  /** The ARN of the user's permissions boundary; absent: none. */
  readonly PermissionsBoundary?: string
}

/**
 * What a collector that made every per-user call should have learned about a user, in the
 * shape of the spec's "API Response" examples (`src/iam/IamUser.ts`'s encoded side).
 * `MFADevices` carry no `DeviceName`: ListMFADevices does not return one.
 */
export interface ExpectedUserJson {
  readonly UserId: string
  readonly UserName: string
  readonly Arn: string
  readonly Path: string
  readonly CreateDate: string
  readonly PasswordLastUsed: string | null
  readonly AccessKeys: ReadonlyArray<{ readonly AccessKeyId: string; readonly Status: KeyStatus; readonly CreateDate: string }>
  readonly MFADevices: ReadonlyArray<{ readonly SerialNumber: string; readonly EnableDate: string }>
  readonly ConsoleAccessEnabled: boolean
  readonly Tags: ReadonlyArray<TagRecord>
  readonly Groups: ReadonlyArray<{ readonly GroupName: string; readonly GroupId: string; readonly Arn: string; readonly Path: string }>
  readonly AttachedPolicies: ReadonlyArray<AttachedPolicyRecord>
  readonly InlinePolicyNames: ReadonlyArray<string>
}

export interface AccountOptions {
  /** How many generated users (after the spec examples). Default 0. */
  readonly users?: number
  /** Whether the spec's two example users come first. Default true. */
  readonly specExamples?: boolean
  /** Seed of the generator. Default 1. */
  readonly seed?: number
  /**
   * The account's 12-digit id. Default `ACCOUNT_ID`. Any other id makes a member account of an
   * organization: its users' names, UserIds, access key ids and ARNs, its groups and its
   * customer-managed policies carry the id, so no two accounts share any of them, and it has no
   * spec example users (they belong to `ACCOUNT_ID`).
   */
  readonly accountId?: string
}

export interface Account {
  readonly accountId: string
  /** Number of users: spec examples + generated, plus created, minus deleted ones. */
  readonly size: number
  /** Positions in ListUsers order: `size` plus the deleted users' (empty) positions. */
  readonly slots: number
  readonly seed: number
  /** ARN of the identity the emulator pretends is calling. */
  readonly callerArn: string
  /** The user at position `slot` (0 ≤ slot < slots), or undefined when it was deleted. */
  at(slot: number): UserRecord | undefined
  /** The user at position `index` (0 ≤ index < slots) in ListUsers order; a RangeError when it was deleted. */
  userAt(index: number): UserRecord
  /** The user named `name`, in O(1); undefined when there is none. */
  user(name: string): UserRecord | undefined
  /** Position of the user named `name` in ListUsers order, or -1. */
  indexOf(name: string): number
  /** Every user name, in ListUsers order, generated on demand. */
  userNames(): Generator<string, void, undefined>
  /** Every user, in ListUsers order, generated on demand. */
  users(): Generator<UserRecord, void, undefined>
  /** The spec-shaped JSON a complete collector should produce for `name`. */
  expected(name: string): ExpectedUserJson | undefined
  /** GetAccountSummary's SummaryMap (computed once, by one pass over the users). */
  summary(): ReadonlyArray<readonly [string, number]>
  /** Every group of the account (users are members of some of them). */
  readonly groups: ReadonlyArray<GroupRecord>
  /** The managed policies a user of the account can be attached to (AWS managed and the account's own). */
  readonly policies: ReadonlyArray<AttachedPolicyRecord>
  /** Every managed policy the account knows, with its versions: the attachable ones and the permissions boundaries. */
  readonly managedPolicies: ReadonlyArray<ManagedPolicyRecord>
  /** The managed policy with this ARN, or undefined. */
  managedPolicy(arn: string): ManagedPolicyRecord | undefined
  /** The group named `name`, or undefined. */
  group(name: string): GroupRecord | undefined
  /** The user that holds the access key `accessKeyId` and the key, or undefined (GetAccessKeyLastUsed). */
  accessKeyOwner(accessKeyId: string): { readonly user: UserRecord; readonly key: AccessKeyRecord } | undefined
  /** How many users and groups each managed policy is attached to, and how many users have it as their boundary, by ARN. */
  policyUsage(): ReadonlyMap<string, { readonly attachments: number; readonly boundaries: number }>
  /** Replaces the user named `name` (which must exist) by `next`, in its position; a rename when the names differ. */
  replaceUser(name: string, next: UserRecord): void
  /** Adds a user after the last position (its name must be free). */
  addUser(user: UserRecord): void
  /** Deletes the user named `name` (which must exist); its position stays, empty. */
  removeUser(name: string): void
}

// ---------------------------------------------------------------------------------------
// The spec's example users (the product spec's; `test/fixtures/ocsf/spec-users.json`), copied exactly. Groups, policies
// and the login profile's CreateDate are not in the spec: they are plausible inventions.

export const SPEC_USERS: ReadonlyArray<UserRecord> = [
  {
    UserName: "lambda-execution-role",
    UserId: "AIDAI23HZ27SI6FQMGNHQ",
    Arn: "arn:aws:iam::123456789012:user/service-role/lambda-execution-role",
    Path: "/service-role/",
    CreateDate: "2020-06-04T10:00:00Z",
    AccessKeys: [
      {
        AccessKeyId: "AKIA123456789EXAMPLE",
        Status: "Active",
        CreateDate: "2020-06-04T10:00:00Z",
        LastUsed: { Date: "2025-08-30T23:15:00Z", ServiceName: "logs", Region: "eu-west-1" }
      },
      { AccessKeyId: "AKIA987654321EXAMPLE", Status: "Active", CreateDate: "2021-03-15T14:30:00Z" }
    ],
    MFADevices: [],
    Tags: [
      { Key: "Purpose", Value: "Lambda Execution" },
      { Key: "Environment", Value: "Production" }
    ],
    Groups: [],
    AttachedPolicies: [
      { PolicyName: "AWSLambdaBasicExecutionRole", PolicyArn: "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" }
    ],
    InlinePolicyNames: [],
    SSHPublicKeys: [],
    SigningCertificates: [],
    ServiceSpecificCredentials: []
  },
  {
    UserName: "aws-developer-team",
    UserId: "AIDACKCEVSQ6C2EXAMPLE",
    Arn: "arn:aws:iam::123456789012:user/engineering/aws-developer-team",
    Path: "/engineering/",
    CreateDate: "2020-06-04T10:00:00Z",
    PasswordLastUsed: "2025-08-26T09:30:00Z",
    LoginProfile: { CreateDate: "2020-06-04T10:00:00Z", PasswordResetRequired: false, PasswordLastChanged: "2025-02-03T08:00:00Z" },
    AccessKeys: [
      {
        AccessKeyId: "AKIAIOSFODNN7EXAMPLE",
        Status: "Active",
        CreateDate: "2025-01-10T11:00:00Z",
        LastUsed: { Date: "2025-08-29T16:42:00Z", ServiceName: "s3", Region: "us-east-1" }
      }
    ],
    MFADevices: [
      { SerialNumber: "arn:aws:iam::123456789012:mfa/aws-developer-team", EnableDate: "2020-07-15T14:00:00Z" }
    ],
    Tags: [
      { Key: "Department", Value: "Engineering" },
      { Key: "Environment", Value: "Development" }
    ],
    Groups: [
      {
        Path: "/engineering/",
        GroupName: "Developers",
        GroupId: "AGPAEXAMPLEDEVELOPER1",
        Arn: "arn:aws:iam::123456789012:group/engineering/Developers",
        CreateDate: "2019-11-04T08:00:00Z",
        AttachedPolicies: [{ PolicyName: "PowerUserAccess", PolicyArn: "arn:aws:iam::aws:policy/PowerUserAccess" }],
        InlinePolicies: []
      }
    ],
    AttachedPolicies: [],
    InlinePolicyNames: [],
    SSHPublicKeys: [
      { SSHPublicKeyId: "APKAEIBAERJR2EXAMPLE", Status: "Active", UploadDate: "2021-05-11T09:00:00Z" }
    ],
    SigningCertificates: [],
    ServiceSpecificCredentials: [
      {
        ServiceSpecificCredentialId: "ACCAEXAMPLE123EXAMPLE",
        ServiceName: "codecommit.amazonaws.com",
        ServiceUserName: "aws-developer-team-at-123456789012",
        Status: "Active",
        CreateDate: "2021-05-11T09:05:00Z"
      }
    ],
    PermissionsBoundary: "arn:aws:iam::aws:policy/PowerUserAccess"
  }
]

// ---------------------------------------------------------------------------------------
// Deterministic randomness

/** A 32-bit hash of two integers (murmur3 finaliser). */
const mix = (a: number, b: number): number => {
  let h = Math.imul((a ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d)
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
  return (h ^ (h >>> 16)) >>> 0
}

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

/** `n` as exactly `width` base-32 digits (ids stay unique because they embed the index). */
const base32 = (n: number, width: number): string => {
  let s = ""
  for (let i = 0; i < width; i++) {
    s = BASE32[n % 32] + s
    n = Math.floor(n / 32)
  }
  return s
}

const randomChars = (rnd: () => number, n: number): string => {
  let s = ""
  for (let i = 0; i < n; i++) s += BASE32[Math.floor(rnd() * 32)]
  return s
}

const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z")

const pick = <A>(rnd: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(rnd() * xs.length)] as A

/** `k` distinct elements of `xs`, in a random order. */
const sample = <A>(rnd: () => number, xs: ReadonlyArray<A>, k: number): Array<A> => {
  const pool = xs.slice()
  const out: Array<A> = []
  for (let i = 0; i < k && pool.length > 0; i++) {
    out.push(pool.splice(Math.floor(rnd() * pool.length), 1)[0] as A)
  }
  return out
}

/** An integer drawn from a weighted table: `weights[n]` is the weight of `n`. */
const weighted = (rnd: () => number, weights: ReadonlyArray<number>): number => {
  let total = 0
  for (const w of weights) total += w
  let r = rnd() * total
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i] as number
    if (r < 0) return i
  }
  return weights.length - 1
}

// ---------------------------------------------------------------------------------------
// Pools of realistic values

const DAY = 86_400_000
const EPOCH_START = Date.UTC(2015, 0, 1)
const EPOCH_END = Date.UTC(2025, 5, 30)
/** "Now" for the generator: fixed, so that the data never depends on the wall clock. */
const NOW = Date.UTC(2025, 8, 1)

const FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
  "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yuki", "zoe", "amir", "bea", "chen", "dmitri",
  "esra", "fatima", "goran", "hana", "ines"]
const LAST = ["martin", "smith", "nguyen", "garcia", "muller", "rossi", "kowalski", "tanaka", "silva", "dubois",
  "okafor", "jensen", "novak", "ali", "kim"]
const SERVICES = ["backup", "billing", "etl", "monitoring", "reporting", "s3-sync", "terraform", "grafana", "datadog",
  "airflow", "jenkins", "vault", "splunk-forwarder", "payments-api", "search-indexer"]
const CI = ["github-actions", "gitlab-runner", "circleci", "deployer", "release-bot"]

type Kind = "human" | "service" | "ci"
const HUMAN_PATHS = ["/", "/", "/engineering/", "/engineering/", "/finance/", "/ops/", "/contractors/", "/r&d/"]
const SERVICE_PATHS = ["/service-role/", "/service-role/", "/", "/apps/"]

const TAG_VALUES: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["Department", ["Engineering", "Finance", "Operations", "Security", "Research", "Sales"]],
  ["Environment", ["Production", "Staging", "Development", "Test"]],
  ["Team", ["platform", "data", "payments", "identity", "sre", "mobile"]],
  ["CostCenter", ["CC-1001", "CC-2040", "CC-3300", "CC-4711"]],
  ["Owner", ["alice@example.com", "bob@example.com", "sre-team@example.com", "data+oncall@example.com"]],
  ["Project", ["atlas", "hermes", "zephyr", "orion"]],
  ["ManagedBy", ["terraform", "cloudformation", "manual"]]
]

/**
 * Where a generated id says which account it belongs to: nothing in the management account
 * (`ACCOUNT_ID`, whose ids stay as they always were), and in a member account a `9` (a digit the
 * management account's base-32 ids never hold) followed by the account id in 8 base-32 digits.
 */
interface AccountScope {
  readonly accountId: string
  readonly tag: string | undefined
  readonly groups: ReadonlyArray<GroupRecord>
  readonly policies: ReadonlyArray<AttachedPolicyRecord>
  /** Every managed policy with its documents. */
  readonly managed: ReadonlyArray<ManagedPolicyRecord>
  /** ARNs of the permissions boundaries the generator gives out. */
  readonly boundaries: ReadonlyArray<string>
}

/** A managed policy as a user or group record names it: its name and ARN only. */
const attachable = (p: ManagedPolicyRecord): AttachedPolicyRecord => ({ PolicyName: p.PolicyName, PolicyArn: p.PolicyArn })

/** The managed policies a user can be attached to: AWS's, then the account's own (the generator's pool, in this order). */
const policiesOf = (accountId: string): ReadonlyArray<AttachedPolicyRecord> =>
  [...AWS_MANAGED, ...customerPolicies(accountId)].map(attachable)

const groupRecord = (
  accountId: string,
  tag: string | undefined,
  policies: ReadonlyArray<AttachedPolicyRecord>,
  name: string,
  path: string,
  n: number,
  created: string
): GroupRecord => {
  const own = GROUP_POLICIES[name] ?? { attached: [], inline: [] }
  return {
    Path: path,
    GroupName: name,
    GroupId: tag === undefined
      ? `AGPA${base32(mix(n, 7) % 2 ** 30, 6)}${base32(mix(n, 11) % 2 ** 30, 6)}EXAMPL`.slice(0, 21)
      : `AGPA${tag}${base32(n, 8)}`,
    Arn: `arn:aws:iam::${accountId}:group${path}${name}`,
    CreateDate: created,
    AttachedPolicies: own.attached.map((policyName) => policies.find((p) => p.PolicyName === policyName)!),
    InlinePolicies: own.inline
  }
}

const groupsOf = (accountId: string, tag: string | undefined): ReadonlyArray<GroupRecord> => {
  const policies = policiesOf(accountId)
  return [
    groupRecord(accountId, tag, policies, "Admins", "/", 1, "2016-02-01T09:00:00Z"),
    groupRecord(accountId, tag, policies, "ReadOnly", "/", 3, "2016-02-01T09:05:00Z"),
    groupRecord(accountId, tag, policies, "Billing", "/finance/", 4, "2017-05-12T13:20:00Z"),
    groupRecord(accountId, tag, policies, "Ops", "/ops/", 5, "2017-09-30T07:45:00Z"),
    groupRecord(accountId, tag, policies, "DataScience", "/engineering/", 6, "2019-03-18T10:10:00Z"),
    groupRecord(accountId, tag, policies, "Support", "/", 7, "2020-01-06T16:00:00Z"),
    groupRecord(accountId, tag, policies, "Security", "/security/", 8, "2018-08-08T08:08:00Z"),
    groupRecord(accountId, tag, policies, "Contractors", "/contractors/", 9, "2021-04-01T12:00:00Z"),
    groupRecord(accountId, tag, policies, "CI", "/ci/", 10, "2022-10-10T10:00:00Z")
  ]
}
export const GROUPS: ReadonlyArray<GroupRecord> = groupsOf(ACCOUNT_ID, undefined)
/** The spec user's group is one of the account's groups too. */
const ALL_GROUPS: ReadonlyArray<GroupRecord> = [...GROUPS, ...(SPEC_USERS[1]?.Groups ?? [])]

export const POLICIES: ReadonlyArray<AttachedPolicyRecord> = policiesOf(ACCOUNT_ID)
const CUSTOMER_POLICY_COUNT = customerPolicies(ACCOUNT_ID).length + boundaryPolicies(ACCOUNT_ID).filter((p) => !p.AwsManaged).length

const MANAGEMENT_SCOPE: AccountScope = {
  accountId: ACCOUNT_ID,
  tag: undefined,
  groups: GROUPS,
  policies: POLICIES,
  managed: managedPoliciesOf(ACCOUNT_ID),
  boundaries: boundaryPolicies(ACCOUNT_ID).map((p) => p.PolicyArn)
}

const scopeOf = (accountId: string): AccountScope => {
  if (accountId === ACCOUNT_ID) return MANAGEMENT_SCOPE
  if (!/^\d{12}$/.test(accountId)) throw new RangeError(`accountId must be 12 digits, got '${accountId}'`)
  const tag = `9${base32(Number(accountId), 8)}`
  return {
    accountId,
    tag,
    groups: groupsOf(accountId, tag),
    policies: policiesOf(accountId),
    managed: managedPoliciesOf(accountId),
    boundaries: boundaryPolicies(accountId).map((p) => p.PolicyArn)
  }
}
const INLINE_POLICIES = ["AllowS3Upload", "AssumeDeployRole", "KmsDecrypt", "SecretsRead", "SqsConsume"]

// ---------------------------------------------------------------------------------------
// The generator

/**
 * Generated user `j` (0-based among generated users) of the account `accountId` (default
 * `ACCOUNT_ID`): a pure function of `(seed, j, accountId)`.
 */
export const generateUser = (seed: number, j: number, accountId: string = ACCOUNT_ID): UserRecord =>
  generateScopedUser(seed, j, scopeOf(accountId))

const generateScopedUser = (seed: number, j: number, scope: AccountScope): UserRecord => {
  const { accountId, tag } = scope
  const rnd = prng(mix(seed, j))
  const kindRoll = rnd()
  const kind: Kind = kindRoll < 0.6 ? "human" : kindRoll < 0.9 ? "service" : "ci"
  const base = kind === "human"
    ? `${pick(rnd, FIRST)}.${pick(rnd, LAST)}`
    : kind === "service" ? `svc-${pick(rnd, SERVICES)}` : `ci-${pick(rnd, CI)}`
  const UserName = tag === undefined ? `${base}-${j}` : `${base}-${accountId}-${j}`
  const Path = kind === "human" ? pick(rnd, HUMAN_PATHS) : kind === "service" ? pick(rnd, SERVICE_PATHS) : "/ci/"
  const created = EPOCH_START + Math.floor(rnd() * (EPOCH_END - EPOCH_START))
  const CreateDate = iso(created)
  const idNoise = randomChars(rnd, 10)
  const UserId = tag === undefined ? `AIDA${idNoise}${base32(j, 7)}` : `AIDA${tag}${idNoise.slice(0, 2)}${base32(j, 6)}`
  const Arn = `arn:aws:iam::${accountId}:user${Path}${UserName}`

  // Console password and its use
  const console = rnd() < (kind === "human" ? 0.85 : kind === "service" ? 0.03 : 0)
  let LoginProfile: LoginProfileRecord | undefined
  let PasswordLastUsed: string | undefined
  if (console) {
    const profileCreated = Math.min(NOW, created + Math.floor(rnd() * 30 * DAY))
    LoginProfile = { CreateDate: iso(profileCreated), PasswordResetRequired: rnd() < 0.05 }
    if (rnd() < 0.8) PasswordLastUsed = iso(profileCreated + Math.floor(rnd() * (NOW - profileCreated)))
  }

  // Access keys: 0–2, some inactive
  const keyCount = weighted(rnd, kind === "human" ? [50, 40, 10] : [5, 60, 35])
  const AccessKeys: Array<AccessKeyRecord> = []
  for (let k = 0; k < keyCount; k++) {
    const keyNoise = randomChars(rnd, 8)
    AccessKeys.push({
      AccessKeyId: tag === undefined ? `AKIA${keyNoise}${base32(j, 7)}${BASE32[k]}` : `AKIA${tag}${base32(j, 6)}${BASE32[k]}`,
      Status: rnd() < (k === 0 && keyCount === 2 ? 0.5 : 0.15) ? "Inactive" : "Active",
      CreateDate: iso(created + Math.floor(rnd() * (NOW - created)))
    })
  }
  AccessKeys.sort((a, b) => a.CreateDate < b.CreateDate ? -1 : a.CreateDate > b.CreateDate ? 1 : 0)

  // MFA: mostly console users; a few have a second (hardware) device
  const mfaCount = rnd() < (console ? 0.7 : 0.03) ? (rnd() < 0.08 ? 2 : 1) : 0
  const MFADevices: Array<MfaDeviceRecord> = []
  for (let m = 0; m < mfaCount; m++) {
    MFADevices.push({
      SerialNumber: m === 0
        ? `arn:aws:iam::${accountId}:mfa/${UserName}`
        : `GAHT${String(Math.floor(rnd() * 1e8)).padStart(8, "0")}`,
      EnableDate: iso(created + Math.floor(rnd() * (NOW - created)))
    })
  }

  const tagCount = weighted(rnd, kind === "human" ? [10, 20, 25, 20, 15, 10] : [25, 25, 20, 15, 10, 5])
  const Tags = sample(rnd, TAG_VALUES, tagCount).map(([Key, values]) => ({ Key, Value: pick(rnd, values) }))

  const groupCount = weighted(rnd, kind === "human" ? [10, 40, 30, 20] : [60, 30, 7, 3])
  const Groups = sample(rnd, scope.groups, groupCount)

  const attachedCount = weighted(rnd, kind === "human" ? [55, 30, 10, 5] : [10, 45, 30, 15])
  const AttachedPolicies = sample(rnd, scope.policies, attachedCount)

  const inlineCount = weighted(rnd, kind === "human" ? [80, 15, 5] : [40, 40, 20])
  const InlinePolicyNames = sample(rnd, INLINE_POLICIES, inlineCount)

  return withIdentity(seed, j, scope, kind, {
    UserName, UserId, Arn, Path, CreateDate,
    ...(PasswordLastUsed === undefined ? {} : { PasswordLastUsed }),
    ...(LoginProfile === undefined ? {} : { LoginProfile }),
    AccessKeys, MFADevices, Tags, Groups, AttachedPolicies, InlinePolicyNames,
    SSHPublicKeys: [], SigningCertificates: [], ServiceSpecificCredentials: []
  })
}

const KEY_SERVICES = ["s3", "s3", "sts", "ec2", "iam", "lambda", "dynamodb", "sqs", "logs", "kms", "secretsmanager"]
const KEY_REGIONS = ["us-east-1", "us-east-1", "eu-west-1", "eu-central-1", "us-west-2", "ap-northeast-1"]

/**
 * The user's fields beyond the spec's, from a random stream of their own (so the spec's fields
 * stay what they were): key last use, a password changed since it was set, SSH public keys,
 * signing certificates, service-specific credentials, a permissions boundary, and for a few an
 * inline policy that allows everything (BreakGlassInline) or denies everything (QuarantineDenyAll).
 */
const withIdentity = (seed: number, j: number, scope: AccountScope, kind: Kind, u: UserRecord): UserRecord => {
  const { accountId, tag } = scope
  const rnd = prng(mix(seed ^ 0x1d3471, j))
  const created = Date.parse(u.CreateDate)
  const between = (from: number) => iso(from + Math.floor(rnd() * Math.max(0, NOW - from)))

  const AccessKeys = u.AccessKeys.map((k): AccessKeyRecord =>
    rnd() < 0.75
      ? { ...k, LastUsed: { Date: between(Date.parse(k.CreateDate)), ServiceName: pick(rnd, KEY_SERVICES), Region: pick(rnd, KEY_REGIONS) } }
      : k
  )

  let LoginProfile = u.LoginProfile
  if (LoginProfile !== undefined && rnd() < 0.4) {
    LoginProfile = { ...LoginProfile, PasswordLastChanged: between(Date.parse(LoginProfile.CreateDate)) }
  }

  const sshCount = rnd() < (kind === "human" ? 0.1 : kind === "ci" ? 0.25 : 0.02) ? (rnd() < 0.2 ? 2 : 1) : 0
  const SSHPublicKeys: Array<SshPublicKeyRecord> = []
  for (let k = 0; k < sshCount; k++) {
    SSHPublicKeys.push({
      SSHPublicKeyId: tag === undefined ? `APKA${randomChars(rnd, 8)}${base32(j, 7)}${BASE32[k]}` : `APKA${tag}${base32(j, 6)}${BASE32[k]}`,
      Status: rnd() < 0.85 ? "Active" : "Inactive",
      UploadDate: between(created)
    })
  }

  const certCount = rnd() < (kind === "service" ? 0.06 : kind === "ci" ? 0.03 : 0.01) ? (rnd() < 0.25 ? 2 : 1) : 0
  const SigningCertificates: Array<SigningCertificateRecord> = []
  for (let k = 0; k < certCount; k++) {
    SigningCertificates.push({
      CertificateId: tag === undefined
        ? `${randomChars(rnd, 16)}${base32(j, 7)}${BASE32[k]}`
        : `${tag}${randomChars(rnd, 8)}${base32(j, 6)}${BASE32[k]}`,
      Status: rnd() < 0.8 ? "Active" : "Inactive",
      UploadDate: between(created)
    })
  }

  const ServiceSpecificCredentials: Array<ServiceSpecificCredentialRecord> = []
  const credentialId = () =>
    tag === undefined
      ? `ACCA${randomChars(rnd, 9)}${base32(j, 7)}${BASE32[ServiceSpecificCredentials.length]}`
      : `ACCA${tag}${base32(j, 6)}${BASE32[ServiceSpecificCredentials.length]}`
  const status = (): KeyStatus => rnd() < 0.9 ? "Active" : "Inactive"
  if (rnd() < (kind === "human" ? 0.06 : kind === "ci" ? 0.15 : 0)) {
    const id = credentialId()
    ServiceSpecificCredentials.push({
      ServiceSpecificCredentialId: id,
      ServiceName: "codecommit.amazonaws.com",
      ServiceUserName: `${u.UserName}-at-${id.slice(-6).toLowerCase()}`,
      Status: status(),
      CreateDate: between(created)
    })
  }
  if (rnd() < (kind === "service" ? 0.05 : 0)) {
    ServiceSpecificCredentials.push({
      ServiceSpecificCredentialId: credentialId(),
      ServiceName: "cassandra.amazonaws.com",
      ServiceUserName: `${u.UserName}-at-${accountId}`,
      Status: status(),
      CreateDate: between(created)
    })
  }
  if (rnd() < (kind === "ci" ? 0 : 0.04)) {
    const id = credentialId()
    const createdAt = Math.max(created, NOW - Math.floor(rnd() * 400 * DAY))
    const expires = rnd() < 0.5 ? createdAt + (rnd() < 0.5 ? 30 : 90) * DAY : undefined
    ServiceSpecificCredentials.push({
      ServiceSpecificCredentialId: id,
      ServiceName: "bedrock.amazonaws.com",
      ServiceCredentialAlias: `BedrockAPIKey-${id.slice(-6).toLowerCase()}`,
      Status: expires !== undefined && expires < NOW ? "Expired" : status(),
      CreateDate: iso(createdAt),
      ...(expires === undefined ? {} : { ExpirationDate: iso(expires) })
    })
  }

  const bounded = rnd() < (kind === "human" ? 0.12 : kind === "service" ? 0.08 : 0)
  const boundary = bounded ? scope.boundaries[weighted(rnd, [60, 25, 15])] : undefined

  const InlinePolicyNames = [...u.InlinePolicyNames]
  if (rnd() < 0.03) InlinePolicyNames.push("BreakGlassInline")
  if (rnd() < 0.01) InlinePolicyNames.push("QuarantineDenyAll")

  return {
    ...u,
    ...(LoginProfile === undefined ? {} : { LoginProfile }),
    AccessKeys,
    InlinePolicyNames,
    SSHPublicKeys,
    SigningCertificates,
    ServiceSpecificCredentials,
    ...(boundary === undefined ? {} : { PermissionsBoundary: boundary })
  }
}

/** The index encoded in a generated user's name (`alice.martin-42` → 42), or -1. */
const generatedIndexOf = (name: string): number => {
  const dash = name.lastIndexOf("-")
  if (dash < 0 || dash === name.length - 1) return -1
  const digits = name.slice(dash + 1)
  if (!/^(0|[1-9][0-9]{0,8})$/.test(digits)) return -1
  return Number(digits)
}

export const toExpectedJson = (u: UserRecord): ExpectedUserJson => ({
  UserId: u.UserId,
  UserName: u.UserName,
  Arn: u.Arn,
  Path: u.Path,
  CreateDate: u.CreateDate,
  PasswordLastUsed: u.PasswordLastUsed ?? null,
  AccessKeys: u.AccessKeys.map((k) => ({ AccessKeyId: k.AccessKeyId, Status: k.Status, CreateDate: k.CreateDate })),
  MFADevices: u.MFADevices.map((d) => ({ SerialNumber: d.SerialNumber, EnableDate: d.EnableDate })),
  ConsoleAccessEnabled: u.LoginProfile !== undefined,
  Tags: u.Tags.map((t) => ({ Key: t.Key, Value: t.Value })),
  Groups: u.Groups.map((g) => ({ GroupName: g.GroupName, GroupId: g.GroupId, Arn: g.Arn, Path: g.Path })),
  AttachedPolicies: u.AttachedPolicies.map((p) => ({ PolicyName: p.PolicyName, PolicyArn: p.PolicyArn })),
  InlinePolicyNames: [...u.InlinePolicyNames]
})

export const makeAccount = (options: AccountOptions = {}): Account => {
  const generated = options.users ?? 0
  if (!Number.isSafeInteger(generated) || generated < 0 || generated > 1e9) {
    throw new RangeError(`users must be an integer between 0 and 1e9, got ${generated}`)
  }
  const seed = (options.seed ?? 1) >>> 0
  const scope = scopeOf(options.accountId ?? ACCOUNT_ID)
  const member = scope !== MANAGEMENT_SCOPE
  if (member && options.specExamples === true) {
    throw new RangeError(`the spec's example users belong to account ${ACCOUNT_ID}, not to ${scope.accountId}`)
  }
  const spec = (options.specExamples ?? !member) ? SPEC_USERS : []
  const groups = member ? scope.groups : ALL_GROUPS
  const offset = spec.length
  const baseSize = offset + generated
  const specByName = new Map(spec.map((u, i) => [u.UserName, i] as const))
  let summaryCache: ReadonlyArray<readonly [string, number]> | undefined
  let usageCache: ReadonlyMap<string, { readonly attachments: number; readonly boundaries: number }> | undefined

  // The overlay: what was written since the account was made, by position.
  /** Base positions whose user was replaced (a record) or deleted (null). */
  const edits = new Map<number, UserRecord | null>()
  /** Users created, at positions baseSize, baseSize + 1, …; null once deleted. */
  const created: Array<UserRecord | null> = []
  /** Names given by a creation or a rename → their position (they win over the generator's names). */
  const names = new Map<string, number>()
  /** Generator names that no longer name their user (renamed or deleted). */
  const retired = new Set<string>()
  let deleted = 0
  const slots = () => baseSize + created.length

  const baseAt = (index: number): UserRecord =>
    index < offset ? spec[index] as UserRecord : generateScopedUser(seed, index - offset, scope)
  const at = (slot: number): UserRecord | undefined => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots()) return undefined
    if (slot >= baseSize) return created[slot - baseSize] ?? undefined
    const edit = edits.get(slot)
    return edit === undefined ? baseAt(slot) : edit ?? undefined
  }
  const userAt = (index: number): UserRecord => {
    const u = at(index)
    if (u === undefined) throw new RangeError(`no user at index ${index}`)
    return u
  }
  const indexOf = (name: string): number => {
    const given = names.get(name)
    if (given !== undefined) return given
    if (retired.has(name)) return -1
    const s = specByName.get(name)
    if (s !== undefined) return s
    const j = generatedIndexOf(name)
    if (j < 0 || j >= generated) return -1
    return generateScopedUser(seed, j, scope).UserName === name ? offset + j : -1
  }
  const user = (name: string): UserRecord | undefined => {
    const i = indexOf(name)
    return i < 0 ? undefined : at(i)
  }
  function* users(): Generator<UserRecord, void, undefined> {
    for (let i = 0; i < slots(); i++) {
      const u = at(i)
      if (u !== undefined) yield u
    }
  }
  function* userNames(): Generator<string, void, undefined> {
    for (const u of users()) yield u.UserName
  }
  const existing = (name: string): number => {
    const i = indexOf(name)
    if (i < 0 || at(i) === undefined) throw new RangeError(`no user named ${name}`)
    return i
  }
  const forget = (name: string): void => {
    if (names.delete(name)) return
    retired.add(name)
  }
  const put = (slot: number, u: UserRecord | null): void => {
    if (slot >= baseSize) created[slot - baseSize] = u
    else edits.set(slot, u)
    summaryCache = undefined
    usageCache = undefined
  }
  const replaceUser = (name: string, next: UserRecord): void => {
    const slot = existing(name)
    if (next.UserName !== name) {
      if (user(next.UserName) !== undefined) throw new RangeError(`a user named ${next.UserName} exists`)
      forget(name)
      names.set(next.UserName, slot)
    }
    put(slot, next)
  }
  const addUser = (u: UserRecord): void => {
    if (user(u.UserName) !== undefined) throw new RangeError(`a user named ${u.UserName} exists`)
    created.push(u)
    names.set(u.UserName, slots() - 1)
    summaryCache = undefined
    usageCache = undefined
  }
  const removeUser = (name: string): void => {
    const slot = existing(name)
    forget(name)
    put(slot, null)
    deleted += 1
  }
  const summary = (): ReadonlyArray<readonly [string, number]> => {
    if (summaryCache !== undefined) return summaryCache
    let mfa = 0
    let mfaInUse = 0
    let keys = 0
    for (const u of users()) {
      mfa += u.MFADevices.length
      if (u.MFADevices.length > 0) mfaInUse += 1
      keys += u.AccessKeys.length
    }
    const size = slots() - deleted
    summaryCache = [
      ["Users", size],
      ["UsersQuota", Math.max(5000, size)],
      ["Groups", groups.length],
      ["GroupsQuota", 300],
      ["Policies", CUSTOMER_POLICY_COUNT],
      ["PoliciesQuota", 1500],
      ["PolicySizeQuota", 6144],
      ["PolicyVersionsInUse", CUSTOMER_POLICY_COUNT],
      ["PolicyVersionsInUseQuota", 10000],
      ["VersionsPerPolicyQuota", 5],
      ["GroupPolicySizeQuota", 5120],
      ["GroupsPerUserQuota", 10],
      ["UserPolicySizeQuota", 2048],
      ["AttachedPoliciesPerUserQuota", 10],
      ["AttachedPoliciesPerGroupQuota", 10],
      ["AttachedPoliciesPerRoleQuota", 10],
      ["AccessKeysPerUserQuota", 2],
      ["SigningCertificatesPerUserQuota", 2],
      ["ServerCertificates", 0],
      ["ServerCertificatesQuota", 20],
      ["MFADevices", mfa],
      ["MFADevicesInUse", mfaInUse],
      ["AccountMFAEnabled", 1],
      ["AccountAccessKeysPresent", 0],
      ["AccountPasswordPresent", 1],
      ["AccountSigningCertificatesPresent", 0],
      ["Roles", 0],
      ["RolesQuota", 1000],
      ["InstanceProfiles", 0],
      ["InstanceProfilesQuota", 1000],
      ["Providers", 0],
      ["GlobalEndpointTokenVersion", 1]
    ]
    return summaryCache
  }

  const managedByArn = new Map(scope.managed.map((p) => [p.PolicyArn, p] as const))
  const groupByName = new Map(groups.map((g) => [g.GroupName, g] as const))

  /** The generated user whose keys an id of the generator names (the id carries the user's index). */
  const generatedKeyOwner = (id: string): number => {
    const digits = scope.tag === undefined ? id.slice(12, 19) : id.slice(4 + scope.tag.length, 10 + scope.tag.length)
    if (scope.tag !== undefined && id.slice(4, 4 + scope.tag.length) !== scope.tag) return -1
    let j = 0
    for (const c of digits) {
      const v = BASE32.indexOf(c)
      if (v < 0) return -1
      j = j * 32 + v
    }
    return j < generated ? offset + j : -1
  }
  const accessKeyOwner = (id: string) => {
    const holding = (u: UserRecord | null | undefined) => {
      const key = u?.AccessKeys.find((k) => k.AccessKeyId === id)
      return key === undefined ? undefined : { user: u!, key }
    }
    const slot = id.length === 20 ? generatedKeyOwner(id) : -1
    const found = (slot >= 0 ? holding(at(slot)) : undefined) ?? spec.map(holding).find((x) => x !== undefined)
    if (found !== undefined) return found
    // keys written since (CreateAccessKey), or users created or replaced since: the overlay is small
    for (const u of [...edits.values(), ...created]) {
      const h = holding(u)
      if (h !== undefined) return h
    }
    return undefined
  }

  const policyUsage = () => {
    // counted once, and again after a write (which drops it, as it drops the summary)
    if (usageCache !== undefined) return usageCache
    const counts = new Map<string, { attachments: number; boundaries: number }>()
    const count = (arn: string) => {
      let c = counts.get(arn)
      if (c === undefined) counts.set(arn, c = { attachments: 0, boundaries: 0 })
      return c
    }
    for (const g of groups) for (const p of g.AttachedPolicies) count(p.PolicyArn).attachments += 1
    for (const u of users()) {
      for (const p of u.AttachedPolicies) count(p.PolicyArn).attachments += 1
      if (u.PermissionsBoundary !== undefined) count(u.PermissionsBoundary).boundaries += 1
    }
    usageCache = counts
    return counts
  }

  return {
    accountId: scope.accountId,
    get size() {
      return slots() - deleted
    },
    get slots() {
      return slots()
    },
    seed,
    callerArn: `arn:aws:iam::${scope.accountId}:user/${CALLER_USER_NAME}`,
    at,
    userAt,
    user,
    indexOf,
    userNames,
    users,
    expected: (name) => {
      const u = user(name)
      return u === undefined ? undefined : toExpectedJson(u)
    },
    summary,
    groups,
    policies: scope.policies,
    managedPolicies: scope.managed,
    managedPolicy: (arn) => managedByArn.get(arn),
    group: (name) => groupByName.get(name),
    accessKeyOwner,
    policyUsage,
    replaceUser,
    addUser,
    removeUser
  }
}

/** The user that `GetUser` (and the other per-user calls) describe when no `UserName` is sent. */
export const CALLER_USER: UserRecord = {
  UserName: CALLER_USER_NAME,
  UserId: "AIDAEMULATORCALLER001",
  Arn: `arn:aws:iam::${ACCOUNT_ID}:user/${CALLER_USER_NAME}`,
  Path: "/",
  CreateDate: "2024-01-02T03:04:05Z",
  AccessKeys: [],
  MFADevices: [],
  Tags: [],
  Groups: [],
  AttachedPolicies: [],
  InlinePolicyNames: [],
  SSHPublicKeys: [],
  SigningCertificates: [],
  ServiceSpecificCredentials: []
}
