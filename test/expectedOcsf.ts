/**
 * The OCSF events a complete collection must produce, computed here from the emulator's account
 * data and not by the product's mappers: the end-to-end tests compare what reached a sink with
 * this, so a mapping bug in `src/ocsf/` cannot be on both sides of the comparison. `spec` follows
 * the product spec's mapping table row by row (with its example event's key order); `strict` and
 * `strict-cloud` follow the README's OCSF section and `fixtures/ocsf/corrected-*.json`, with the
 * user's identity (admin, risk, credentials, privileges) read here from the emulator's records and
 * policy documents by the README's rules ("Who is an admin", "Risk"), not by `src/identity/`.
 */
import type { Account, UserRecord } from "../emulator/index.ts"
import { userInlineDocument } from "../emulator/authorizationDetails.ts"

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

const DAY = 86_400_000

/** A document's verdict by the README's rules: Allow `*` on `*` (any Condition); Deny `*` on `*` without one. */
const judge = (json: string) => {
  const doc = JSON.parse(json) as { Statement: unknown }
  const statements = (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]) as Array<Record<string, unknown>>
  const all = (v: unknown, star: ReadonlyArray<string>) => (typeof v === "string" ? [v] : (v as Array<string> | undefined) ?? []).some((x) => star.includes(x))
  const covers = (st: Record<string, unknown>) =>
    !("NotAction" in st) && !("NotResource" in st) && all(st["Action"], ["*", "*:*"]) && all(st["Resource"], ["*"])
  return {
    allowsAll: statements.some((st) => st["Effect"] === "Allow" && covers(st)),
    deniesAll: statements.some((st) => st["Effect"] === "Deny" && covers(st) && !("Condition" in st))
  }
}

const managedVerdict = (account: Account, arn: string) => {
  const p = account.managedPolicy(arn)
  if (p === undefined) throw new Error(`the emulator has no policy ${arn}`)
  return judge(p.Versions.find((v) => v.VersionId === p.DefaultVersionId)!.Document)
}

/** The user's identity as the README describes it, from the emulator's records. */
const identityOf = (u: UserRecord, account: Account, collectedAt: Date) => {
  const policies = [
    ...u.AttachedPolicies.map((p) => ({ name: p.PolicyName, arn: p.PolicyArn, group: undefined, ...managedVerdict(account, p.PolicyArn) })),
    ...u.InlinePolicyNames.map((n) => ({ name: n, arn: undefined, group: undefined, ...judge(userInlineDocument(u, n)) })),
    ...u.Groups.flatMap((g) => [
      ...g.AttachedPolicies.map((p) => ({ name: p.PolicyName, arn: p.PolicyArn, group: g.GroupName, ...managedVerdict(account, p.PolicyArn) })),
      ...g.InlinePolicies.map((p) => ({ name: p.PolicyName, arn: undefined, group: g.GroupName, ...judge(p.PolicyDocument) }))
    ])
  ]
  const boundary = u.PermissionsBoundary === undefined ? null : { arn: u.PermissionsBoundary, allows_all: managedVerdict(account, u.PermissionsBoundary).allowsAll }
  const granted = policies.filter((p) => p.allowsAll)
  const admin = granted.length > 0 && (boundary === null || boundary.allows_all) && !policies.some((p) => p.deniesAll)

  // The README's risk table, row for row: [id, level, points, holds].
  const mfa = u.MFADevices.length > 0
  const now = collectedAt.getTime()
  const older = (iso: string | undefined, fallback: string) => now - Date.parse(iso ?? fallback) > 90 * DAY
  const active = u.AccessKeys.filter((k) => k.Status === "Active")
  const console = u.LoginProfile !== undefined
  const rules: Array<[string, number, number, boolean]> = [
    ["admin_without_mfa", 4, 40, admin && !mfa],
    ["console_without_mfa", 3, 25, console && !mfa],
    ["admin_with_active_access_key", 3, 20, admin && active.length > 0],
    ["admin", 2, 10, admin],
    ["access_key_unused_90d", 2, 10, active.some((k) => older(k.LastUsed?.Date, k.CreateDate))],
    ["console_password_unused_90d", 2, 10, console && older(u.PasswordLastUsed, u.CreateDate)],
    ["access_key_older_than_90d", 1, 5, active.some((k) => older(k.CreateDate, k.CreateDate))],
    ["two_active_access_keys", 1, 5, active.length >= 2],
    ["active_signing_certificate", 1, 5, u.SigningCertificates.some((c) => c.Status === "Active")]
  ]
  const hit = rules.filter(([, , , holds]) => holds)
  const levelId = Math.max(0, ...hit.map(([, level]) => level))
  return {
    admin,
    granted,
    boundary,
    risk: {
      risk_level_id: levelId,
      risk_level: ["Info", "Low", "Medium", "High", "Critical"][levelId]!,
      risk_score: Math.min(100, hit.reduce((sum, [, , points]) => sum + points, 0))
    },
    rules: hit.map(([id]) => id)
  }
}

/** Whether the emulated user is an administrator, by the README's rule (`identityOf`). */
export const isAdminRecord = (u: UserRecord, account: Account): boolean => identityOf(u, account, new Date()).admin

/**
 * Of the strict profiles' events, what differs by strategy: bulk reads the password's last change
 * from the credential report, and lists SSH public keys only with `collection.sshPublicKeys: "always"`.
 */
