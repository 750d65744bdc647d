/**
 * The identity in the strict profiles, field by field and rule by rule: how a policy document is
 * judged, who is an admin, each risk rule of the README's table (the table is `RISK_RULES`, row
 * for row), how the credential report's identity columns are read, and the strict event's new
 * fields for a user whose identity is known (golden values, valid OCSF), SSH public keys included.
 */
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { IamUser, type IamUserJson } from "../src/iam/IamUser.ts"
import { adminOf } from "../src/identity/admin.ts"
import { awsManagedVerdict, isProblem, judgeDocument, judgeJson } from "../src/identity/policyDocument.ts"
import { RISK_LEVELS, RISK_RULES, type RiskFacts, riskOf } from "../src/identity/risk.ts"
import { readReportIdentity, reportReader } from "../src/collect/credentialReport.ts"
import { mapperFor } from "../src/ocsf/index.ts"
import { ocsfValidator, schemaErrors } from "./ocsf-schemas.ts"
import * as Effect from "effect/Effect"

const doc = (...Statement: ReadonlyArray<Record<string, unknown>>) => JSON.stringify({ Version: "2012-10-17", Statement })
/** The verdict of a document that must be readable. */
const verdict = (json: string) => {
  const judged = judgeJson(json)
  if (isProblem(judged)) throw new Error(judged.problem)
  return judged
}

describe("policy documents", () => {
  it("allow everything: * or *:* on *, as a string or in a list, whatever the Condition", () => {
    expect(judgeJson(doc({ Effect: "Allow", Action: "*", Resource: "*" }))).toStrictEqual({ allowsAll: true, deniesAll: false })
    expect(verdict(doc({ Effect: "Allow", Action: ["s3:*", "*:*"], Resource: ["arn:aws:s3:::x", "*"] })).allowsAll).toBe(true)
    expect(verdict(doc({ Effect: "Allow", Action: "*", Resource: "*", Condition: { Bool: { "aws:MultiFactorAuthPresent": "true" } } })).allowsAll)
      .toBe(true)
    // a single Statement object, not a list
    expect(verdict(JSON.stringify({ Statement: { Effect: "Allow", Action: "*", Resource: "*" } })).allowsAll).toBe(true)
  })

  it("do not allow everything: NotAction (PowerUserAccess), a narrower Action or Resource", () => {
    expect(verdict(doc({ Effect: "Allow", NotAction: ["iam:*"], Resource: "*" })).allowsAll).toBe(false)
    expect(verdict(doc({ Effect: "Allow", Action: "*", NotResource: "arn:aws:s3:::x" })).allowsAll).toBe(false)
    expect(verdict(doc({ Effect: "Allow", Action: "iam:*", Resource: "*" })).allowsAll).toBe(false)
    expect(verdict(doc({ Effect: "Allow", Action: "*", Resource: "arn:aws:s3:::*" })).allowsAll).toBe(false)
  })

  it("deny everything only without a Condition", () => {
    expect(judgeJson(doc({ Effect: "Deny", Action: "*", Resource: "*" }))).toStrictEqual({ allowsAll: false, deniesAll: true })
    expect(verdict(doc({ Effect: "Deny", Action: "*", Resource: "*", Condition: { Bool: { "aws:SecureTransport": "false" } } })).deniesAll)
      .toBe(false)
  })

  it("are read URL-encoded, as IAM sends them, and a document that is not one is said, not guessed", () => {
    expect(judgeDocument(encodeURIComponent(doc({ Effect: "Allow", Action: "*", Resource: "*" })))).toStrictEqual({ allowsAll: true, deniesAll: false })
    expect(judgeDocument("%E0%A4%A")).toStrictEqual({ problem: "the policy document is not URL-encoded as IAM sends documents" })
    expect(judgeJson("{")).toHaveProperty("problem")
    expect(judgeJson(JSON.stringify({ Version: "2012-10-17" }))).toStrictEqual({ problem: "the policy document has no Statement" })
    expect(judgeJson(doc({ Effect: "Maybe", Action: "*", Resource: "*" }))).toHaveProperty("problem")
  })

  it("judge AWS managed policies by ARN: AdministratorAccess allows everything, no other does", () => {
    expect(awsManagedVerdict("arn:aws:iam::aws:policy/AdministratorAccess").allowsAll).toBe(true)
    expect(awsManagedVerdict("arn:aws-us-gov:iam::aws:policy/AdministratorAccess").allowsAll).toBe(true)
    expect(awsManagedVerdict("arn:aws:iam::aws:policy/PowerUserAccess").allowsAll).toBe(false)
  })
})

