/**
 * The `strict` profile: a valid OCSF 1.6.0 event without profiles, modelled on
 * `test/fixtures/ocsf/corrected-core.json`. Data with an OCSF attribute goes there; the rest of
 * what the spec maps goes to `unmapped.user`, under the spec's names, in milliseconds.
 */
import * as Schema from "effect/Schema"
import type { AccessKey, IamUser } from "../iam/IamUser.ts"
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

export const StrictUser = Schema.Struct({
  // OCSF: uid is "the AWS user ARN", uid_alt "the AWS user Principal ID"
  uid: Schema.NonEmptyString,
  uid_alt: Schema.NonEmptyString,
  name: Schema.NonEmptyString,
  type_id: Schema.Literal(1),
  type: Schema.Literal("User"),
  has_mfa: Schema.Boolean,
  account: AwsAccount,
  org: Schema.optionalKey(AwsOrganization),
  // absent = not collected; [] = collected, member of none
  groups: Schema.optionalKey(Schema.Array(Schema.Struct({ name: Schema.NonEmptyString, uid: Schema.NonEmptyString }))),
  // every key, whatever its status: an Inactive key can be re-activated. Status is in unmapped.
  programmatic_credentials: Schema.Array(Schema.Struct({
    uid: Schema.NonEmptyString,
    type: Schema.Literal("AWS Access Key")
  }))
})

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
    created_time: EpochMillis
  })),
  // the user object has no policy attribute; ARNs kept because an AWS managed and a customer
  // managed policy may share a name
  attached_policies: Schema.optionalKey(Schema.Array(Schema.Struct({ name: Schema.NonEmptyString, arn: Schema.NonEmptyString }))),
  inline_policy_names: Schema.optionalKey(Schema.Array(Schema.String))
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

const mapStrict = (u: IamUser, keys: ReadonlyArray<AccessKey>, ctx: MapContext): StrictEvent => ({
  ...header,
  time: ctx.collectedAt,
  metadata,
  user: strictUser(
    { Arn: u.Arn, UserId: u.UserId, UserName: u.UserName, hasMfa: hasMfa(u), Groups: u.Groups, AccessKeys: keys },
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
      access_keys: keys.map((k) => ({ uid: k.AccessKeyId, status: k.Status, created_time: k.CreateDate })),
      ...(u.AttachedPolicies && {
        // An AWS managed and a customer managed policy may share a name, never an ARN.
        attached_policies: inCanonicalOrder(u.AttachedPolicies, (p) => p.PolicyName, (p) => p.PolicyArn)
          .map((p) => ({ name: p.PolicyName, arn: p.PolicyArn }))
      }),
      ...(u.InlinePolicyNames && { inline_policy_names: inCanonicalOrder(u.InlinePolicyNames, (n) => n) })
    }
  }
})

/** What the strict `user` object is made of: a collected user, or the stored snapshot of one (change events). */
export interface StrictUserFacts {
  readonly Arn: string
  readonly UserId: string
  readonly UserName: string
  readonly hasMfa: boolean
  /** undefined: not collected */
  readonly Groups: ReadonlyArray<{ readonly GroupName: string; readonly GroupId: string }> | undefined
  readonly AccessKeys: ReadonlyArray<{ readonly AccessKeyId: string }>
}

export const strictUser = (u: StrictUserFacts, where?: AccountContext): StrictUser => ({
  uid: u.Arn,
  uid_alt: u.UserId,
  name: u.UserName,
  type_id: 1,
  type: "User",
  has_mfa: u.hasMfa,
  account: awsAccount(parseUserArn(u.Arn).accountId, where),
  ...awsOrganization(where),
  ...(u.Groups && {
    groups: inCanonicalOrder(u.Groups, (g) => g.GroupName).map((g) => ({ name: g.GroupName, uid: g.GroupId }))
  }),
  programmatic_credentials: inCanonicalOrder(u.AccessKeys, (k) => k.AccessKeyId)
    .map((k) => ({ uid: k.AccessKeyId, type: "AWS Access Key" }))
})