export interface StrictOptions {
  readonly bulk?: boolean
  /** The users' SSH public keys were listed; default: not in bulk. */
  readonly sshPublicKeys?: boolean
}

/** The `strict` profile: valid OCSF 1.6.0, times in ms, `time` = when the user was collected. */
export const strictEvent = (u: UserRecord, collectedAt: Date, account: Account, options: StrictOptions = {}) => {
  const id = identityOf(u, account, collectedAt)
  const ssh = options.sshPublicKeys ?? !options.bulk
  return {
    ...header,
    time: collectedAt.getTime(),
    metadata: { version: "1.6.0", product: { name: "IAM", vendor_name: "AWS" } },
    user: {
      uid: u.Arn,
      uid_alt: u.UserId,
      name: u.UserName,
      type_id: id.admin ? 2 : 1,
      type: id.admin ? "Admin" : "User",
      has_mfa: u.MFADevices.length > 0,
      account: { uid: arnParts(u.Arn).account, type_id: 10, type: "AWS Account" },
      groups: groups(u).map((g) => ({
        name: g.GroupName,
        uid: g.GroupId,
        privileges: [...new Set([...g.AttachedPolicies.map((p) => p.PolicyName), ...g.InlinePolicies.map((p) => p.PolicyName)])].sort()
      })),
      programmatic_credentials: [
        ...keys(u).map((k) => ({ uid: k.AccessKeyId, type: "AWS Access Key", ...(k.LastUsed && { last_used_time: millis(k.LastUsed.Date) }) })),
        ...ordered(u.SigningCertificates, (c) => c.CertificateId).map((c) => ({ uid: c.CertificateId, type: "X.509 Signing Certificate" })),
        ...ordered(u.ServiceSpecificCredentials, (c) => c.ServiceSpecificCredentialId)
          .map((c) => ({ uid: c.ServiceSpecificCredentialId, type: "Service-Specific Credential" })),
        ...(ssh ? ordered(u.SSHPublicKeys, (k) => k.SSHPublicKeyId).map((k) => ({ uid: k.SSHPublicKeyId, type: "SSH Public Key" })) : [])
      ],
      ...id.risk
    },
    unmapped: {
      user: {
        path: u.Path,
        is_console_user: u.LoginProfile !== undefined,
        access_keys_count: activeKeys(u),
        password_last_used_time: u.PasswordLastUsed === undefined ? null : millis(u.PasswordLastUsed),
        created_time: millis(u.CreateDate),
        tags: tags(u),
        access_keys: keys(u).map((k) => ({
          uid: k.AccessKeyId,
          status: k.Status,
          created_time: millis(k.CreateDate),
          last_used_time: k.LastUsed === undefined ? null : millis(k.LastUsed.Date),
          ...(k.LastUsed && { last_used_service: k.LastUsed.ServiceName, last_used_region: k.LastUsed.Region })
        })),
        attached_policies: ordered(u.AttachedPolicies, (p) => p.PolicyName, (p) => p.PolicyArn).map((p) => ({ name: p.PolicyName, arn: p.PolicyArn })),
        inline_policy_names: ordered(u.InlinePolicyNames, (n) => n),
        ...(options.bulk && {
          password_last_changed_time: u.LoginProfile === undefined ? null : millis(u.LoginProfile.PasswordLastChanged ?? u.LoginProfile.CreateDate)
        }),
        signing_certificates: ordered(u.SigningCertificates, (c) => c.CertificateId)
          .map((c) => ({ uid: c.CertificateId, status: c.Status, uploaded_time: millis(c.UploadDate) })),
        service_specific_credentials: ordered(u.ServiceSpecificCredentials, (c) => c.ServiceSpecificCredentialId).map((c) => ({
          uid: c.ServiceSpecificCredentialId,
          service_name: c.ServiceName,
          ...(c.ServiceUserName !== undefined && { service_user_name: c.ServiceUserName }),
          ...(c.ServiceCredentialAlias !== undefined && { alias: c.ServiceCredentialAlias }),
          status: c.Status,
          created_time: millis(c.CreateDate),
          ...(c.ExpirationDate !== undefined && { expiration_time: millis(c.ExpirationDate) })
        })),
        ...(ssh && {
          ssh_public_keys: ordered(u.SSHPublicKeys, (k) => k.SSHPublicKeyId)
            .map((k) => ({ uid: k.SSHPublicKeyId, status: k.Status, uploaded_time: millis(k.UploadDate) }))
        }),
        permissions_boundary: id.boundary,
        admin_policies: ordered(id.granted, (p) => p.group ?? "", (p) => p.name, (p) => p.arn ?? "")
          .map((p) => ({ name: p.name, ...(p.arn !== undefined && { arn: p.arn }), ...(p.group !== undefined && { group: p.group }) })),
        risk_rules: id.rules
      }
    }
  }
}

/** `strict` plus OCSF's cloud profile: the partition and account from the ARN. */
export const strictCloudEvent = (u: UserRecord, collectedAt: Date, account: Account, options: StrictOptions = {}) => {
  const event = strictEvent(u, collectedAt, account, options)
  return {
    ...event,
    metadata: { ...event.metadata, profiles: ["cloud"] },
    cloud: { provider: "AWS", cloud_partition: arnParts(u.Arn).partition, account: event.user.account }
  }
}