const policy = (PolicyName: string, allows: boolean, extra: { PolicyArn?: string; Group?: string; DeniesAll?: boolean } = {}) => ({
  PolicyName,
  ...(extra.PolicyArn === undefined ? {} : { PolicyArn: extra.PolicyArn }),
  ...(extra.Group === undefined ? {} : { Group: extra.Group }),
  AllowsAll: allows,
  DeniesAll: extra.DeniesAll ?? false
})

describe("who is an admin", () => {
  const admin = policy("AdministratorAccess", true, { PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess" })
  it("a policy of the user's or of one of its groups that allows everything", () => {
    expect(adminOf({ Policies: [admin], PermissionsBoundary: null }).admin).toBe(true)
    expect(adminOf({ Policies: [policy("BreakGlassInline", true)], PermissionsBoundary: null }).admin).toBe(true)
    expect(adminOf({ Policies: [{ ...admin, Group: "Admins" }], PermissionsBoundary: null }).admin).toBe(true)
    expect(adminOf({ Policies: [policy("ReadOnlyAccess", false)], PermissionsBoundary: null }).admin).toBe(false)
    expect(adminOf({ Policies: [], PermissionsBoundary: null }).admin).toBe(false)
  })

  it("unless a boundary that does not allow everything caps it, or a policy denies everything", () => {
    const capping = { PermissionsBoundaryArn: "arn:aws:iam::123456789012:policy/Dev", PermissionsBoundaryType: "PermissionsBoundaryPolicy" as const, AllowsAll: false }
    const verdict = adminOf({ Policies: [admin], PermissionsBoundary: capping })
    expect(verdict.admin).toBe(false)
    expect(verdict.grantedBy).toStrictEqual([admin])
    expect(verdict.revokedBy.boundary).toStrictEqual(capping)
    expect(adminOf({ Policies: [admin], PermissionsBoundary: { ...capping, AllowsAll: true } }).admin).toBe(true)
    const quarantine = policy("QuarantineDenyAll", false, { DeniesAll: true })
    expect(adminOf({ Policies: [admin, quarantine], PermissionsBoundary: null })).toMatchObject({ admin: false, revokedBy: { denials: [quarantine] } })
  })
})

describe("risk rules (the README's table)", () => {
  const now = new Date("2026-06-01T00:00:00Z")
  const recent = new Date("2026-05-20T00:00:00Z")
  const old = new Date("2025-01-01T00:00:00Z")
  /** A user no rule holds for: MFA, no password, no keys, no certificate, not an admin. */
  const clean: RiskFacts = {
    admin: false,
    mfa: true,
    consolePassword: false,
    passwordLastUsed: null,
    userCreated: old,
    accessKeys: [],
    signingCertificates: []
  }
  const freshKey = { active: true, created: recent, lastUsed: recent }

  it("the table in the README is RISK_RULES, row for row", () => {
    const readme = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8")
    const rows = [...readme.matchAll(/^\| `([a-z0-9_]+)` \| (\d) (\w+) \| (\d+) \| .+ \|$/gm)].map((m) => [m[1], Number(m[2]), m[3], Number(m[4])])
    expect(rows).toStrictEqual(RISK_RULES.map((r) => [r.id, r.level, RISK_LEVELS[r.level], r.points]))
  })

  it("none holds: Info, score 0, no rule", () => {
    expect(riskOf(clean, now)).toStrictEqual({ levelId: 0, level: "Info", score: 0, rules: [] })
    // a fresh, used key and a recently used password hit nothing either
    expect(riskOf({ ...clean, consolePassword: true, passwordLastUsed: recent, accessKeys: [freshKey] }, now).rules).toStrictEqual([])
  })

  // Each rule on its own, from the clean user: [facts, the rules hit, level, score].
  const cases: ReadonlyArray<readonly [string, Partial<RiskFacts>, ReadonlyArray<string>, number, number]> = [
    ["admin_without_mfa", { admin: true, mfa: false }, ["admin_without_mfa", "admin"], 4, 50],
    ["console_without_mfa", { consolePassword: true, passwordLastUsed: recent, mfa: false }, ["console_without_mfa"], 3, 25],
    ["admin_with_active_access_key", { admin: true, accessKeys: [freshKey] }, ["admin_with_active_access_key", "admin"], 3, 30],
    ["admin", { admin: true }, ["admin"], 2, 10],
    ["access_key_unused_90d (used long ago)", { accessKeys: [{ active: true, created: recent, lastUsed: old }] }, ["access_key_unused_90d"], 2, 10],
    [
      "access_key_unused_90d (never used, created long ago)",
      { accessKeys: [{ active: true, created: old, lastUsed: null }] },
      ["access_key_unused_90d", "access_key_older_than_90d"],
      2,
      15
    ],
    ["console_password_unused_90d", { consolePassword: true, passwordLastUsed: old }, ["console_password_unused_90d"], 2, 10],
    ["console_password_unused_90d (never used)", { consolePassword: true, passwordLastUsed: null, userCreated: old }, ["console_password_unused_90d"], 2, 10],
    ["access_key_older_than_90d", { accessKeys: [{ active: true, created: old, lastUsed: recent }] }, ["access_key_older_than_90d"], 1, 5],
    ["two_active_access_keys", { accessKeys: [freshKey, freshKey] }, ["two_active_access_keys"], 1, 5],
    ["active_signing_certificate", { signingCertificates: [{ active: true }] }, ["active_signing_certificate"], 1, 5],
    // what does not count
    ["an Inactive key counts for no rule", { accessKeys: [{ active: false, created: old, lastUsed: null }, freshKey] }, [], 0, 0],
    ["an Inactive certificate counts for no rule", { signingCertificates: [{ active: false }] }, [], 0, 0]
  ]
  it.each(cases)("%s", (_, facts, rules, levelId, score) => {
    expect(riskOf({ ...clean, ...facts }, now)).toStrictEqual({ levelId, level: RISK_LEVELS[levelId], score, rules })
  })

  it("the score stops at 100; the level is the highest rule's", () => {
    const worst = riskOf({
      ...clean,
      admin: true,
      mfa: false,
      consolePassword: true,
      passwordLastUsed: old,
      accessKeys: [{ active: true, created: old, lastUsed: null }, { active: true, created: old, lastUsed: old }],
      signingCertificates: [{ active: true }]
    }, now)
    expect(worst.rules).toStrictEqual(RISK_RULES.map((r) => r.id))
    expect(worst).toMatchObject({ levelId: 4, level: "Critical", score: 100 })
  })

  it("90 days is a boundary: a key idle exactly 90 days does not count, one a second more does", () => {
    const at = (ms: number) => new Date(now.getTime() - ms)
    const day = 86_400_000
    expect(riskOf({ ...clean, accessKeys: [{ active: true, created: recent, lastUsed: at(90 * day) }] }, now).rules).toStrictEqual([])
    expect(riskOf({ ...clean, accessKeys: [{ active: true, created: recent, lastUsed: at(90 * day + 1000) }] }, now).rules)
      .toStrictEqual(["access_key_unused_90d"])
  })
})

describe("the credential report's identity columns", () => {
  const header = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed," +
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date," +
    "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated," +
    "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active," +
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
  const read = (line: string) =>
    Effect.runSync(Effect.gen(function*() {
      const reader = reportReader(true)
      reader.line(header)
      reader.line(line)
      yield* reader.done
      return readReportIdentity(reader.identity.get("u")!)
    }))

  it("reads each key slot's creation and last use, the password's last change and whether there is a certificate", () => {
    const r = read(
      "u,arn:x,2020-01-01T00:00:00+00:00,true,N/A,2024-02-03T04:05:06+00:00,N/A,false," +
        "true,2021-01-01T00:00:00+00:00,2025-08-30T23:15:00+00:00,eu-west-1,logs," +
        "false,2022-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,true,2023-03-03T00:00:00+00:00"
    )
    expect(r).toStrictEqual({
      passwordLastChanged: Date.parse("2024-02-03T04:05:06Z"),
      keys: [
        { created: Date.parse("2021-01-01T00:00:00Z"), lastUsed: Date.parse("2025-08-30T23:15:00Z"), region: "eu-west-1", service: "logs" },
        { created: Date.parse("2022-01-01T00:00:00Z"), lastUsed: null, region: undefined, service: undefined }
      ],
      hasCertificates: true
    })
  })

  it("N/A password: null; a cell it cannot read: undefined (the per-user call decides), never a default", () => {
    const r = read(
      "u,arn:x,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false," +
        "false,N/A,N/A,N/A,N/A,false,N/A,no_information,N/A,N/A,false,N/A,false,N/A"
    )
    expect(r.passwordLastChanged).toBeNull()
    expect(r.keys[0].created).toBeNull()
    expect(r.keys[1].lastUsed).toBeUndefined()
    expect(r.hasCertificates).toBe(false)
    expect(read("u,arn:x,2020-01-01T00:00:00+00:00,true,N/A,soon,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,maybe,N/A,false,N/A"))
      .toMatchObject({ passwordLastChanged: undefined, hasCertificates: null })
  })
})

describe("the strict event of a user with its identity (golden)", () => {
  const spec = JSON.parse(readFileSync(resolve(import.meta.dirname, "fixtures/ocsf/spec-users.json"), "utf8")) as Array<IamUserJson>
  const json: IamUserJson = {
    ...spec[1]!,
    Groups: [
      { GroupName: "Developers", GroupId: "AGPAEXAMPLEDEVELOPER1", Arn: "arn:aws:iam::123456789012:group/engineering/Developers", Path: "/engineering/" },
      { GroupName: "Admins", GroupId: "AGPAEXAMPLEADMINS0001", Arn: "arn:aws:iam::123456789012:group/Admins", Path: "/" }
    ],
    AttachedPolicies: [],
    InlinePolicyNames: ["SecretsRead"],
    Identity: {
      AccessKeyLastUse: [{ AccessKeyId: "AKIAIOSFODNN7EXAMPLE", LastUsedDate: "2025-08-29T16:42:00Z", ServiceName: "s3", Region: "us-east-1" }],
      SigningCertificates: [{ CertificateId: "CERTEXAMPLE00000000000001", Status: "Inactive", UploadDate: "2021-05-11T09:00:00Z" }],
      ServiceSpecificCredentials: [{
        ServiceSpecificCredentialId: "ACCAEXAMPLE123EXAMPLE",
        ServiceName: "codecommit.amazonaws.com",
        ServiceUserName: "aws-developer-team-at-123456789012",
        Status: "Active",
        CreateDate: "2021-05-11T09:05:00Z"
      }],
      PasswordLastChanged: "2025-02-03T08:00:00Z",
      PermissionsBoundary: null,
      Policies: [
        { PolicyName: "SecretsRead", AllowsAll: false, DeniesAll: false },
        { PolicyName: "PowerUserAccess", PolicyArn: "arn:aws:iam::aws:policy/PowerUserAccess", Group: "Developers", AllowsAll: false, DeniesAll: false },
        { PolicyName: "DevTools", Group: "Developers", AllowsAll: false, DeniesAll: false },
        { PolicyName: "AdministratorAccess", PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess", Group: "Admins", AllowsAll: true, DeniesAll: false }
      ]
    }
  }
  const user = Schema.decodeUnknownSync(IamUser)(json)
  const collectedAt = new Date("2025-09-01T12:00:00Z")
  const event: any = mapperFor("strict")(user, { collectedAt })

  it("user: Admin, groups with their privileges, every credential with the key's last use, risk", () => {
    expect(event.user).toStrictEqual({
      uid: "arn:aws:iam::123456789012:user/engineering/aws-developer-team",
      uid_alt: "AIDACKCEVSQ6C2EXAMPLE",
      name: "aws-developer-team",
      type_id: 2,
      type: "Admin",
      has_mfa: true,
      account: { uid: "123456789012", type_id: 10, type: "AWS Account" },
      groups: [
        { name: "Admins", uid: "AGPAEXAMPLEADMINS0001", privileges: ["AdministratorAccess"] },
        { name: "Developers", uid: "AGPAEXAMPLEDEVELOPER1", privileges: ["DevTools", "PowerUserAccess"] }
      ],
      programmatic_credentials: [
        { uid: "AKIAIOSFODNN7EXAMPLE", type: "AWS Access Key", last_used_time: Date.parse("2025-08-29T16:42:00Z") },
        { uid: "CERTEXAMPLE00000000000001", type: "X.509 Signing Certificate" },
        { uid: "ACCAEXAMPLE123EXAMPLE", type: "Service-Specific Credential" }
      ],
      // admin (10) + admin_with_active_access_key (20) + access_key_older_than_90d (5): the key is from January
      risk_level_id: 3,
      risk_level: "High",
      risk_score: 35
    })
  })

  it("unmapped: key last use, password change, certificates, credentials, boundary, admin policies, rules", () => {
    const u = event.unmapped.user
    expect(u.access_keys).toStrictEqual([{
      uid: "AKIAIOSFODNN7EXAMPLE",
      status: "Active",
      created_time: Date.parse("2025-01-10T11:00:00Z"),
      last_used_time: Date.parse("2025-08-29T16:42:00Z"),
      last_used_service: "s3",
      last_used_region: "us-east-1"
    }])
    expect(u.password_last_changed_time).toBe(Date.parse("2025-02-03T08:00:00Z"))
    expect(u.signing_certificates).toStrictEqual([{ uid: "CERTEXAMPLE00000000000001", status: "Inactive", uploaded_time: Date.parse("2021-05-11T09:00:00Z") }])
    expect(u.service_specific_credentials).toStrictEqual([{
      uid: "ACCAEXAMPLE123EXAMPLE",
      service_name: "codecommit.amazonaws.com",
      service_user_name: "aws-developer-team-at-123456789012",
      status: "Active",
      created_time: Date.parse("2021-05-11T09:05:00Z")
    }])
    expect(u.permissions_boundary).toBeNull()
    expect(u.admin_policies).toStrictEqual([{ name: "AdministratorAccess", arn: "arn:aws:iam::aws:policy/AdministratorAccess", group: "Admins" }])
    expect(u.risk_rules).toStrictEqual(["admin_with_active_access_key", "admin", "access_key_older_than_90d"])
  })

  it("a boundary that does not allow everything makes the same user a User, said in unmapped", () => {
    const bounded = Schema.decodeUnknownSync(IamUser)({
      ...json,
      Identity: {
        ...json.Identity!,
        PermissionsBoundary: {
          PermissionsBoundaryArn: "arn:aws:iam::aws:policy/PowerUserAccess",
          PermissionsBoundaryType: "PermissionsBoundaryPolicy",
          AllowsAll: false
        }
      }
    })
    const e: any = mapperFor("strict")(bounded, { collectedAt })
    expect(e.user).toMatchObject({ type_id: 1, type: "User", risk_level_id: 1, risk_score: 5 })
    expect(e.unmapped.user.permissions_boundary).toStrictEqual({ arn: "arn:aws:iam::aws:policy/PowerUserAccess", allows_all: false })
    expect(e.unmapped.user.admin_policies).toHaveLength(1)
  })

  it("a key never used: null in unmapped, no last_used_time on the credential; no password change known: absent", () => {
    const { PasswordLastChanged: _, ...rest } = json.Identity!
    const e: any = mapperFor("strict")(
      Schema.decodeUnknownSync(IamUser)({ ...json, Identity: { ...rest, AccessKeyLastUse: [{ AccessKeyId: "AKIAIOSFODNN7EXAMPLE", LastUsedDate: null }] } }),
      { collectedAt }
    )
    expect(e.user.programmatic_credentials[0]).toStrictEqual({ uid: "AKIAIOSFODNN7EXAMPLE", type: "AWS Access Key" })
    expect(e.unmapped.user.access_keys[0].last_used_time).toBeNull()
    expect(e.unmapped.user).not.toHaveProperty("password_last_changed_time")
  })

  it("SSH public keys, when listed: the last credentials, status and upload in unmapped; not listed (bulk): absent, not empty", () => {
    expect(event.unmapped.user).not.toHaveProperty("ssh_public_keys")
    const listed = Schema.decodeUnknownSync(IamUser)({
      ...json,
      Identity: {
        ...json.Identity!,
        SSHPublicKeys: [
          { SSHPublicKeyId: "APKAEIVFHP46CEXAMPLE", Status: "Inactive", UploadDate: "2022-03-01T10:00:00Z" },
          { SSHPublicKeyId: "APKAEIBAERJR2EXAMPLE", Status: "Active", UploadDate: "2021-05-11T09:00:00Z" }
        ]
      }
    })
    const e: any = mapperFor("strict")(listed, { collectedAt })
    expect(e.user.programmatic_credentials.slice(3)).toStrictEqual([
      { uid: "APKAEIBAERJR2EXAMPLE", type: "SSH Public Key" },
      { uid: "APKAEIVFHP46CEXAMPLE", type: "SSH Public Key" }
    ])
    expect(e.unmapped.user.ssh_public_keys).toStrictEqual([
      { uid: "APKAEIBAERJR2EXAMPLE", status: "Active", uploaded_time: Date.parse("2021-05-11T09:00:00Z") },
      { uid: "APKAEIVFHP46CEXAMPLE", status: "Inactive", uploaded_time: Date.parse("2022-03-01T10:00:00Z") }
    ])
    const none: any = mapperFor("strict")(Schema.decodeUnknownSync(IamUser)({ ...json, Identity: { ...json.Identity!, SSHPublicKeys: [] } }), { collectedAt })
    expect(none.unmapped.user.ssh_public_keys).toStrictEqual([])
    for (const variant of ["core", "core.lint"] as const) expect(schemaErrors(ocsfValidator("user_inventory", variant), e)).toStrictEqual([])
  })

  it("a key without its last use is refused, never read as never used", () => {
    expect(() => Schema.decodeUnknownSync(IamUser)({ ...json, Identity: { ...json.Identity!, AccessKeyLastUse: [] } }))
      .toThrow(/AccessKeyLastUse must hold one entry for each of AccessKeys/)
  })

  it("is valid OCSF 1.6.0 (core, lint, and with the cloud profile)", () => {
    expect(schemaErrors(ocsfValidator("user_inventory", "core"), event)).toStrictEqual([])
    expect(schemaErrors(ocsfValidator("user_inventory", "core.lint"), event)).toStrictEqual([])
    const cloud = mapperFor("strict-cloud")(user, { collectedAt })
    expect(schemaErrors(ocsfValidator("user_inventory", "cloud"), cloud)).toStrictEqual([])
    expect(schemaErrors(ocsfValidator("user_inventory", "cloud.lint"), cloud)).toStrictEqual([])
  })

  it("a risk level that does not match its id, or a type that does not match type_id, is refused (the lint schema's rule)", () => {
    expect(schemaErrors(ocsfValidator("user_inventory", "core.lint"), { ...event, user: { ...event.user, risk_level: "Low" } })).not.toStrictEqual([])
    expect(schemaErrors(ocsfValidator("user_inventory", "core.lint"), { ...event, user: { ...event.user, type: "User" } })).not.toStrictEqual([])
  })
})
