/**
 * One IAM user with everything the per-user calls returned, in the shape of the spec's
 * "API Response" examples (the product spec; `test/fixtures/ocsf/spec-users.json`): the encoded side is exactly that JSON
 * (ISO 8601 strings), the decoded side carries `Date`s. Groups and policies are optional on
 * purpose: absent means "not collected", which is different from an empty list.
 *
 * The bulk strategy learns MFA and key status from the credential report, which says whether
 * MFA is active and whether keys 1 and 2 are active, but lists neither devices nor key ids.
 * Such a user carries `MFAActive` instead of `MFADevices`, and `ActiveAccessKeyCount` instead
 * of `AccessKeys`: each fact is stated the way its source stated it, never filled in.
 *
 * `Identity` holds what the strict profiles describe beyond the spec's table (each access key's
 * last use, signing certificates, service-specific credentials, the policies that apply with what
 * each allows, the permissions boundary); absent when the profile does not need it (`spec`), so
 * absent means "not collected". Its SSH public keys are absent too when they were not listed: no
 * account-wide call lists them, so bulk lists them user by user only when asked
 * (`collection.sshPublicKeys`, see the README, "OCSF output").
 */
import * as Schema from "effect/Schema"

// Only full ISO 8601 timestamps with a zone: a zoneless string would be read in the host's
// time zone, the very slip that puts the spec's example event three hours off.
const IsoDate = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, {
    message: "Expected an ISO 8601 timestamp with a time zone, e.g. 2020-06-04T10:00:00Z"
  })),
  Schema.decodeTo(Schema.DateFromString)
)

export const AccessKey = Schema.Struct({
  AccessKeyId: Schema.NonEmptyString,
  Status: Schema.Literals(["Active", "Inactive", "Expired"]),
  CreateDate: IsoDate
})
export type AccessKey = typeof AccessKey.Type

export const MfaDevice = Schema.Struct({
  DeviceName: Schema.optional(Schema.String),
  SerialNumber: Schema.NonEmptyString,
  EnableDate: IsoDate
})
export type MfaDevice = typeof MfaDevice.Type

export const Tag = Schema.Struct({ Key: Schema.String, Value: Schema.String })
export type Tag = typeof Tag.Type

export const Group = Schema.Struct({
  GroupName: Schema.NonEmptyString,
  GroupId: Schema.NonEmptyString,
  Arn: Schema.NonEmptyString,
  Path: Schema.String
})
export type Group = typeof Group.Type

export const AttachedPolicy = Schema.Struct({
  PolicyName: Schema.NonEmptyString,
  PolicyArn: Schema.NonEmptyString
})
export type AttachedPolicy = typeof AttachedPolicy.Type

const CredentialStatus = Schema.Literals(["Active", "Inactive"])

/** When an access key was last used: GetAccessKeyLastUsed (per-user) or the credential report (bulk). */
export const AccessKeyLastUse = Schema.Struct({
  AccessKeyId: Schema.NonEmptyString,
  /** null: never used (AWS keeps last use since April 2015). */
  LastUsedDate: Schema.NullOr(IsoDate),
  /** Where it was used, when AWS says (not `N/A`). */
  ServiceName: Schema.optionalKey(Schema.NonEmptyString),
  Region: Schema.optionalKey(Schema.NonEmptyString)
})
export type AccessKeyLastUse = typeof AccessKeyLastUse.Type

export const SigningCertificate = Schema.Struct({
  CertificateId: Schema.NonEmptyString,
  Status: CredentialStatus,
  UploadDate: IsoDate
})
export type SigningCertificate = typeof SigningCertificate.Type

/** An SSH public key for CodeCommit (ListSSHPublicKeys: no last use is known for it). */
export const SshPublicKey = Schema.Struct({
  SSHPublicKeyId: Schema.NonEmptyString,
  Status: CredentialStatus,
  UploadDate: IsoDate
})
export type SshPublicKey = typeof SshPublicKey.Type

export const ServiceSpecificCredential = Schema.Struct({
  ServiceSpecificCredentialId: Schema.NonEmptyString,
  ServiceName: Schema.NonEmptyString,
  ServiceUserName: Schema.optionalKey(Schema.String),
  ServiceCredentialAlias: Schema.optionalKey(Schema.String),
  Status: Schema.Literals(["Active", "Inactive", "Expired"]),
  CreateDate: IsoDate,
  ExpirationDate: Schema.optionalKey(IsoDate)
})
export type ServiceSpecificCredential = typeof ServiceSpecificCredential.Type

/**
 * One policy that applies to the user, with what its document says (`identity/policyDocument.ts`):
 * the user's own or one of its groups' (`Group`), managed (with its ARN) or inline (without).
 */
