/**
 * What the state keeps of one user between runs: the facts whose change is an event (name, path,
 * MFA, policies, access keys, console password, groups, tags, whether an admin, the other
 * credentials, the permissions boundary), in the same shape whichever strategy collected the user,
 * with a content hash that tells an unchanged user at a glance.
 *
 * Both strategies must give the same snapshot for the same user, so it keeps only what both know:
 * - MFA as a yes/no. The per-user strategy lists the devices, the bulk one has the credential
 *   report's `mfa_active`; a second device added to a user who has one is not a change here.
 * - Access keys with their ids, status and creation time. The bulk strategy lists them
 *   (ListAccessKeys) for the strict profiles, and change events need a strict profile.
 * - Not `PasswordLastUsed`: it moves at every console sign-in, which is use, not a change; nor any
 *   credential's last use.
 * - SSH public keys only when they were listed (bulk lists them only with `collection.sshPublicKeys:
 *   "always"`): absent, the state's keep (`detect.ts`).
 * Lists are sorted, so the order AWS happened to answer in never looks like a change.
 */
import { createHash } from "node:crypto"
import * as Schema from "effect/Schema"
import type { IamUser, Identity } from "../iam/IamUser.ts"
import { adminOf } from "../identity/admin.ts"

export const SnapshotAccessKey = Schema.Struct({
  AccessKeyId: Schema.NonEmptyString,
  Status: Schema.Literals(["Active", "Inactive", "Expired"]),
  /** ISO 8601 */
  CreateDate: Schema.String
})
export type SnapshotAccessKey = typeof SnapshotAccessKey.Type

export const SnapshotGroup = Schema.Struct({ GroupId: Schema.NonEmptyString, GroupName: Schema.NonEmptyString })
export type SnapshotGroup = typeof SnapshotGroup.Type

export const SnapshotPolicy = Schema.Struct({ PolicyArn: Schema.NonEmptyString, PolicyName: Schema.NonEmptyString })
export type SnapshotPolicy = typeof SnapshotPolicy.Type

export const SnapshotTag = Schema.Struct({ Key: Schema.String, Value: Schema.String })
export type SnapshotTag = typeof SnapshotTag.Type

/** A credential other than an access key: its kind, id and status. */
export const SnapshotCredential = Schema.Struct({
  Type: Schema.Literals(["SigningCertificate", "ServiceSpecificCredential", "SSHPublicKey"]),
  Id: Schema.NonEmptyString,
  Status: Schema.Literals(["Active", "Inactive", "Expired"])
})
export type SnapshotCredential = typeof SnapshotCredential.Type

/** One user as a complete run saw it. Its decoded and encoded sides are the same JSON. */
export const UserSnapshot = Schema.Struct({
  UserId: Schema.NonEmptyString,
  UserName: Schema.NonEmptyString,
  Path: Schema.String,
  Arn: Schema.NonEmptyString,
  ConsoleAccess: Schema.Boolean,
  MFA: Schema.Boolean,
  /** Sorted by id. */
  AccessKeys: Schema.Array(SnapshotAccessKey),
  /** Sorted by id. */
  Groups: Schema.Array(SnapshotGroup),
  /** Managed policies, sorted by ARN (an AWS managed and a customer managed policy may share a name). */
  AttachedPolicies: Schema.Array(SnapshotPolicy),
  /** Sorted. */
  InlinePolicyNames: Schema.Array(Schema.String),
  /** Sorted by key. */
  Tags: Schema.Array(SnapshotTag),
  /**
   * Whether the user is an administrator (`identity/admin.ts`): what the change events' `user`
   * says as the inventory's does. Absent in a state recorded before it was kept.
   */
  Admin: Schema.optionalKey(Schema.Boolean),
  /** Signing certificates and service-specific credentials, sorted by type and id. Absent: as `Admin`. */
  Credentials: Schema.optionalKey(Schema.Array(SnapshotCredential)),
  /** Sorted by id. Absent: not listed by the run (`collection.sshPublicKeys`), or as `Admin`. */
  SSHPublicKeys: Schema.optionalKey(Schema.Array(SnapshotCredential)),
  /** The permissions boundary's ARN; null: none. Absent: as `Admin`. */
  PermissionsBoundary: Schema.optionalKey(Schema.NullOr(Schema.NonEmptyString))
})
export type UserSnapshot = typeof UserSnapshot.Type

