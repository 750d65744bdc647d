/**
 * The IAM emulator through the real `@aws-sdk/client-iam`: each action an inventory calls answers
 * as AWS does (the spec's data, paging, the credential report's states); faults; a prompt close.
 */
import {
  GenerateCredentialReportCommand,
  GetAccessKeyLastUsedCommand,
  GetAccountAuthorizationDetailsCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserPolicyCommand,
  ListAttachedGroupPoliciesCommand,
  ListGroupPoliciesCommand,
  ListServiceSpecificCredentialsCommand,
  ListSigningCertificatesCommand,
  ListSSHPublicKeysCommand,
  GetAccountSummaryCommand,
  GetCredentialReportCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListMFADevicesCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  ListUserTagsCommand
} from "@aws-sdk/client-iam"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { type Emulator, emulatorScoped, makeAccount, startEmulator, type UserRecord } from "../emulator/index.ts"

const client = (e: Emulator) =>
  new IAMClient({
    endpoint: e.url,
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    maxAttempts: 1
  })

/** Runs `f` against a fresh emulator and always closes it. */
const withEmulator = async <A>(
  options: Parameters<typeof startEmulator>[0],
  f: (e: Emulator, iam: IAMClient) => Promise<A>
): Promise<A> => {
  const e = await startEmulator(options)
  const iam = client(e)
  try {
    return await f(e, iam)
  } finally {
    iam.destroy()
    await e.close()
  }
}

/** The error `p` rejects with; fails the test when `p` succeeds. */
const failure = async (p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined; code: unknown }> => {
  try {
    await p
  } catch (e) {
    const err = e as { name: string; message: string; Code?: unknown; $metadata?: { httpStatusCode?: number } }
    return { name: err.name, message: err.message, status: err.$metadata?.httpStatusCode, code: err.Code }
  }
  throw new Error("expected the call to fail, but it succeeded")
}

const d = (iso: string) => new Date(iso)

/** The spec's example users, copied from the spec (not from the emulator's data). */
const SPEC = {
  programmatic: {
    UserId: "AIDAI23HZ27SI6FQMGNHQ",
    UserName: "lambda-execution-role",
    Arn: "arn:aws:iam::123456789012:user/service-role/lambda-execution-role",
    Path: "/service-role/",
    CreateDate: "2020-06-04T10:00:00Z",
    AccessKeys: [
      { AccessKeyId: "AKIA123456789EXAMPLE", Status: "Active", CreateDate: "2020-06-04T10:00:00Z" },
      { AccessKeyId: "AKIA987654321EXAMPLE", Status: "Active", CreateDate: "2021-03-15T14:30:00Z" }
    ],
    Tags: [{ Key: "Purpose", Value: "Lambda Execution" }, { Key: "Environment", Value: "Production" }]
  },
  console: {
    UserId: "AIDACKCEVSQ6C2EXAMPLE",
    UserName: "aws-developer-team",
    Arn: "arn:aws:iam::123456789012:user/engineering/aws-developer-team",
    Path: "/engineering/",
    CreateDate: "2020-06-04T10:00:00Z",
    PasswordLastUsed: "2025-08-26T09:30:00Z",
    AccessKeys: [{ AccessKeyId: "AKIAIOSFODNN7EXAMPLE", Status: "Active", CreateDate: "2025-01-10T11:00:00Z" }],
    MFADevices: [{ SerialNumber: "arn:aws:iam::123456789012:mfa/aws-developer-team", EnableDate: "2020-07-15T14:00:00Z" }],
    Tags: [{ Key: "Department", Value: "Engineering" }, { Key: "Environment", Value: "Development" }]
  }
} as const

describe("IAM emulator: ListUsers", () => {
  it("delivers every user exactly once over short pages when following Marker (MaxItems 7, 250 users)", () =>
    withEmulator({ users: 250, shortPages: true }, async (e, iam) => {
      const seen: Array<string> = []
      const pageSizes: Array<number> = []
      let marker: string | undefined
      let truncated = true
      while (truncated) {
        const page = await iam.send(new ListUsersCommand({ MaxItems: 7, ...(marker === undefined ? {} : { Marker: marker }) }))
        const users = page.Users ?? []
        for (const u of users) {
          seen.push(u.UserName ?? "")
          expect(u.Tags).toBeUndefined()
        }
        pageSizes.push(users.length)
        truncated = page.IsTruncated === true
        marker = page.Marker
        if (truncated) expect(marker).toBeTypeOf("string")
        expect(pageSizes.length).toBeLessThan(200)
      }
      const expected = [...e.account.userNames()]
      expect(expected.length).toBe(252)
      expect(e.account.size).toBe(252)
      expect(seen).toEqual(expected)
      expect(new Set(seen).size).toBe(252)
      // Some pages before the last were shorter than MaxItems while IsTruncated was true.
      expect(pageSizes.slice(0, -1).some((n) => n < 7)).toBe(true)
      expect(Math.max(...pageSizes)).toBe(7)
    }))

  it("returns 100 users a page by default and the spec users first, with PasswordLastUsed only when set", () =>
    withEmulator({ users: 250 }, async (_e, iam) => {
      const page = await iam.send(new ListUsersCommand({}))
      expect(page.Users).toHaveLength(100)
      expect(page.IsTruncated).toBe(true)
      const [first, second] = page.Users ?? []
      expect(first).toEqual({
        Path: SPEC.programmatic.Path,
        UserName: SPEC.programmatic.UserName,
        UserId: SPEC.programmatic.UserId,
        Arn: SPEC.programmatic.Arn,
        CreateDate: d(SPEC.programmatic.CreateDate)
      })
      expect(second?.PasswordLastUsed).toEqual(d(SPEC.console.PasswordLastUsed))
    }))

  it("filters by PathPrefix and still paginates", () =>
    withEmulator({ users: 300 }, async (e, iam) => {
      const expected = [...e.account.users()].filter((u) => u.Path.startsWith("/engineering/")).map((u) => u.UserName)
      expect(expected.length).toBeGreaterThan(5)
      const seen: Array<string> = []
      let marker: string | undefined
      do {
        const page = await iam.send(new ListUsersCommand({ PathPrefix: "/engineering/", MaxItems: 5, ...(marker ? { Marker: marker } : {}) }))
        for (const u of page.Users ?? []) seen.push(u.UserName ?? "")
        marker = page.IsTruncated ? page.Marker : undefined
      } while (marker !== undefined)
      expect(seen).toEqual(expected)
    }))

  it("rejects MaxItems outside 1..1000 and a forged Marker with ValidationError 400", () =>
    withEmulator({ users: 10 }, async (_e, iam) => {
      for (const MaxItems of [0, 1001]) {
        const err = await failure(iam.send(new ListUsersCommand({ MaxItems })))
        expect([err.name, err.status]).toEqual(["ValidationError", 400])
      }
      const err = await failure(iam.send(new ListUsersCommand({ Marker: "not-a-marker" })))
      expect([err.name, err.status]).toEqual(["ValidationError", 400])
      // A marker of another action is not accepted either.
      const tags = await iam.send(new ListUserTagsCommand({ UserName: SPEC.console.UserName, MaxItems: 1 }))
      expect(tags.IsTruncated).toBe(true)
      const other = await failure(iam.send(new ListUsersCommand({ Marker: tags.Marker ?? "" })))
      expect(other.name).toBe("ValidationError")
    }))

  it("XML-escapes text (a path with '&') and the SDK reads it back", () =>
    withEmulator({ users: 200 }, async (e, iam) => {
      const odd = [...e.account.users()].find((u) => u.Path === "/r&d/")
      expect(odd).toBeDefined()
      const got = await iam.send(new GetUserCommand({ UserName: odd?.UserName ?? "" }))
      expect(got.User?.Path).toBe("/r&d/")
      expect(got.User?.Arn).toBe(odd?.Arn)
      // The SDK's parser tolerates a bare '&': check the wire format itself.
      const res = await fetch(e.url, {
        method: "POST",
        body: new URLSearchParams({ Action: "GetUser", Version: "2010-05-08", UserName: odd?.UserName ?? "" }),
        headers: { authorization: "AWS4-HMAC-SHA256 Credential=x" }
      })
      const xml = await res.text()
      expect(xml).toContain("<Path>/r&amp;d/</Path>")
      expect(xml).not.toMatch(/&(?!amp;|lt;|gt;|quot;|apos;)/)
    }))
})

