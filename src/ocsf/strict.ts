/**
 * The `strict` profile: a valid OCSF 1.6.0 event without profiles, modelled on
 * `test/fixtures/ocsf/corrected-core.json`. Data with an OCSF attribute goes there; the rest of
 * what the spec maps goes to `unmapped.user`, under the spec's names, in milliseconds. With the
 * user's identity (`Identity`, which the collection gathers for this profile) it says too who is an
 * admin (`identity/admin.ts`), how risky the user is (`identity/risk.ts`), every credential with its
 * last use, the groups' privileges and the boundary (README, "The identity in the strict
 * profiles"); without it (a user built outside the collection) the event is as before: type 1.
 */
import * as Schema from "effect/Schema"
import type { AccessKey, IamUser } from "../iam/IamUser.ts"
import { adminOf } from "../identity/admin.ts"
import { type Risk, RISK_LEVELS, type RiskLevelId, riskOf } from "../identity/risk.ts"
import {
  type AccountContext,
  activeKeyCount,
  EpochMillis,
  hasMfa,
  header,
  HeaderFields,
  inCanonicalOrder,
  type MapContext,
  OCSF_VERSION,
  TagsObject,
  tagsObject
} from "./common.ts"

/** `arn:<partition>:iam::<12-digit account>:user/<path><name>` */
const userArn = /^arn:([^:]+):iam::(\d{12}):/

export const parseUserArn = (arn: string): { readonly partition: string; readonly accountId: string } => {
  const m = userArn.exec(arn)
  // an ARN that does not parse yields "", which the account Schema below rejects with its name
  return { partition: m?.[1] ?? "", accountId: m?.[2] ?? "" }
}

export const AwsAccount = Schema.Struct({
  uid: Schema.String.check(Schema.isPattern(/^\d{12}$/, { expected: "a 12-digit AWS account id parsed from the user ARN" })),
  /** The account's name, when the run knows it (AWS Organizations or the config). */
  name: Schema.optionalKey(Schema.NonEmptyString),
  type_id: Schema.Literal(10),
  type: Schema.Literal("AWS Account")
})
export type AwsAccount = typeof AwsAccount.Type

/** The AWS Organization an account belongs to (OCSF `organization`: its id in `uid`). */
export const AwsOrganization = Schema.Struct({ uid: Schema.NonEmptyString })

export const awsAccount = (accountId: string, where?: AccountContext): AwsAccount => ({
  uid: accountId,
  ...(where?.name === undefined || where.name === "" ? {} : { name: where.name }),
  type_id: 10,
  type: "AWS Account"
})

/** The organization, when the account was discovered through AWS Organizations. */
export const awsOrganization = (where?: AccountContext) =>
  where?.organizationId === undefined ? {} : { org: { uid: where.organizationId } }

/** `programmatic_credential.type` of each kind of credential (OCSF leaves the caption to the source). */
export const CREDENTIAL_TYPES = {
  accessKey: "AWS Access Key",
  signingCertificate: "X.509 Signing Certificate",
  serviceSpecific: "Service-Specific Credential",
  sshPublicKey: "SSH Public Key"
} as const

export const StrictUser = Schema.Struct({
  // OCSF: uid is "the AWS user ARN", uid_alt "the AWS user Principal ID"
  uid: Schema.NonEmptyString,
  uid_alt: Schema.NonEmptyString,
  name: Schema.NonEmptyString,
  // 2 Admin: the user can do everything (`identity/admin.ts`); known with the user's identity only
  type_id: Schema.Literals([1, 2]),
  type: Schema.Literals(["User", "Admin"]),
  has_mfa: Schema.Boolean,
  account: AwsAccount,
  org: Schema.optionalKey(AwsOrganization),
  // absent = not collected; [] = collected, member of none
  groups: Schema.optionalKey(Schema.Array(Schema.Struct({
    name: Schema.NonEmptyString,
    uid: Schema.NonEmptyString,
    // the names of the group's attached and inline policies
    privileges: Schema.optionalKey(Schema.Array(Schema.NonEmptyString))
  }))),
  // every credential, whatever its status: an Inactive one can be re-activated. Status is in unmapped.
  programmatic_credentials: Schema.Array(Schema.Struct({
    uid: Schema.NonEmptyString,
    type: Schema.Literals(Object.values(CREDENTIAL_TYPES)),
    // absent: never used, or not known (signing certificates and service-specific credentials)
    last_used_time: Schema.optionalKey(EpochMillis)
  })),
  risk_level_id: Schema.optionalKey(Schema.Literals([0, 1, 2, 3, 4])),
  risk_level: Schema.optionalKey(Schema.Literals(RISK_LEVELS)),
  risk_score: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 })))
}).check(Schema.makeFilter((u: { readonly type_id: number; readonly type: string; readonly risk_level_id?: number; readonly risk_level?: string }) =>
  (u.type_id === 2) !== (u.type === "Admin")
    ? `type ${u.type} is not type_id ${u.type_id}`
    : u.risk_level_id !== undefined && RISK_LEVELS[u.risk_level_id as RiskLevelId] !== u.risk_level
    ? `risk_level ${u.risk_level} is not risk_level_id ${u.risk_level_id}`
    : undefined
))

