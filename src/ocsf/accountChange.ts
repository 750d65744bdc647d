/**
 * Change events: OCSF 1.6.0 Account Change (class 3001), one per change of one user, for the
 * `strict` and `strict-cloud` profiles (the `spec` profile has no change events). The table in
 * the README ("Change events") is this file's mapping, row for row:
 *
 *   Created → 1 Create; Deleted → 6 Delete; MfaEnabled → 10 MFA Factor Enable; MfaDisabled →
 *   11 MFA Factor Disable; a managed or inline policy attached / detached → 7 Attach Policy /
 *   8 Detach Policy, with `policies`; everything OCSF has no activity for (access key created,
 *   deleted, activated, deactivated; the same for a signing certificate, service-specific
 *   credential or SSH public key; console password added, removed; group joined, left; became an
 *   administrator or no longer one; permissions boundary set, replaced or removed; tags changed;
 *   renamed or moved to another path) → 99 Other, said in `message`.
 *
 * `user` is the user as the state keeps it (`changes/snapshot.ts`), after the change (for a
 * deletion: as last seen), in the strict profile's shape, so its `uid` is the one its inventory
 * events carry; its other credentials, their last use and its risk are in the 5003 events only. What
 * changed is in `message` (for people) and `unmapped.change` (for rules). `metadata.uid` is a
 * hash of the user's state before and after and of the change: a change detected again after a
 * run that could not record it (at least once) carries the same uid, so a consumer can drop the
 * repeat.
 */
import * as Schema from "effect/Schema"
import { type Change, CHANGE_KINDS, type ChangeKind } from "../changes/diff.ts"
import { isAwsManaged } from "../identity/policyDocument.ts"
import { hashJson, type SnapshotCredential, snapshotJson, type UserSnapshot } from "../changes/snapshot.ts"
import { type AccountContext, EpochMillis, OCSF_VERSION, TagsObject } from "./common.ts"
import { awsOrganization, CREDENTIAL_TYPES, parseUserArn, StrictMetadata, StrictUser, strictUser } from "./strict.ts"
import { StrictCloudEvent } from "./strictCloud.ts"

/** The class 3001 activities this program emits, with their 1.6.0 captions. */
export const ACTIVITIES = {
  Create: 1,
  Delete: 6,
  "Attach Policy": 7,
  "Detach Policy": 8,
  "MFA Factor Enable": 10,
  "MFA Factor Disable": 11,
  Other: 99
} as const
export type ActivityName = keyof typeof ACTIVITIES

const activityOf: Record<ChangeKind, ActivityName> = {
  Created: "Create",
  Deleted: "Delete",
  Renamed: "Other",
  MfaEnabled: "MFA Factor Enable",
  MfaDisabled: "MFA Factor Disable",
  PolicyAttached: "Attach Policy",
  PolicyDetached: "Detach Policy",
  InlinePolicyAdded: "Attach Policy",
  InlinePolicyRemoved: "Detach Policy",
  AccessKeyCreated: "Other",
  AccessKeyDeleted: "Other",
  AccessKeyActivated: "Other",
  AccessKeyDeactivated: "Other",
  CredentialAdded: "Other",
  CredentialRemoved: "Other",
  CredentialActivated: "Other",
  CredentialDeactivated: "Other",
  PasswordAdded: "Other",
  PasswordRemoved: "Other",
  GroupJoined: "Other",
  GroupLeft: "Other",
  AdminGranted: "Other",
  AdminRevoked: "Other",
  BoundaryChanged: "Other",
  TagsChanged: "Other"
}

/** `unmapped.change.kind`: the change's name in snake case (`AccessKeyCreated` → `access_key_created`). */
export const kindName = (kind: ChangeKind): string => kind.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "_") + c.toLowerCase())

const activityNames = Object.keys(ACTIVITIES) as Array<ActivityName>

/** Class 3001's fixed fields, in the key order of the 5003 events. */
export const accountChangeHeader = {
  category_name: "Identity & Access Management",
  category_uid: 3,
  class_name: "Account Change",
  class_uid: 3001
} as const

const Policy = Schema.Struct({
  name: Schema.NonEmptyString,
  // the ARN of a managed policy; an inline policy has none (it is part of its user)
  uid: Schema.optionalKey(Schema.NonEmptyString),
  type: Schema.Literals(["AWS Managed Policy", "Customer Managed Policy", "Inline Policy"])
})