describe("IAM emulator: per-user calls", () => {
  it("answers every action with the spec's data for the programmatic user", () =>
    withEmulator({}, async (_e, iam) => {
      const u = SPEC.programmatic
      const UserName = u.UserName
      const got = await iam.send(new GetUserCommand({ UserName }))
      expect(got.User).toEqual({
        Path: u.Path, UserName, UserId: u.UserId, Arn: u.Arn, CreateDate: d(u.CreateDate), Tags: u.Tags
      })
      const keys = await iam.send(new ListAccessKeysCommand({ UserName }))
      expect(keys.AccessKeyMetadata).toEqual(u.AccessKeys.map((k) => ({ UserName, ...k, CreateDate: d(k.CreateDate) })))
      expect(keys.IsTruncated).toBe(false)
      const mfa = await iam.send(new ListMFADevicesCommand({ UserName }))
      expect(mfa.MFADevices).toEqual([])
      const tags = await iam.send(new ListUserTagsCommand({ UserName }))
      expect(tags.Tags).toEqual(u.Tags)
      const login = await failure(iam.send(new GetLoginProfileCommand({ UserName })))
      expect(login.name).toBe("NoSuchEntityException")
      expect(login.status).toBe(404)
      expect(login.code).toBe("NoSuchEntity")
    }))

  it("answers every action with the spec's data for the console user", () =>
    withEmulator({}, async (e, iam) => {
      const u = SPEC.console
      const UserName = u.UserName
      const got = await iam.send(new GetUserCommand({ UserName }))
      // GetUser, unlike ListUsers, gives the permissions boundary
      expect(got.User).toEqual({
        Path: u.Path, UserName, UserId: u.UserId, Arn: u.Arn, CreateDate: d(u.CreateDate),
        PasswordLastUsed: d(u.PasswordLastUsed), Tags: u.Tags,
        PermissionsBoundary: { PermissionsBoundaryType: "PermissionsBoundaryPolicy", PermissionsBoundaryArn: "arn:aws:iam::aws:policy/PowerUserAccess" }
      })
      const keys = await iam.send(new ListAccessKeysCommand({ UserName }))
      expect(keys.AccessKeyMetadata).toEqual(u.AccessKeys.map((k) => ({ UserName, ...k, CreateDate: d(k.CreateDate) })))
      const mfa = await iam.send(new ListMFADevicesCommand({ UserName }))
      expect(mfa.MFADevices).toEqual(u.MFADevices.map((m) => ({ UserName, ...m, EnableDate: d(m.EnableDate) })))
      const login = await iam.send(new GetLoginProfileCommand({ UserName }))
      expect(login.LoginProfile?.UserName).toBe(UserName)
      expect(login.LoginProfile?.CreateDate).toBeInstanceOf(Date)
      expect(login.LoginProfile?.PasswordResetRequired).toBe(false)
      const tags = await iam.send(new ListUserTagsCommand({ UserName }))
      expect(tags.Tags).toEqual(u.Tags)
      // Groups and policies are not in the spec: compare with the account's own data.
      const expected = e.account.expected(UserName)
      const groups = await iam.send(new ListGroupsForUserCommand({ UserName }))
      expect(groups.Groups?.map((g) => g.GroupName)).toEqual(expected?.Groups.map((g) => g.GroupName))
      expect(groups.Groups?.[0]?.CreateDate).toBeInstanceOf(Date)
      const attached = await iam.send(new ListAttachedUserPoliciesCommand({ UserName }))
      expect(attached.AttachedPolicies).toEqual(expected?.AttachedPolicies)
      const inline = await iam.send(new ListUserPoliciesCommand({ UserName }))
      expect(inline.PolicyNames).toEqual(expected?.InlinePolicyNames)
    }))

  it("answers NoSuchEntity 404 for an unknown user on every per-user action", () =>
    withEmulator({ users: 20 }, async (e, iam) => {
      const UserName = "alice.martin-999999" // well-formed, but past the end of the account
      const calls = [
        iam.send(new GetUserCommand({ UserName })),
        iam.send(new ListAccessKeysCommand({ UserName })),
        iam.send(new ListMFADevicesCommand({ UserName })),
        iam.send(new GetLoginProfileCommand({ UserName })),
        iam.send(new ListUserTagsCommand({ UserName })),
        iam.send(new ListGroupsForUserCommand({ UserName })),
        iam.send(new ListAttachedUserPoliciesCommand({ UserName })),
        iam.send(new ListUserPoliciesCommand({ UserName }))
      ]
      for (const call of calls) {
        const err = await failure(call)
        expect([err.name, err.status]).toEqual(["NoSuchEntityException", 404])
      }
      // A real generated name with a wrong prefix is unknown too.
      const real = e.account.userAt(5).UserName
      const forged = `x${real}`
      expect((await failure(iam.send(new GetUserCommand({ UserName: forged })))).status).toBe(404)
      expect(e.counters().byAction.GetUser?.notFound).toBe(2)
    }))

  it("paginates per-user lists with a small MaxItems and returns the generated data", () =>
    withEmulator({ users: 300, shortPages: true }, async (e, iam) => {
      const users = [...e.account.users()]
      const withThreeGroups = users.find((u) => u.Groups.length === 3)
      const withManyTags = users.find((u) => u.Tags.length >= 4)
      const withThreePolicies = users.find((u) => u.AttachedPolicies.length === 3)
      const withTwoInline = users.find((u) => u.InlinePolicyNames.length === 2)
      const withTwoKeys = users.find((u) => u.AccessKeys.length === 2 && u.AccessKeys.some((k) => k.Status === "Inactive"))
      for (const u of [withThreeGroups, withManyTags, withThreePolicies, withTwoInline, withTwoKeys]) expect(u).toBeDefined()

      const collect = async <A>(fetch: (marker: string | undefined) => Promise<{ items: ReadonlyArray<A>; IsTruncated?: boolean | undefined; Marker?: string | undefined }>) => {
        const all: Array<A> = []
        let pages = 0
        let marker: string | undefined
        do {
          const page = await fetch(marker)
          all.push(...page.items)
          pages++
          marker = page.IsTruncated ? page.Marker : undefined
        } while (marker !== undefined)
        return { all, pages }
      }
      const m = (marker: string | undefined) => (marker === undefined ? {} : { Marker: marker })

      const g = withThreeGroups as UserRecord
      const groups = await collect(async (marker) => {
        const r = await iam.send(new ListGroupsForUserCommand({ UserName: g.UserName, MaxItems: 1, ...m(marker) }))
        return { items: r.Groups ?? [], IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(groups.pages).toBe(3)
      // ListGroupsForUser gives each group, not its policies (ListAttachedGroupPolicies, ListGroupPolicies)
      expect(groups.all.map((x) => ({ ...x, CreateDate: x.CreateDate?.toISOString().replace(".000Z", "Z") })))
        .toEqual(g.Groups.map(({ AttachedPolicies: _, InlinePolicies: __, ...group }) => group))

      const t = withManyTags as UserRecord
      const tags = await collect(async (marker) => {
        const r = await iam.send(new ListUserTagsCommand({ UserName: t.UserName, MaxItems: 2, ...m(marker) }))
        return { items: r.Tags ?? [], IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(tags.pages).toBeGreaterThan(1)
      expect(tags.all).toEqual(t.Tags)

      const p = withThreePolicies as UserRecord
      const policies = await collect(async (marker) => {
        const r = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: p.UserName, MaxItems: 2, ...m(marker) }))
        return { items: r.AttachedPolicies ?? [], IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(policies.pages).toBe(2)
      expect(policies.all).toEqual(p.AttachedPolicies)

      const i = withTwoInline as UserRecord
      const inline = await collect(async (marker) => {
        const r = await iam.send(new ListUserPoliciesCommand({ UserName: i.UserName, MaxItems: 1, ...m(marker) }))
        return { items: r.PolicyNames ?? [], IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(inline.all).toEqual(i.InlinePolicyNames)

      const k = withTwoKeys as UserRecord
      const keys = await collect(async (marker) => {
        const r = await iam.send(new ListAccessKeysCommand({ UserName: k.UserName, MaxItems: 1, ...m(marker) }))
        return { items: r.AccessKeyMetadata ?? [], IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(keys.pages).toBe(2)
      expect(keys.all.map((x) => [x.UserName, x.AccessKeyId, x.Status])).toEqual(
        k.AccessKeys.map((x) => [k.UserName, x.AccessKeyId, x.Status])
      )
    }))

  it("returns exactly what account.expected() says for a sample of generated users", () =>
    withEmulator({ users: 1000, seed: 7 }, async (e, iam) => {
      for (const index of [2, 3, 50, 333, 777, 1001]) {
        const name = e.account.userAt(index).UserName
        const x = e.account.expected(name)
        const UserName = name
        const [user, keys, mfa, tags, groups, attached, inline, login] = await Promise.all([
          iam.send(new GetUserCommand({ UserName })),
          iam.send(new ListAccessKeysCommand({ UserName })),
          iam.send(new ListMFADevicesCommand({ UserName })),
          iam.send(new ListUserTagsCommand({ UserName })),
          iam.send(new ListGroupsForUserCommand({ UserName })),
          iam.send(new ListAttachedUserPoliciesCommand({ UserName })),
          iam.send(new ListUserPoliciesCommand({ UserName })),
          iam.send(new GetLoginProfileCommand({ UserName })).then(() => true, (err: Error) => {
            if (err.name !== "NoSuchEntityException") throw err
            return false
          })
        ])
        const iso = (t: Date | undefined) => t?.toISOString().replace(".000Z", "Z")
        expect({
          UserId: user.User?.UserId,
          UserName: user.User?.UserName,
          Arn: user.User?.Arn,
          Path: user.User?.Path,
          CreateDate: iso(user.User?.CreateDate),
          PasswordLastUsed: iso(user.User?.PasswordLastUsed) ?? null,
          AccessKeys: (keys.AccessKeyMetadata ?? []).map((k) => ({ AccessKeyId: k.AccessKeyId, Status: k.Status, CreateDate: iso(k.CreateDate) })),
          MFADevices: (mfa.MFADevices ?? []).map((m) => ({ SerialNumber: m.SerialNumber, EnableDate: iso(m.EnableDate) })),
          ConsoleAccessEnabled: login,
          Tags: tags.Tags,
          Groups: (groups.Groups ?? []).map((g) => ({ GroupName: g.GroupName, GroupId: g.GroupId, Arn: g.Arn, Path: g.Path })),
          AttachedPolicies: attached.AttachedPolicies,
          InlinePolicyNames: inline.PolicyNames
        }).toEqual(x)
      }
    }))
})

describe("IAM emulator: the identity calls", () => {
  /** Every page of a listing, following Marker; the items and the number of pages. */
  const allOf = async <A>(fetch: (marker: string | undefined) => Promise<{ items: ReadonlyArray<A> | undefined; IsTruncated?: boolean | undefined; Marker?: string | undefined }>) => {
    const all: Array<A> = []
    let pages = 0
    let marker: string | undefined
    do {
      const page = await fetch(marker)
      all.push(...page.items ?? [])
      pages++
      marker = page.IsTruncated ? page.Marker : undefined
    } while (marker !== undefined)
    return { all, pages }
  }
  const iso = (x: Date | undefined) => x?.toISOString().replace(".000Z", "Z")

  it("each user's SSH keys, signing certificates and service-specific credentials, paged; every user's credentials with AllUsers", () =>
    withEmulator({ users: 600, shortPages: true }, async (e, iam) => {
      const users = [...e.account.users()]
      const ssh = users.find((u) => u.SSHPublicKeys.length === 2)!
      const certs = users.find((u) => u.SigningCertificates.length === 2)!
      const creds = users.find((u) => u.ServiceSpecificCredentials.length >= 2) ?? users.find((u) => u.ServiceSpecificCredentials.length === 1)!
      for (const u of [ssh, certs, creds]) expect(u).toBeDefined()
      const keys = await allOf(async (Marker) => {
        const r = await iam.send(new ListSSHPublicKeysCommand({ UserName: ssh.UserName, MaxItems: 1, Marker }))
        return { items: r.SSHPublicKeys, IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(keys.pages).toBe(2)
      expect(keys.all.map((k) => ({ SSHPublicKeyId: k.SSHPublicKeyId, Status: k.Status, UploadDate: iso(k.UploadDate) }))).toEqual(ssh.SSHPublicKeys)
      const certificates = await allOf(async (Marker) => {
        const r = await iam.send(new ListSigningCertificatesCommand({ UserName: certs.UserName, MaxItems: 1, Marker }))
        return { items: r.Certificates, IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(certificates.pages).toBe(2)
      expect(certificates.all.map((c) => ({ CertificateId: c.CertificateId, Status: c.Status, UploadDate: iso(c.UploadDate) }))).toEqual(certs.SigningCertificates)
      expect(certificates.all[0]!.CertificateBody).toMatch(/^-----BEGIN CERTIFICATE-----/)
      const own = (await iam.send(new ListServiceSpecificCredentialsCommand({ UserName: creds.UserName }))).ServiceSpecificCredentials ?? []
      expect(own.map((c) => c.ServiceSpecificCredentialId)).toEqual(creds.ServiceSpecificCredentials.map((c) => c.ServiceSpecificCredentialId))
      // AllUsers: every user's, each once, over short pages
      const all = await allOf(async (Marker) => {
        const r = await iam.send(new ListServiceSpecificCredentialsCommand({ AllUsers: true, MaxItems: 7, Marker }))
        return { items: r.ServiceSpecificCredentials, IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      const truth = users.flatMap((u) => u.ServiceSpecificCredentials.map((c) => `${u.UserName} ${c.ServiceSpecificCredentialId} ${c.Status}`))
      expect(truth.length).toBeGreaterThan(14)
      expect(all.pages).toBeGreaterThan(2)
      expect(all.all.map((c) => `${c.UserName} ${c.ServiceSpecificCredentialId} ${c.Status}`)).toEqual(truth)
      // Bedrock API keys have an alias and may expire
      expect(users.some((u) => u.ServiceSpecificCredentials.some((c) => c.ServiceName === "bedrock.amazonaws.com" && c.ExpirationDate !== undefined))).toBe(true)
    }))

  it("GetAccessKeyLastUsed: the date, service and region of a used key; N/A and no date for a key never used", () =>
    withEmulator({ users: 50 }, async (e, iam) => {
      const [used, never] = SPEC.programmatic.AccessKeys
      const got = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: used!.AccessKeyId }))
      expect(got.UserName).toBe(SPEC.programmatic.UserName)
      expect(got.AccessKeyLastUsed).toEqual({ LastUsedDate: d("2025-08-30T23:15:00Z"), ServiceName: "logs", Region: "eu-west-1" })
      expect((await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: never!.AccessKeyId }))).AccessKeyLastUsed)
        .toEqual({ ServiceName: "N/A", Region: "N/A" })
      // a generated user's key is found by its id, as AWS finds it
      const u = [...e.account.users()].find((x) => x.AccessKeys.some((k) => k.LastUsed !== undefined) && x.UserName !== SPEC.programmatic.UserName)!
      const k = u.AccessKeys.find((x) => x.LastUsed !== undefined)!
      expect((await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k.AccessKeyId }))).AccessKeyLastUsed?.LastUsedDate).toEqual(d(k.LastUsed!.Date))
      expect(await failure(iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: "AKIANOSUCHKEY0000000" })))).toMatchObject({ status: 404 })
    }))

  it("policies: a user's inline document, a group's attached and inline policies (paged) and documents, a managed policy's default version", () =>
    withEmulator({ users: 50, shortPages: true }, async (e, iam) => {
      const u = [...e.account.users()].find((x) => x.InlinePolicyNames.length > 0)!
      const name = u.InlinePolicyNames[0]!
      const inline = await iam.send(new GetUserPolicyCommand({ UserName: u.UserName, PolicyName: name }))
      expect(JSON.parse(decodeURIComponent(inline.PolicyDocument!))).toHaveProperty("Statement")
      const security = e.account.groups.find((g) => g.GroupName === "Security")!
      const attached = await allOf(async (Marker) => {
        const r = await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: "Security", MaxItems: 1, Marker }))
        return { items: r.AttachedPolicies, IsTruncated: r.IsTruncated, Marker: r.Marker }
      })
      expect(attached.pages).toBe(2)
      expect(attached.all).toEqual(security.AttachedPolicies)
      const names = (await iam.send(new ListGroupPoliciesCommand({ GroupName: "Security" }))).PolicyNames
      expect(names).toEqual(security.InlinePolicies.map((p) => p.PolicyName))
      const groupDoc = await iam.send(new GetGroupPolicyCommand({ GroupName: "Security", PolicyName: names![0]! }))
      expect(decodeURIComponent(groupDoc.PolicyDocument!)).toBe(security.InlinePolicies[0]!.PolicyDocument)
      // DeployPipeline allowed everything in v1 and was tightened since: the default is v2
      const arn = "arn:aws:iam::123456789012:policy/DeployPipeline"
      const policy = (await iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy!
      expect(policy.DefaultVersionId).toBe("v2")
      expect(policy.AttachmentCount).toBeGreaterThan(0)
      const v1 = await iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: "v1" }))
      expect(JSON.parse(decodeURIComponent(v1.PolicyVersion!.Document!)).Statement.Action).toBe("*")
      expect(v1.PolicyVersion!.IsDefaultVersion).toBe(false)
      // GetAccountAuthorizationDetails lists the account's own policies with every version
      const details = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ["LocalManagedPolicy"] }))
      expect(details.UserDetailList).toEqual([])
      const deploy = details.Policies?.find((p) => p.Arn === arn)
      expect(deploy?.PolicyVersionList?.map((v) => [v.VersionId, v.IsDefaultVersion])).toEqual([["v2", true], ["v1", false]])
      expect(details.Policies?.some((p) => p.Arn?.includes(":aws:policy/"))).toBe(false)
      expect(await failure(iam.send(new GetPolicyCommand({ PolicyArn: "arn:aws:iam::123456789012:policy/Nope" })))).toMatchObject({ status: 404 })
      expect(await failure(iam.send(new ListGroupPoliciesCommand({ GroupName: "Nope" })))).toMatchObject({ status: 404 })
    }))
})

describe("IAM emulator: account-wide calls", () => {
  it("GetAccountAuthorizationDetails (Filter=User) gives each user's tags, group names and policies, paged, lists reversed", () =>
    withEmulator({ users: 48, shortPages: true }, async (e, iam) => {
      const seen: Array<string> = []
      let marker: string | undefined
      let pages = 0
      do {
        const page = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ["User"], MaxItems: 10, Marker: marker }))
        expect(page.GroupDetailList).toEqual([])
        for (const u of page.UserDetailList ?? []) {
          const truth = e.account.user(u.UserName!)!
          expect(u).toEqual({
            Path: truth.Path,
            UserName: truth.UserName,
            UserId: truth.UserId,
            Arn: truth.Arn,
            CreateDate: d(truth.CreateDate),
            // In the reverse order of the per-user calls: AWS promises no order.
            UserPolicyList: truth.InlinePolicyNames.toReversed().map((n) => ({ PolicyName: n, PolicyDocument: expect.stringMatching(/^%7B/) })),
            GroupList: truth.Groups.toReversed().map((g) => g.GroupName),
            AttachedManagedPolicies: truth.AttachedPolicies.toReversed(),
            ...(truth.PermissionsBoundary === undefined
              ? {}
              : { PermissionsBoundary: { PermissionsBoundaryType: "PermissionsBoundaryPolicy", PermissionsBoundaryArn: truth.PermissionsBoundary } }),
            Tags: truth.Tags.toReversed()
          })
          seen.push(u.UserName!)
        }
        marker = page.IsTruncated ? page.Marker : undefined
        pages += 1
      } while (marker !== undefined)
      expect(seen).toEqual([...e.account.userNames()])
      expect(pages).toBeGreaterThan(5) // short pages while truncated
    }))

  it("GetAccountAuthorizationDetails (Filter=Group) gives every group's id and ARN", () =>
    withEmulator({ users: 5 }, async (e, iam) => {
      const page = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ["Group"] }))
      expect(page.UserDetailList).toEqual([])
      expect(page.GroupDetailList?.map((g) => [g.GroupName, g.GroupId, g.Arn, g.Path])).toEqual(
        e.account.groups.map((g) => [g.GroupName, g.GroupId, g.Arn, g.Path])
      )
      expect(await failure(iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ["Users" as "User"] })))).toMatchObject({
        status: 400,
        code: "ValidationError"
      })
    }))

  it("the credential report: ReportNotPresent (410), STARTED, ReportInProgress (404), COMPLETE, then AWS's CSV in base64", () =>
    withEmulator({ users: 3, credentialReport: { generationMs: 200 } }, async (_, iam) => {
      expect(await failure(iam.send(new GetCredentialReportCommand({})))).toMatchObject({ status: 410, code: "ReportNotPresent" })
      const asked = Date.now()
      expect((await iam.send(new GenerateCredentialReportCommand({}))).State).toBe("STARTED")
      expect((await iam.send(new GenerateCredentialReportCommand({}))).State).toBe("INPROGRESS")
      expect(await failure(iam.send(new GetCredentialReportCommand({})))).toMatchObject({ status: 404, code: "ReportInProgress" })
      await new Promise((r) => setTimeout(r, 250))
      expect((await iam.send(new GenerateCredentialReportCommand({}))).State).toBe("COMPLETE")
      const report = await iam.send(new GetCredentialReportCommand({}))
      expect(report.ReportFormat).toBe("text/csv")
      // Generated by this request (GeneratedTime has whole seconds), not at some fixed date.
      expect(report.GeneratedTime!.getTime()).toBeGreaterThanOrEqual(Math.floor(asked / 1000) * 1000)
      expect(report.GeneratedTime!.getTime()).toBeLessThanOrEqual(Date.now())
      const [header, root, programmatic, consoleUser, ...rest] = Buffer.from(report.Content!).toString("utf8").trim().split("\n")
      expect(header).toBe(
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation," +
          "mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date," +
          "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated," +
          "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active," +
          "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
      )
      expect(root).toMatch(/^<root_account>,arn:aws:iam::123456789012:root,[^,]+,not_supported,/)
      expect(programmatic).toBe(
        "lambda-execution-role,arn:aws:iam::123456789012:user/service-role/lambda-execution-role," +
          "2020-06-04T10:00:00+00:00,false,N/A,N/A,N/A,false," +
          // key 1 was last used (region, then service, as AWS's columns go); key 2 never
          "true,2020-06-04T10:00:00+00:00,2025-08-30T23:15:00+00:00,eu-west-1,logs,true,2021-03-15T14:30:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A"
      )
      expect(consoleUser).toMatch(/^aws-developer-team,[^,]+,2020-06-04T10:00:00\+00:00,true,2025-08-26T09:30:00\+00:00,[^,]+,N\/A,true,true,/)
      expect(rest).toHaveLength(3)
    }))

  it("GenerateCredentialReport keeps a report younger than four hours and replaces an older one", () =>
    withEmulator({ users: 1, credentialReport: { ageMs: 3 * 3_600_000 } }, async (e, iam) => {
      const before = (await iam.send(new GetCredentialReportCommand({}))).GeneratedTime!
      expect((await iam.send(new GenerateCredentialReportCommand({}))).State).toBe("COMPLETE")
      expect((await iam.send(new GetCredentialReportCommand({}))).GeneratedTime).toEqual(before)
      e.setCredentialReport({ ageMs: 5 * 3_600_000, generationMs: 0 })
      expect((await iam.send(new GenerateCredentialReportCommand({}))).State).toBe("STARTED")
      expect((await iam.send(new GetCredentialReportCommand({}))).GeneratedTime!.getTime()).toBeGreaterThan(before.getTime())
    }))
})

