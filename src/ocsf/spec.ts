/**
 * The `spec` profile: every row of the spec's mapping table, with the key set and key order of
 * its example event. It is NOT valid OCSF 1.6.0 (user.path, tags, … are not `user` attributes,
 * account type_id 40 does not exist, timestamps are seconds); `strict` is the valid variant.
 * `time` and `created_time` are CreateDate, as the table says (the spec's example value is
 * 3 hours off: a timezone slip in the example, not in the table).
 */
import * as Schema from "effect/Schema"
import type { IamUser } from "../iam/IamUser.ts"
import { activeKeyCount, EpochSeconds, hasMfa, header, HeaderFields, OCSF_VERSION, TagsObject, tagsObject } from "./common.ts"

export const SpecEvent = Schema.Struct({
  ...HeaderFields,
  time: EpochSeconds,
  metadata: Schema.Struct({
    product: Schema.Struct({ name: Schema.Literal("AWS IAM"), version: Schema.Literal(OCSF_VERSION) }),
    version: Schema.Literal(OCSF_VERSION)
  }),
  user: Schema.Struct({
    uid: Schema.NonEmptyString,
    name: Schema.NonEmptyString,
    full_name: Schema.NonEmptyString,
    path: Schema.String,
    is_console_user: Schema.Boolean,
    has_mfa: Schema.Boolean,
    access_keys_count: Schema.Int,
    // present as null when the password was never used, as in the spec's example
    password_last_used_time: Schema.NullOr(EpochSeconds),
    created_time: EpochSeconds,
    tags: TagsObject,
    account: Schema.Struct({
      uid: Schema.NonEmptyString,
      name: Schema.NonEmptyString,
      type: Schema.Literal("AWS IAM"),
      type_id: Schema.Literal(40)
    })
  })
})
export type SpecEvent = typeof SpecEvent.Type

const metadata = { product: { name: "AWS IAM", version: OCSF_VERSION }, version: OCSF_VERSION } as const

export const toSpecEvent = (u: IamUser): SpecEvent => ({
  ...header,
  time: u.CreateDate,
  metadata,
  user: {
    uid: u.UserId,
    name: u.UserName,
    full_name: u.UserName,
    path: u.Path,
    is_console_user: u.ConsoleAccessEnabled,
    has_mfa: hasMfa(u),
    access_keys_count: activeKeyCount(u),
    password_last_used_time: u.PasswordLastUsed,
    created_time: u.CreateDate,
    tags: tagsObject(u.Tags),
    account: { uid: u.Arn, name: u.UserName, type: "AWS IAM", type_id: 40 }
  }
})