/** `unmapped` is a free-form object in OCSF: these names are ours (the spec's where it has one). */
const UnmappedUser = Schema.Struct({
  path: Schema.String,
  is_console_user: Schema.Boolean,
  access_keys_count: Schema.Int,
  password_last_used_time: Schema.NullOr(EpochMillis),
  created_time: EpochMillis,
  tags: TagsObject,
  // programmatic_credential has no status or created time in 1.6.0, and both matter for rotation
  access_keys: Schema.Array(Schema.Struct({
    uid: Schema.NonEmptyString,
    status: Schema.Literals(["Active", "Inactive", "Expired"]),
    created_time: EpochMillis,
    // with the user's identity: null = never used; where, when AWS says
    last_used_time: Schema.optionalKey(Schema.NullOr(EpochMillis)),
    last_used_service: Schema.optionalKey(Schema.NonEmptyString),
    last_used_region: Schema.optionalKey(Schema.NonEmptyString)
  })),
  // the user object has no policy attribute; ARNs kept because an AWS managed and a customer
  // managed policy may share a name
  attached_policies: Schema.optionalKey(Schema.Array(Schema.Struct({ name: Schema.NonEmptyString, arn: Schema.NonEmptyString }))),
  inline_policy_names: Schema.optionalKey(Schema.Array(Schema.String)),
  // what follows comes with the user's identity (the README's "OCSF output"), absent without it
  /** The credential report's `password_last_changed` (bulk only: no per-user call says it); null: no password. */
  password_last_changed_time: Schema.optionalKey(Schema.NullOr(EpochMillis)),
  signing_certificates: Schema.optionalKey(Schema.Array(Schema.Struct({
    uid: Schema.NonEmptyString,
    status: Schema.Literals(["Active", "Inactive"]),
    uploaded_time: EpochMillis
  }))),
  service_specific_credentials: Schema.optionalKey(Schema.Array(Schema.Struct({
    uid: Schema.NonEmptyString,
    service_name: Schema.NonEmptyString,
    service_user_name: Schema.optionalKey(Schema.String),
    alias: Schema.optionalKey(Schema.String),
    status: Schema.Literals(["Active", "Inactive", "Expired"]),
    created_time: EpochMillis,
    expiration_time: Schema.optionalKey(EpochMillis)
  }))),
  /** Absent when not listed (bulk, unless `collection.sshPublicKeys` is "always"); no last use is known for them. */
  ssh_public_keys: Schema.optionalKey(Schema.Array(Schema.Struct({
    uid: Schema.NonEmptyString,
    status: Schema.Literals(["Active", "Inactive"]),
    uploaded_time: EpochMillis
  }))),
  /** null: the user has none. */
  permissions_boundary: Schema.optionalKey(Schema.NullOr(Schema.Struct({ arn: Schema.NonEmptyString, allows_all: Schema.Boolean }))),
  /** The policies that allow everything on everything (whether or not something takes it away). */
  admin_policies: Schema.optionalKey(Schema.Array(Schema.Struct({
    name: Schema.NonEmptyString,
    arn: Schema.optionalKey(Schema.NonEmptyString),
    group: Schema.optionalKey(Schema.NonEmptyString)
  }))),
  /** The ids of the risk rules the user hit (`identity/risk.ts`, the README's table), in the table's order. */
  risk_rules: Schema.optionalKey(Schema.Array(Schema.NonEmptyString))
})

export const StrictMetadata = Schema.Struct({
  version: Schema.Literal(OCSF_VERSION),
  product: Schema.Struct({ name: Schema.Literal("IAM"), vendor_name: Schema.Literal("AWS") })
})

export const StrictEvent = Schema.Struct({
  ...HeaderFields,
  // inventory: the event happened when we observed the user, not when it was created
  time: EpochMillis,
  metadata: StrictMetadata,
  user: StrictUser,
  unmapped: Schema.Struct({ user: UnmappedUser })
})
export type StrictEvent = typeof StrictEvent.Type
export type StrictUser = typeof StrictUser.Type

const metadata = { version: OCSF_VERSION, product: { name: "IAM", vendor_name: "AWS" } } as const

/**
 * The keys themselves: their ids are this profile's `programmatic_credentials`. A user whose
 * keys were not listed (collected in bulk for the spec profile) cannot be mapped here: the
 * collection is told to list them (`needsAccessKeyIds`), so this only catches a wiring slip.
 */