/** Code-unit order: the same everywhere, unlike `localeCompare`. */
export const byText = <A>(key: (a: A) => string) => (a: A, b: A): number => {
  const x = key(a)
  const y = key(b)
  return x < y ? -1 : x > y ? 1 : 0
}

const required = <A>(value: A | undefined, what: string, u: IamUser): A => {
  // The collection lists all of these for a strict profile; absent here is a wiring slip.
  if (value === undefined) throw new Error(`the ${what} of ${u.UserName} were not collected; a change snapshot needs them`)
  return value
}

/**
 * The snapshot of a fully collected user. Throws when the user's access keys, groups or policies
 * were not listed: without them a change would be invented (or missed), never just unknown.
 */
export const toSnapshot = (u: IamUser): UserSnapshot => ({
  UserId: u.UserId,
  UserName: u.UserName,
  Path: u.Path,
  Arn: u.Arn,
  ConsoleAccess: u.ConsoleAccessEnabled,
  MFA: u.MFADevices !== undefined ? u.MFADevices.length > 0 : required(u.MFAActive, "MFA status", u),
  AccessKeys: required(u.AccessKeys, "access keys", u)
    .map((k) => ({ AccessKeyId: k.AccessKeyId, Status: k.Status, CreateDate: k.CreateDate.toISOString() }))
    .sort(byText((k) => k.AccessKeyId)),
  Groups: required(u.Groups, "groups", u)
    .map((g) => ({ GroupId: g.GroupId, GroupName: g.GroupName }))
    .sort(byText((g) => g.GroupId)),
  AttachedPolicies: required(u.AttachedPolicies, "attached policies", u)
    .map((p) => ({ PolicyArn: p.PolicyArn, PolicyName: p.PolicyName }))
    .sort(byText((p) => p.PolicyArn)),
  InlinePolicyNames: [...required(u.InlinePolicyNames, "inline policy names", u)].sort(byText((n) => n)),
  Tags: u.Tags.map((t) => ({ Key: t.Key, Value: t.Value })).sort(byText((t) => t.Key)),
  ...(u.Identity === undefined ? {} : identityFacts(u.Identity))
})

/** A credential's id among all of a user's: its kind and its id, in the order lists are kept in. */
export const credentialId = (c: SnapshotCredential) => `${c.Type}/${c.Id}`

/** The snapshot's facts from the user's `Identity`, in the Schema's key order. */
const identityFacts = (id: Identity) => ({
  Admin: adminOf(id).admin,
  Credentials: [
    ...id.SigningCertificates.map((c): SnapshotCredential => ({ Type: "SigningCertificate", Id: c.CertificateId, Status: c.Status })),
    ...id.ServiceSpecificCredentials.map((c): SnapshotCredential => ({
      Type: "ServiceSpecificCredential",
      Id: c.ServiceSpecificCredentialId,
      Status: c.Status
    }))
  ].sort(byText(credentialId)),
  ...(id.SSHPublicKeys === undefined ? {} : {
    SSHPublicKeys: id.SSHPublicKeys
      .map((k): SnapshotCredential => ({ Type: "SSHPublicKey", Id: k.SSHPublicKeyId, Status: k.Status }))
      .sort(byText(credentialId))
  }),
  PermissionsBoundary: id.PermissionsBoundary?.PermissionsBoundaryArn ?? null
})

/**
 * The snapshot with the SSH public keys the state has where this run did not list them: not
 * listed is not "none". Built in the Schema's key order, so its JSON (and hash) is the one a run
 * that listed the same keys makes.
 */
export const withStateSshKeys = (previous: UserSnapshot, current: UserSnapshot): UserSnapshot => {
  if (current.SSHPublicKeys !== undefined || previous.SSHPublicKeys === undefined) return current
  const { PermissionsBoundary, ...before } = current
  return {
    ...before,
    SSHPublicKeys: previous.SSHPublicKeys,
    ...(PermissionsBoundary === undefined ? {} : { PermissionsBoundary })
  }
}

/** The snapshot as stored: compact JSON, keys in the Schema's order. */
export const snapshotJson = (s: UserSnapshot): string => JSON.stringify(s)

/** The content hash of a snapshot's JSON: equal hashes, nothing changed. 128 bits of SHA-256, base64url. */
export const hashJson = (json: string): string => createHash("sha256").update(json).digest().subarray(0, 16).toString("base64url")

export const snapshotHash = (s: UserSnapshot): string => hashJson(snapshotJson(s))