export const AppliedPolicy = Schema.Struct({
  PolicyName: Schema.NonEmptyString,
  /** A managed policy's ARN; absent for an inline policy. */
  PolicyArn: Schema.optionalKey(Schema.NonEmptyString),
  /** The group the policy comes from; absent for the user's own. */
  Group: Schema.optionalKey(Schema.NonEmptyString),
  /** It allows every action on every resource. */
  AllowsAll: Schema.Boolean,
  /** It denies every action on every resource, unconditionally. */
  DeniesAll: Schema.Boolean
})
export type AppliedPolicy = typeof AppliedPolicy.Type

export const PermissionsBoundary = Schema.Struct({
  PermissionsBoundaryArn: Schema.NonEmptyString,
  PermissionsBoundaryType: Schema.Literal("PermissionsBoundaryPolicy"),
  /** The boundary allows every action on every resource (so it takes nothing away). */
  AllowsAll: Schema.Boolean
})
export type PermissionsBoundary = typeof PermissionsBoundary.Type

/** What the strict profiles add to the spec's user (see the module comment). */
export const Identity = Schema.Struct({
  /** One per access key of `AccessKeys`. */
  AccessKeyLastUse: Schema.Array(AccessKeyLastUse),
  SigningCertificates: Schema.Array(SigningCertificate),
  ServiceSpecificCredentials: Schema.Array(ServiceSpecificCredential),
  /** Absent: not listed (bulk lists them only with `collection.sshPublicKeys: "always"`). */
  SSHPublicKeys: Schema.optionalKey(Schema.Array(SshPublicKey)),
  /**
   * When the console password was last set (the credential report's `password_last_changed`;
   * null without a password). Absent when not known: no per-user call says it.
   */
  PasswordLastChanged: Schema.optionalKey(Schema.NullOr(IsoDate)),
  /** null: the user has none. */
  PermissionsBoundary: Schema.NullOr(PermissionsBoundary),
  /** Every identity policy that applies: the user's attached and inline ones, and each group's. */
  Policies: Schema.Array(AppliedPolicy)
})
export type Identity = typeof Identity.Type

export const IamUser = Schema.Struct({
  UserId: Schema.NonEmptyString,
  UserName: Schema.NonEmptyString,
  Arn: Schema.String.pipe(
    Schema.check(Schema.isPattern(/^arn:aws[a-z-]*:iam::\d{12}:user\//, { message: "Expected an IAM user ARN" }))
  ),
  Path: Schema.String,
  CreateDate: IsoDate,
  PasswordLastUsed: Schema.NullOr(IsoDate),
  /** Absent when the keys were not listed; then `ActiveAccessKeyCount` says how many are Active. */
  AccessKeys: Schema.optionalKey(Schema.Array(AccessKey)),
  ActiveAccessKeyCount: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
  /** Absent when the devices were not listed; then `MFAActive` says whether there is one. */
  MFADevices: Schema.optionalKey(Schema.Array(MfaDevice)),
  MFAActive: Schema.optionalKey(Schema.Boolean),
  ConsoleAccessEnabled: Schema.Boolean,
  Tags: Schema.Array(Tag),
  Groups: Schema.optional(Schema.Array(Group)),
  AttachedPolicies: Schema.optional(Schema.Array(AttachedPolicy)),
  InlinePolicyNames: Schema.optional(Schema.Array(Schema.String)),
  Identity: Schema.optionalKey(Identity)
}).check(Schema.makeFilter((u: {
  readonly AccessKeys?: ReadonlyArray<{ readonly AccessKeyId: string }>
  readonly ActiveAccessKeyCount?: unknown
  readonly MFADevices?: unknown
  readonly MFAActive?: unknown
  readonly Identity?: { readonly AccessKeyLastUse: ReadonlyArray<{ readonly AccessKeyId: string }> }
}) =>
  (u.AccessKeys === undefined) === (u.ActiveAccessKeyCount === undefined)
    ? "exactly one of AccessKeys (the keys) and ActiveAccessKeyCount (their count) is required"
    : (u.MFADevices === undefined) === (u.MFAActive === undefined)
    ? "exactly one of MFADevices (the devices) and MFAActive (whether there is one) is required"
    // A key without its last use would read as never used: known for each key, or not at all.
    : u.Identity !== undefined && !sameKeys(u.AccessKeys ?? [], u.Identity.AccessKeyLastUse)
    ? "Identity.AccessKeyLastUse must hold one entry for each of AccessKeys"
    : undefined
))

const sameKeys = (keys: ReadonlyArray<{ readonly AccessKeyId: string }>, uses: ReadonlyArray<{ readonly AccessKeyId: string }>) => {
  const used = new Set(uses.map((u) => u.AccessKeyId))
  return used.size === uses.length && uses.length === keys.length && keys.every((k) => used.has(k.AccessKeyId))
}
export type IamUser = typeof IamUser.Type
/** The spec's "API Response" JSON for one user. */
export type IamUserJson = typeof IamUser.Encoded