describe("IAM emulator: account", () => {
  it("GetAccountSummary counts the account's users and MFA devices", () =>
    withEmulator({ users: 500, seed: 3 }, async (e, iam) => {
      const summary = (await iam.send(new GetAccountSummaryCommand({}))).SummaryMap ?? {}
      expect(summary.Users).toBe(502)
      expect(summary.Users).toBe(e.account.size)
      let mfa = 0
      for (const u of e.account.users()) mfa += u.MFADevices.length
      expect(summary.MFADevices).toBe(mfa)
      expect(summary.Groups).toBeGreaterThan(0)
      expect(summary.Policies).toBeGreaterThan(0)
    }))

  it("generates users lazily and deterministically: 100,000 users, O(1) lookups, a realistic mix", () => {
    const a = makeAccount({ users: 100_000, seed: 42 })
    const b = makeAccount({ users: 100_000, seed: 42 })
    const c = makeAccount({ users: 100_000, seed: 43 })
    expect(a.size).toBe(100_002)
    const last = a.userAt(100_001)
    expect(b.userAt(100_001)).toEqual(last)
    expect(c.userAt(100_001).UserId).not.toBe(last.UserId)
    expect(a.user(last.UserName)).toEqual(last)
    expect(a.indexOf(last.UserName)).toBe(100_001)
    expect(a.user("lambda-execution-role")?.UserId).toBe(SPEC.programmatic.UserId)
    expect(makeAccount({ users: 3, specExamples: false }).userAt(0).UserName).toMatch(/-0$/)
    expect(() => a.userAt(100_002)).toThrow(RangeError)

    const sample = Array.from({ length: 2000 }, (_, i) => a.userAt(2 + i * 50))
    const share = (p: (u: UserRecord) => boolean) => sample.filter(p).length / sample.length
    expect(new Set(sample.map((u) => u.UserId)).size).toBe(sample.length)
    expect(new Set(sample.flatMap((u) => u.AccessKeys.map((k) => k.AccessKeyId))).size).toBe(
      sample.reduce((n, u) => n + u.AccessKeys.length, 0)
    )
    for (const [p, lo, hi] of [
      [(u: UserRecord) => u.LoginProfile !== undefined, 0.3, 0.7],
      [(u: UserRecord) => u.MFADevices.length > 0, 0.2, 0.6],
      [(u: UserRecord) => u.AccessKeys.length === 0, 0.1, 0.5],
      [(u: UserRecord) => u.AccessKeys.some((k) => k.Status === "Inactive"), 0.05, 0.4],
      [(u: UserRecord) => u.Groups.length === 3, 0.02, 0.3],
      [(u: UserRecord) => u.Tags.length === 0, 0.05, 0.4],
      [(u: UserRecord) => u.PasswordLastUsed !== undefined, 0.2, 0.6]
    ] as const) {
      const s = share(p)
      expect(s).toBeGreaterThan(lo)
      expect(s).toBeLessThan(hi)
    }
    expect(new Set(sample.map((u) => u.Path)).size).toBeGreaterThan(4)
    for (const u of sample) {
      expect(u.PasswordLastUsed === undefined || u.LoginProfile !== undefined).toBe(true)
      expect(u.Arn).toBe(`arn:aws:iam::123456789012:user${u.Path}${u.UserName}`)
      expect(u.UserId).toMatch(/^AIDA[A-Z2-7]{17}$/)
    }
  })

  it("pages through 100,000 users with MaxItems 1000", () =>
    withEmulator({ users: 100_000 }, async (e) => {
      // Raw HTTP (the SDK's XML parsing would dominate the time): count members and follow Marker.
      let marker: string | undefined
      let users = 0
      let pages = 0
      do {
        const body = new URLSearchParams({ Action: "ListUsers", Version: "2010-05-08", MaxItems: "1000", ...(marker ? { Marker: marker } : {}) })
        const res = await fetch(e.url, { method: "POST", body, headers: { authorization: "AWS4-HMAC-SHA256 Credential=x" } })
        const text = await res.text()
        expect(res.status).toBe(200)
        users += text.split("<member>").length - 1
        pages++
        marker = /<IsTruncated>true<\/IsTruncated><Marker>([^<]+)<\/Marker>/.exec(text)?.[1]
      } while (marker !== undefined)
      expect(users).toBe(100_002)
      expect(pages).toBe(101)
    }))
})