const listedKeys = (u: IamUser) => {
  if (u.AccessKeys === undefined) throw new Error(`the access keys of ${u.UserName} were not listed; the strict profiles need their ids`)
  return u.AccessKeys
}

export const toStrictEvent = (u: IamUser, ctx: MapContext): StrictEvent =>
  mapStrict(u, inCanonicalOrder(listedKeys(u), (k) => k.AccessKeyId), ctx)

/** What the user's identity says, as the event carries it (`Identity` absent: none of it). */
const identityFacts = (u: IamUser, keys: ReadonlyArray<AccessKey>, ctx: MapContext) => {
  const id = u.Identity
  if (id === undefined) return undefined
  const lastUse = new Map(id.AccessKeyLastUse.map((l) => [l.AccessKeyId, l] as const))
  const verdict = adminOf(id)
  const risk = riskOf({
    admin: verdict.admin,
    mfa: hasMfa(u),
    consolePassword: u.ConsoleAccessEnabled,
    passwordLastUsed: u.PasswordLastUsed,
    userCreated: u.CreateDate,
    accessKeys: keys.map((k) => ({ active: k.Status === "Active", created: k.CreateDate, lastUsed: lastUse.get(k.AccessKeyId)?.LastUsedDate ?? null })),
    signingCertificates: id.SigningCertificates.map((c) => ({ active: c.Status === "Active" }))
  }, ctx.collectedAt)
  const privileges = new Map<string, Array<string>>()
  for (const p of id.Policies) {
    if (p.Group === undefined) continue
    const names = privileges.get(p.Group) ?? []
    if (!names.includes(p.PolicyName)) names.push(p.PolicyName)
    privileges.set(p.Group, names)
  }
  return { id, lastUse, verdict, risk, privileges }
}

const mapStrict = (u: IamUser, keys: ReadonlyArray<AccessKey>, ctx: MapContext): StrictEvent => {
  const facts = identityFacts(u, keys, ctx)
  const id = facts?.id
  return {
    ...header,
    time: ctx.collectedAt,
    metadata,
    user: strictUser(
      {
        Arn: u.Arn,
        UserId: u.UserId,
        UserName: u.UserName,
        hasMfa: hasMfa(u),
        Groups: u.Groups,
        AccessKeys: keys,
        ...(facts && {
          identity: {
            admin: facts.verdict.admin,
            privileges: facts.privileges,
            lastUsed: (keyId) => facts.lastUse.get(keyId)?.LastUsedDate ?? null,
            signingCertificates: facts.id.SigningCertificates.map((c) => c.CertificateId),
            serviceSpecificCredentials: facts.id.ServiceSpecificCredentials.map((c) => c.ServiceSpecificCredentialId),
            sshPublicKeys: facts.id.SSHPublicKeys?.map((k) => k.SSHPublicKeyId) ?? [],
            risk: facts.risk
          }
        })
      },
      ctx.account
    ),
    unmapped: {
      user: {
        path: u.Path,
        is_console_user: u.ConsoleAccessEnabled,
        access_keys_count: activeKeyCount(u),
        password_last_used_time: u.PasswordLastUsed,
        created_time: u.CreateDate,
        tags: tagsObject(u.Tags),
        access_keys: keys.map((k) => {
          const used = facts?.lastUse.get(k.AccessKeyId)
          return {
            uid: k.AccessKeyId,
            status: k.Status,
            created_time: k.CreateDate,
            ...(facts && { last_used_time: used?.LastUsedDate ?? null }),
            ...(used?.ServiceName !== undefined && { last_used_service: used.ServiceName }),
            ...(used?.Region !== undefined && { last_used_region: used.Region })
          }
        }),
        ...(u.AttachedPolicies && {
          // An AWS managed and a customer managed policy may share a name, never an ARN.
          attached_policies: inCanonicalOrder(u.AttachedPolicies, (p) => p.PolicyName, (p) => p.PolicyArn)
            .map((p) => ({ name: p.PolicyName, arn: p.PolicyArn }))
        }),
        ...(u.InlinePolicyNames && { inline_policy_names: inCanonicalOrder(u.InlinePolicyNames, (n) => n) }),
        ...(id?.PasswordLastChanged !== undefined && { password_last_changed_time: id.PasswordLastChanged }),
        ...(id && {
          signing_certificates: inCanonicalOrder(id.SigningCertificates, (c) => c.CertificateId)
            .map((c) => ({ uid: c.CertificateId, status: c.Status, uploaded_time: c.UploadDate })),
          service_specific_credentials: inCanonicalOrder(id.ServiceSpecificCredentials, (c) => c.ServiceSpecificCredentialId)
            .map((c) => ({
              uid: c.ServiceSpecificCredentialId,
              service_name: c.ServiceName,
              ...(c.ServiceUserName !== undefined && { service_user_name: c.ServiceUserName }),
              ...(c.ServiceCredentialAlias !== undefined && { alias: c.ServiceCredentialAlias }),
              status: c.Status,
              created_time: c.CreateDate,
              ...(c.ExpirationDate !== undefined && { expiration_time: c.ExpirationDate })
            })),
          // absent, not empty, when they were not listed (bulk, unless collection.sshPublicKeys is "always")
          ...(id.SSHPublicKeys !== undefined && {
            ssh_public_keys: inCanonicalOrder(id.SSHPublicKeys, (k) => k.SSHPublicKeyId)
              .map((k) => ({ uid: k.SSHPublicKeyId, status: k.Status, uploaded_time: k.UploadDate }))
          }),
          permissions_boundary: id.PermissionsBoundary === null
            ? null
            : { arn: id.PermissionsBoundary.PermissionsBoundaryArn, allows_all: id.PermissionsBoundary.AllowsAll },
          admin_policies: inCanonicalOrder(facts!.verdict.grantedBy, (p) => p.Group ?? "", (p) => p.PolicyName, (p) => p.PolicyArn ?? "")
            .map((p) => ({
              name: p.PolicyName,
              ...(p.PolicyArn !== undefined && { arn: p.PolicyArn }),
              ...(p.Group !== undefined && { group: p.Group })
            })),
          risk_rules: facts!.risk.rules
        })
      }
    }
  }
}