/** The details of the change, for rules: names of ours, times in milliseconds as elsewhere in `unmapped`. */
const ChangeDetails = Schema.Struct({
  kind: Schema.Literals(CHANGE_KINDS.map(kindName)),
  /** Renamed: the name, path and ARN before. */
  previous: Schema.optionalKey(Schema.Struct({ name: Schema.NonEmptyString, path: Schema.String, uid: Schema.NonEmptyString })),
  access_key: Schema.optionalKey(Schema.Struct({
    uid: Schema.NonEmptyString,
    status: Schema.Literals(["Active", "Inactive", "Expired"]),
    created_time: EpochMillis
  })),
  /** A signing certificate, service-specific credential or SSH public key, as `programmatic_credentials` types them. */
  credential: Schema.optionalKey(Schema.Struct({
    uid: Schema.NonEmptyString,
    type: Schema.Literals([CREDENTIAL_TYPES.signingCertificate, CREDENTIAL_TYPES.serviceSpecific, CREDENTIAL_TYPES.sshPublicKey]),
    status: Schema.Literals(["Active", "Inactive", "Expired"])
  })),
  group: Schema.optionalKey(Schema.Struct({ name: Schema.NonEmptyString, uid: Schema.NonEmptyString })),
  /** The permissions boundary's ARN before and after (null: none). */
  permissions_boundary: Schema.optionalKey(Schema.Struct({ from: Schema.NullOr(Schema.NonEmptyString), to: Schema.NullOr(Schema.NonEmptyString) })),
  tags: Schema.optionalKey(Schema.Struct({
    added: TagsObject,
    removed: TagsObject,
    changed: Schema.Record(Schema.String, Schema.Struct({ from: Schema.String, to: Schema.String }))
  }))
})

export const AccountChangeMetadata = Schema.Struct({
  ...StrictMetadata.fields,
  /** Same change from the same state to the same state: same uid. */
  uid: Schema.NonEmptyString
})

export const AccountChangeEvent = Schema.Struct({
  activity_id: Schema.Literals(Object.values(ACTIVITIES)),
  activity_name: Schema.Literals(activityNames),
  category_name: Schema.Literal(accountChangeHeader.category_name),
  category_uid: Schema.Literal(accountChangeHeader.category_uid),
  class_name: Schema.Literal(accountChangeHeader.class_name),
  class_uid: Schema.Literal(accountChangeHeader.class_uid),
  type_name: Schema.Literals(activityNames.map((n) => `Account Change: ${n}` as const)),
  type_uid: Schema.Literals(Object.values(ACTIVITIES).map((id) => 300100 + id)),
  severity: Schema.Literal("Informational"),
  severity_id: Schema.Literal(1),
  status: Schema.Literal("Success"),
  status_id: Schema.Literal(1),
  /** When the change was observed (the run that saw it), not when it was made: IAM does not say. */
  time: EpochMillis,
  message: Schema.NonEmptyString,
  metadata: AccountChangeMetadata,
  user: StrictUser,
  policies: Schema.optionalKey(Schema.Array(Policy)),
  unmapped: Schema.Struct({ change: ChangeDetails })
}).check(Schema.makeFilter((e: { activity_id: number; activity_name: ActivityName; type_uid: number; type_name: string }) =>
  ACTIVITIES[e.activity_name] !== e.activity_id
    ? `activity_name ${e.activity_name} is not activity ${e.activity_id}`
    : e.type_uid !== 300100 + e.activity_id || e.type_name !== `Account Change: ${e.activity_name}`
    ? `type_uid/type_name do not match activity ${e.activity_id}`
    : undefined
))
export type AccountChangeEvent = typeof AccountChangeEvent.Type

export const AccountChangeCloudEvent = Schema.Struct({
  ...AccountChangeEvent.fields,
  metadata: Schema.Struct({ ...AccountChangeMetadata.fields, profiles: Schema.Tuple([Schema.Literal("cloud")]) }),
  cloud: StrictCloudEvent.fields.cloud
})
export type AccountChangeCloudEvent = typeof AccountChangeCloudEvent.Type

/** What a change event needs besides the change. */
export interface ChangeContext {
  /** When the change was observed: the `time` of the event. */
  readonly observedAt: Date
  /** The user as the last complete run saw it; undefined for a new user. */
  readonly previous: UserSnapshot | undefined
  /** The user as this run saw it; undefined for a deleted user. */
  readonly current: UserSnapshot | undefined
  /** The account's name and organization, when the run knows them. */
  readonly account?: AccountContext | undefined
}