describe("IAM emulator: protocol errors and faults", () => {
  it("requires an Authorization header and rejects unknown actions", () =>
    withEmulator({}, async (e) => {
      const post = (body: string, headers: Record<string, string> = {}) =>
        fetch(e.url, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded", ...headers } })
      const noAuth = await post("Action=ListUsers&Version=2010-05-08")
      expect(noAuth.status).toBe(403)
      expect(await noAuth.text()).toContain("<Code>MissingAuthenticationToken</Code>")
      const unknown = await post("Action=DeleteRole&Version=2010-05-08&RoleName=x", { authorization: "AWS4-HMAC-SHA256 x" })
      expect(unknown.status).toBe(400)
      const text = await unknown.text()
      expect(text).toContain("<Code>InvalidAction</Code>")
      expect(text).toMatch(/^<ErrorResponse xmlns="[^"]+"><Error><Type>Sender<\/Type>/)
      expect(e.counters().byOutcome.rejected).toBe(2)
    }))

  it("throttleRate 1 answers Throttling, HTTP 400, to that action only", () =>
    withEmulator({ faults: { ListMFADevices: { throttleRate: 1 } } }, async (e, iam) => {
      const err = await failure(iam.send(new ListMFADevicesCommand({ UserName: SPEC.console.UserName })))
      expect(err).toEqual({ name: "Throttling", message: "Rate exceeded", status: 400, code: "Throttling" })
      await iam.send(new ListAccessKeysCommand({ UserName: SPEC.console.UserName }))
      expect(e.counters().byAction.ListMFADevices?.throttled).toBe(1)
      expect(e.counters().byAction.ListAccessKeys?.ok).toBe(1)
    }))

  it("errorRate 1 answers ServiceFailure, HTTP 500; '*' applies to every action and an action's own setting wins", () =>
    withEmulator({ faults: { "*": { errorRate: 1 }, GetAccountSummary: { errorRate: 0 } } }, async (e, iam) => {
      const err = await failure(iam.send(new ListUsersCommand({})))
      expect([err.name, err.code, err.status]).toEqual(["ServiceFailureException", "ServiceFailure", 500])
      const err2 = await failure(iam.send(new GetUserCommand({ UserName: SPEC.console.UserName })))
      expect(err2.status).toBe(500)
      const summary = await iam.send(new GetAccountSummaryCommand({}))
      expect(summary.SummaryMap?.Users).toBe(2)
      expect(e.counters().byOutcome).toMatchObject({ error: 2, ok: 1 })
    }))

  it("accessDenied for one user on ListMFADevices denies that user only, with a realistic message", () =>
    withEmulator({ users: 5 }, async (e, iam) => {
      e.setFaults({ ListMFADevices: { accessDenied: [SPEC.console.UserName] } })
      const err = await failure(iam.send(new ListMFADevicesCommand({ UserName: SPEC.console.UserName })))
      expect([err.name, err.status]).toEqual(["AccessDenied", 403])
      expect(err.message).toBe(
        "User: arn:aws:iam::123456789012:user/iam-ocsf-reader is not authorized to perform: iam:ListMFADevices on resource: " +
          "arn:aws:iam::123456789012:user/engineering/aws-developer-team because no identity-based policy allows the iam:ListMFADevices action"
      )
      const other = await iam.send(new ListMFADevicesCommand({ UserName: SPEC.programmatic.UserName }))
      expect(other.MFADevices).toEqual([])
      const sameUserOtherAction = await iam.send(new ListAccessKeysCommand({ UserName: SPEC.console.UserName }))
      expect(sameUserOtherAction.AccessKeyMetadata).toHaveLength(1)
      e.setFaults({ ListUsers: { accessDenied: true } })
      expect((await failure(iam.send(new ListUsersCommand({})))).status).toBe(403)
      e.setFaults({})
      await iam.send(new ListMFADevicesCommand({ UserName: SPEC.console.UserName }))
      expect(e.counters().byAction.ListMFADevices).toMatchObject({ denied: 1, ok: 2 })
    }))

  it("a requestsPerSecond budget throttles a burst beyond it", () =>
    // A budget of 2 a second against a burst of 40: the bucket (burst = budget) lets 2 through,
    // and refills by one every 500 ms, which no burst of local calls lasts long enough to matter.
    withEmulator({ faults: { requestsPerSecond: 2 } }, async (e, iam) => {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, () => iam.send(new GetUserCommand({ UserName: SPEC.programmatic.UserName })))
      )
      const ok = results.filter((r) => r.status === "fulfilled").length
      const throttled = results.filter((r) => r.status === "rejected" && (r.reason as Error).name === "Throttling").length
      expect(ok + throttled).toBe(40)
      expect(ok).toBeGreaterThanOrEqual(2)
      expect(throttled).toBeGreaterThan(0)
      expect(e.counters().byAction.GetUser).toMatchObject({ ok, throttled })
      // The bucket refills: 600 ms later, a call passes again.
      await new Promise((r) => setTimeout(r, 600))
      await iam.send(new GetUserCommand({ UserName: SPEC.programmatic.UserName }))
    }))

  it("latencyMs delays that action's answers; counters count and reset", () =>
    withEmulator({ faults: { GetUser: { latencyMs: 300 } } }, async (e, iam) => {
      // The emulator's delay is a timer of this very process, set when the request arrives: a
      // 250 ms timer set before the request was sent fires first, however slow the machine.
      let earlier = false
      setTimeout(() => void (earlier = true), 250)
      await iam.send(new GetUserCommand({ UserName: SPEC.console.UserName }))
      expect(earlier).toBe(true)
      await iam.send(new ListUserTagsCommand({ UserName: SPEC.console.UserName }))
      await failure(iam.send(new GetLoginProfileCommand({ UserName: SPEC.programmatic.UserName })))
      expect(e.counters()).toEqual({
        total: 3,
        byOutcome: { ok: 2, throttled: 0, error: 0, denied: 0, notFound: 1, rejected: 0, corrupted: 0 },
        byAction: {
          GetUser: { ok: 1, throttled: 0, error: 0, denied: 0, notFound: 0, rejected: 0, corrupted: 0 },
          ListUserTags: { ok: 1, throttled: 0, error: 0, denied: 0, notFound: 0, rejected: 0, corrupted: 0 },
          GetLoginProfile: { ok: 0, throttled: 0, error: 0, denied: 0, notFound: 1, rejected: 0, corrupted: 0 }
        }
      })
      e.resetCounters()
      expect(e.counters()).toEqual({
        total: 0,
        byOutcome: { ok: 0, throttled: 0, error: 0, denied: 0, notFound: 0, rejected: 0, corrupted: 0 },
        byAction: {}
      })
      // Other actions do not wait: with GetUser held for an hour, ListUserTags still answers.
      e.setFaults({ GetUser: { latencyMs: 3_600_000 } })
      let held = "pending"
      void iam.send(new GetUserCommand({ UserName: SPEC.console.UserName })).then(() => (held = "answered"), () => (held = "failed"))
      await iam.send(new ListUserTagsCommand({ UserName: SPEC.console.UserName }))
      expect(held).toBe("pending")
    }))

  it("rejects invalid fault settings", () =>
    withEmulator({}, async (e) => {
      expect(() => e.setFaults({ ListUsers: { throttleRate: 2 } })).toThrow(RangeError)
      expect(() => e.setFaults({ requestsPerSecond: 0 })).toThrow(RangeError)
      expect(() => e.setFaults({ NoSuchAction: {} } as never)).toThrow(/unknown action/)
      expect(() => e.setFaults({ ListUsers: { corrupt: { kind: "garbled" } } } as never)).toThrow(/corrupt.kind must be one of/)
      expect(() => e.setFaults({ ListUserTags: { corrupt: { kind: "inject" } } })).toThrow(/inject needs a text/)
      expect(() => e.setFaults({ ListUsers: { corrupt: { kind: "html" }, corruptTimes: -1 } })).toThrow(/corruptTimes/)
    }))

  it("corrupt: answers that would be 200 are corrupted, still 200; only corruptTimes of them, only about corruptUsers", () =>
    withEmulator({ users: 20 }, async (e) => {
      const raw = async (params: Record<string, string>) => {
        const response = await fetch(e.url, {
          method: "POST",
          headers: { authorization: "AWS4-HMAC-SHA256 test", "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ Version: "2010-05-08", ...params })
        })
        return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
      }
      const tags = { Action: "ListUserTags", UserName: SPEC.console.UserName }
      e.setFaults({ ListUserTags: { corrupt: { kind: "html" }, corruptTimes: 1 } })
      expect(await raw(tags)).toMatchObject({ status: 200, type: "text/html; charset=utf-8", body: expect.stringMatching(/^<!DOCTYPE html>/) })
      expect(await raw(tags)).toMatchObject({ status: 200, body: expect.stringMatching(/^<ListUserTagsResponse/) })
      expect(e.counters().byAction["ListUserTags"]).toMatchObject({ corrupted: 1, ok: 1 })

      e.setFaults({ ListUserTags: { corrupt: { kind: "inject", text: "&#x110000;" }, corruptUsers: [SPEC.console.UserName] } })
      expect((await raw(tags)).body).toContain("<Value>&#x110000;Engineering</Value>")
      expect((await raw({ ...tags, UserName: SPEC.programmatic.UserName })).body).not.toContain("&#x110000;")

      e.setFaults({ "*": { corrupt: { kind: "cdata" } } })
      expect((await raw(tags)).body).toContain("<Value><![CDATA[Engineering]]><!-- corrupt: cdata --></Value>")
      e.setFaults({ ListUserTags: { corrupt: { kind: "empty" } } })
      expect(await raw(tags)).toMatchObject({ status: 200, body: "" })
      e.setFaults({ ListUserTags: { corrupt: { kind: "cut" } } })
      expect((await raw(tags)).body).not.toMatch(/<\/ListUserTagsResponse>$/)
      e.setFaults({ ListUserTags: { corrupt: { kind: "doctype" } } })
      expect((await raw(tags)).body).toMatch(/^<!DOCTYPE answer \[<!ENTITY corrupt "corrupt">\]><ListUserTagsResponse/)

      e.setFaults({ ListUsers: { corrupt: { kind: "truncated-without-marker" } } })
      const last = await raw({ Action: "ListUsers", MaxItems: "100" })
      expect(last.body).toContain("<IsTruncated>true</IsTruncated>")
      expect(last.body).not.toContain("<Marker>")

      e.setFaults({ ListUsers: { corrupt: { kind: "marker-loop" } } })
      const first = await raw({ Action: "ListUsers", MaxItems: "5" })
      const marker = /<Marker>([^<]+)<\/Marker>/.exec(first.body)![1]!
      const again = await raw({ Action: "ListUsers", MaxItems: "5", Marker: marker })
      expect(again.body.replace(/<RequestId>[^<]+/, "")).toBe(first.body.replace(/<RequestId>[^<]+/, ""))
    }))
})

describe("IAM emulator: lifecycle", () => {
  it("emulatorScoped closes the server, keep-alive connections included, when the scope closes", async () => {
    const url = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function*() {
          const e = yield* emulatorScoped({ users: 3 })
          const iam = client(e)
          const r = yield* Effect.promise(() => iam.send(new ListUsersCommand({})))
          expect(r.Users).toHaveLength(5)
          return e.url
        })
      )
    )
    await expect(fetch(url, { method: "POST", body: "Action=ListUsers" })).rejects.toThrow()
  })

  it("close() ends while a keep-alive client is connected and a delayed answer is pending", async () => {
    // An answer held for an hour: a close() that waited for it would outlast the test's timeout.
    const e = await startEmulator({ faults: { GetUser: { latencyMs: 3_600_000 } } })
    const iam = client(e)
    await iam.send(new ListUsersCommand({}))
    const pending = iam.send(new GetUserCommand({ UserName: SPEC.console.UserName })).then(() => "answered", () => "failed")
    await new Promise((r) => setTimeout(r, 50))
    await e.close()
    expect(await pending).toBe("failed")
    iam.destroy()
  })
})
