/**
 * The OCSF events a complete collection must produce, computed here from the emulator's account
 * data and not by the product's mappers: the end-to-end tests compare what reached a sink with
 * this, so a mapping bug in `src/ocsf/` cannot be on both sides of the comparison. `spec` follows
 * the product spec's mapping table row by row (with its example event's key order); `strict` and
 * `strict-cloud` follow the README's OCSF section and `fixtures/ocsf/corrected-*.json`.
 */
import type { UserRecord } from "../emulator/index.ts"

/** The class 5003 "Collect" header, as the spec's table lists it. */
const header = {
  activity_id: 2,
  activity_name: "Collect",
  category_name: "Discovery",
  category_uid: 5,
  class_name: "User Inventory Info",
  class_uid: 5003,
  type_name: "User Inventory Info: Collect",
  type_uid: 500302,
  severity: "Informational",
  severity_id: 1
}

const millis = (iso: string): number => Date.parse(iso)
const seconds = (iso: string): number => Date.parse(iso) / 1000
/** The README's one order for every list: by these keys, compared by UTF-16 code units (not locale). */
const ordered = <A>(items: ReadonlyArray<A>, ...keys: ReadonlyArray<(a: A) => string>): Array<A> =>
  [...items].sort((a, b) => {
    for (const key of keys) {
      const x = key(a)
      const y = key(b)
      if (x !== y) return x < y ? -1 : 1
    }
    return 0
  })
const tags = (u: UserRecord): Record<string, string> =>
  Object.fromEntries(ordered(u.Tags, (t) => t.Key).map((t) => [t.Key, t.Value]))
const groups = (u: UserRecord) => ordered(u.Groups, (g) => g.GroupName)
const keys = (u: UserRecord) => ordered(u.AccessKeys, (k) => k.AccessKeyId)
const activeKeys = (u: UserRecord): number => u.AccessKeys.filter((k) => k.Status === "Active").length
/** `arn:<partition>:iam::<account>:user/...` */
const arnParts = (arn: string) => {
  const [, partition, , , account] = arn.split(":")
  return { partition: partition!, account: account! }
}

/** The `spec` profile: one row of the spec's table per field; times are Unix epoch seconds. */
export const specEvent = (u: UserRecord) => ({
  ...header,
  time: seconds(u.CreateDate),
  metadata: { product: { name: "AWS IAM", version: "1.6.0" }, version: "1.6.0" },
  user: {
    uid: u.UserId,
    name: u.UserName,
    full_name: u.UserName,
    path: u.Path,
    is_console_user: u.LoginProfile !== undefined,
    has_mfa: u.MFADevices.length > 0,
    access_keys_count: activeKeys(u),
    password_last_used_time: u.PasswordLastUsed === undefined ? null : seconds(u.PasswordLastUsed),
    created_time: seconds(u.CreateDate),
    tags: tags(u),
    account: { uid: u.Arn, name: u.UserName, type: "AWS IAM", type_id: 40 }
  }
})

/** The `strict` profile: valid OCSF 1.6.0, times in ms, `time` = when the user was collected. */
export const strictEvent = (u: UserRecord, collectedAt: Date) => ({
  ...header,
  time: collectedAt.getTime(),
  metadata: { version: "1.6.0", product: { name: "IAM", vendor_name: "AWS" } },
  user: {
    uid: u.Arn,
    uid_alt: u.UserId,
    name: u.UserName,
    type_id: 1,
    type: "User",
    has_mfa: u.MFADevices.length > 0,
    account: { uid: arnParts(u.Arn).account, type_id: 10, type: "AWS Account" },
    groups: groups(u).map((g) => ({ name: g.GroupName, uid: g.GroupId })),
    programmatic_credentials: keys(u).map((k) => ({ uid: k.AccessKeyId, type: "AWS Access Key" }))
  },
  unmapped: {
    user: {
      path: u.Path,
      is_console_user: u.LoginProfile !== undefined,
      access_keys_count: activeKeys(u),
      password_last_used_time: u.PasswordLastUsed === undefined ? null : millis(u.PasswordLastUsed),
      created_time: millis(u.CreateDate),
      tags: tags(u),
      access_keys: keys(u).map((k) => ({ uid: k.AccessKeyId, status: k.Status, created_time: millis(k.CreateDate) })),
      attached_policies: ordered(u.AttachedPolicies, (p) => p.PolicyName, (p) => p.PolicyArn).map((p) => ({ name: p.PolicyName, arn: p.PolicyArn })),
      inline_policy_names: ordered(u.InlinePolicyNames, (n) => n)
    }
  }
})

/** `strict` plus OCSF's cloud profile: the partition and account from the ARN. */
export const strictCloudEvent = (u: UserRecord, collectedAt: Date) => {
  const event = strictEvent(u, collectedAt)
  return {
    ...event,
    metadata: { ...event.metadata, profiles: ["cloud"] },
    cloud: { provider: "AWS", cloud_partition: arnParts(u.Arn).partition, account: event.user.account }
  }
}