const policyType = (arn: string) => isAwsManaged(arn) ? "AWS Managed Policy" as const : "Customer Managed Policy" as const

const CREDENTIAL_TYPE = {
  SigningCertificate: CREDENTIAL_TYPES.signingCertificate,
  ServiceSpecificCredential: CREDENTIAL_TYPES.serviceSpecific,
  SSHPublicKey: CREDENTIAL_TYPES.sshPublicKey
} as const

/** How a message names a credential: "SSH public key APKA…". */
const credentialText = (c: SnapshotCredential): string =>
  `${c.Type === "SigningCertificate" ? "signing certificate" : c.Type === "SSHPublicKey" ? "SSH public key" : "service-specific credential"} ${c.Id}`

const boundaryText = (c: Extract<Change, { _tag: "BoundaryChanged" }>, who: string): string =>
  c.from === null
    ? `permissions boundary ${c.to} set on ${who}`
    : c.to === null
    ? `permissions boundary ${c.from} removed from ${who}`
    : `permissions boundary of ${who} changed from ${c.from} to ${c.to}`

const tagsText = (c: Extract<Change, { _tag: "TagsChanged" }>): string =>
  [
    ...c.added.map((t) => `added ${t.Key}=${t.Value}`),
    ...c.removed.map((t) => `removed ${t.Key}`),
    ...c.changed.map((t) => `changed ${t.Key} from ${t.from} to ${t.to}`)
  ].join("; ")

const messageOf = (c: Change, user: UserSnapshot): string => {
  const who = `IAM user ${user.UserName}`
  switch (c._tag) {
    case "Created":
      return `${who} created`
    case "Deleted":
      return `${who} deleted`
    case "Renamed": {
      const renamed = c.previous.UserName !== user.UserName
      const moved = c.previous.Path !== user.Path
      const path = `path ${c.previous.Path} to ${user.Path}`
      return renamed && moved
        ? `IAM user ${c.previous.UserName} renamed to ${user.UserName} and moved from ${path}`
        : renamed
        ? `IAM user ${c.previous.UserName} renamed to ${user.UserName}`
        : `${who} moved from ${path}`
    }
    case "MfaEnabled":
      return `MFA enabled for ${who}`
    case "MfaDisabled":
      return `MFA disabled for ${who}`
    case "PolicyAttached":
      return `managed policy ${c.policy.PolicyName} (${c.policy.PolicyArn}) attached to ${who}`
    case "PolicyDetached":
      return `managed policy ${c.policy.PolicyName} (${c.policy.PolicyArn}) detached from ${who}`
    case "InlinePolicyAdded":
      return `inline policy ${c.policyName} added to ${who}`
    case "InlinePolicyRemoved":
      return `inline policy ${c.policyName} removed from ${who}`
    case "AccessKeyCreated":
      return `access key ${c.key.AccessKeyId} created for ${who}` + (c.key.Status === "Active" ? "" : ` (${c.key.Status})`)
    case "AccessKeyDeleted":
      return `access key ${c.key.AccessKeyId} of ${who} deleted`
    case "AccessKeyActivated":
      return `access key ${c.key.AccessKeyId} of ${who} activated`
    case "AccessKeyDeactivated":
      return `access key ${c.key.AccessKeyId} of ${who} deactivated (${c.key.Status})`
    case "CredentialAdded":
      return `${credentialText(c.credential)} added for ${who}` + (c.credential.Status === "Active" ? "" : ` (${c.credential.Status})`)
    case "CredentialRemoved":
      return `${credentialText(c.credential)} of ${who} deleted`
    case "CredentialActivated":
      return `${credentialText(c.credential)} of ${who} activated`
    case "CredentialDeactivated":
      return `${credentialText(c.credential)} of ${who} deactivated (${c.credential.Status})`
    case "PasswordAdded":
      return `console password added for ${who}`
    case "PasswordRemoved":
      return `console password removed from ${who}`
    case "GroupJoined":
      return `${who} added to group ${c.group.GroupName}`
    case "GroupLeft":
      return `${who} removed from group ${c.group.GroupName}`
    case "AdminGranted":
      return `${who} became an administrator`
    case "AdminRevoked":
      return `${who} is no longer an administrator`
    case "BoundaryChanged":
      return boundaryText(c, who)
    case "TagsChanged":
      return `tags of ${who} changed: ${tagsText(c)}`
  }
}