/** What the strict `user` object is made of: a collected user, or the stored snapshot of one (change events). */
export interface StrictUserFacts {
  readonly Arn: string
  readonly UserId: string
  readonly UserName: string
  readonly hasMfa: boolean
  /** undefined: not collected */
  readonly Groups: ReadonlyArray<{ readonly GroupName: string; readonly GroupId: string }> | undefined
  readonly AccessKeys: ReadonlyArray<{ readonly AccessKeyId: string }>
  /** Whether the user is an administrator, when known without the rest of its identity (a change snapshot). */
  readonly admin?: boolean | undefined
  /** What the user's identity adds (absent: not collected). */
  readonly identity?: {
    readonly admin: boolean
    /** Policy names by group name. */
    readonly privileges: ReadonlyMap<string, ReadonlyArray<string>>
    /** null: never used. */
    readonly lastUsed: (accessKeyId: string) => Date | null
    readonly signingCertificates: ReadonlyArray<string>
    readonly serviceSpecificCredentials: ReadonlyArray<string>
    /** Empty when not listed too (`unmapped.user.ssh_public_keys` tells the two apart). */
    readonly sshPublicKeys: ReadonlyArray<string>
    readonly risk: Risk
  } | undefined
}

/**
 * The strict `user`. Its credentials in one order: access keys, signing certificates,
 * service-specific credentials, SSH public keys, each kind by id.
 */
export const strictUser = (u: StrictUserFacts, where?: AccountContext): StrictUser => {
  const id = u.identity
  const admin = id?.admin ?? u.admin ?? false
  return {
    uid: u.Arn,
    uid_alt: u.UserId,
    name: u.UserName,
    type_id: admin ? 2 : 1,
    type: admin ? "Admin" : "User",
    has_mfa: u.hasMfa,
    account: awsAccount(parseUserArn(u.Arn).accountId, where),
    ...awsOrganization(where),
    ...(u.Groups && {
      groups: inCanonicalOrder(u.Groups, (g) => g.GroupName).map((g) => ({
        name: g.GroupName,
        uid: g.GroupId,
        ...(id && { privileges: inCanonicalOrder(id.privileges.get(g.GroupName) ?? [], (n) => n) })
      }))
    }),
    programmatic_credentials: [
      ...inCanonicalOrder(u.AccessKeys, (k) => k.AccessKeyId).map((k) => {
        const used = id?.lastUsed(k.AccessKeyId) ?? null
        return { uid: k.AccessKeyId, type: CREDENTIAL_TYPES.accessKey, ...(used !== null && { last_used_time: used }) }
      }),
      ...inCanonicalOrder(id?.signingCertificates ?? [], (c) => c).map((uid) => ({ uid, type: CREDENTIAL_TYPES.signingCertificate })),
      ...inCanonicalOrder(id?.serviceSpecificCredentials ?? [], (c) => c).map((uid) => ({ uid, type: CREDENTIAL_TYPES.serviceSpecific })),
      ...inCanonicalOrder(id?.sshPublicKeys ?? [], (k) => k).map((uid) => ({ uid, type: CREDENTIAL_TYPES.sshPublicKey }))
    ],
    ...(id && { risk_level_id: id.risk.levelId, risk_level: id.risk.level, risk_score: id.risk.score })
  }
}