const policiesOf = (c: Change): AccountChangeEvent["policies"] => {
  switch (c._tag) {
    case "PolicyAttached":
    case "PolicyDetached":
      return [{ name: c.policy.PolicyName, uid: c.policy.PolicyArn, type: policyType(c.policy.PolicyArn) }]
    case "InlinePolicyAdded":
    case "InlinePolicyRemoved":
      return [{ name: c.policyName, type: "Inline Policy" }]
    default:
      return undefined
  }
}

const detailsOf = (c: Change): AccountChangeEvent["unmapped"]["change"] => {
  const kind = kindName(c._tag)
  switch (c._tag) {
    case "Renamed":
      return { kind, previous: { name: c.previous.UserName, path: c.previous.Path, uid: c.previous.Arn } }
    case "AccessKeyCreated":
    case "AccessKeyDeleted":
    case "AccessKeyActivated":
    case "AccessKeyDeactivated":
      return { kind, access_key: { uid: c.key.AccessKeyId, status: c.key.Status, created_time: new Date(c.key.CreateDate) } }
    case "CredentialAdded":
    case "CredentialRemoved":
    case "CredentialActivated":
    case "CredentialDeactivated":
      return { kind, credential: { uid: c.credential.Id, type: CREDENTIAL_TYPE[c.credential.Type], status: c.credential.Status } }
    case "GroupJoined":
    case "GroupLeft":
      return { kind, group: { name: c.group.GroupName, uid: c.group.GroupId } }
    case "BoundaryChanged":
      return { kind, permissions_boundary: { from: c.from, to: c.to } }
    case "TagsChanged":
      return {
        kind,
        tags: {
          // fromEntries: a tag named "__proto__" stays an ordinary key
          added: Object.fromEntries(c.added.map((t) => [t.Key, t.Value])),
          removed: Object.fromEntries(c.removed.map((t) => [t.Key, t.Value])),
          changed: Object.fromEntries(c.changed.map((t) => [t.Key, { from: t.from, to: t.to }]))
        }
      }
    default:
      return { kind }
  }
}

/** Same user, same states before and after, same change: same id. */
const changeUid = (c: Change, ctx: ChangeContext, user: UserSnapshot): string =>
  hashJson(JSON.stringify([
    user.UserId,
    ctx.previous === undefined ? null : hashJson(snapshotJson(ctx.previous)),
    ctx.current === undefined ? null : hashJson(snapshotJson(ctx.current)),
    c
  ]))

/** Pure: one change of one user → its class 3001 event (decoded side; `accountChangeMapper` encodes it). */
export const toAccountChangeEvent = (change: Change, ctx: ChangeContext): AccountChangeEvent => {
  const user = ctx.current ?? ctx.previous
  if (user === undefined) throw new Error("a change event needs the user before or after the change")
  const activity = activityOf[change._tag]
  const activityId = ACTIVITIES[activity]
  const policies = policiesOf(change)
  return {
    activity_id: activityId,
    activity_name: activity,
    ...accountChangeHeader,
    type_name: `Account Change: ${activity}`,
    type_uid: 300100 + activityId,
    severity: "Informational",
    severity_id: 1,
    status: "Success",
    status_id: 1,
    time: ctx.observedAt,
    message: messageOf(change, user),
    metadata: { version: OCSF_VERSION, product: { name: "IAM", vendor_name: "AWS" }, uid: changeUid(change, ctx, user) },
    user: strictUser({ ...user, hasMfa: user.MFA, admin: user.Admin }, ctx.account),
    ...(policies && { policies }),
    unmapped: { change: detailsOf(change) }
  }
}

/** `toAccountChangeEvent` plus OCSF's cloud profile, as `strict-cloud` does for 5003. */
export const toAccountChangeCloudEvent = (change: Change, ctx: ChangeContext): AccountChangeCloudEvent => {
  const event = toAccountChangeEvent(change, ctx)
  return {
    ...event,
    metadata: { ...event.metadata, profiles: ["cloud"] },
    cloud: {
      provider: "AWS",
      cloud_partition: parseUserArn(event.user.uid).partition,
      account: event.user.account,
      ...awsOrganization(ctx.account)
    }
  }
}
