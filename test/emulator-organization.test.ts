/**
 * The emulator's AWS Organization through the real SDK clients (`@aws-sdk/client-organizations`,
 * `client-sts`, `client-iam` and `credential-providers`' fromTemporaryCredentials): discovery
 * and OUs paged as AWS pages them, the account an IAM call sees decided by the credentials that
 * signed it, session expiry, denied AssumeRole, ExternalId, Organizations faults, per-account
 * budgets and the overlap recorder.
 */
import { GetUserCommand, IAMClient, ListUsersCommand, type User } from "@aws-sdk/client-iam"
import {
  DescribeOrganizationCommand,
  ListAccountsCommand,
  ListAccountsForParentCommand,
  ListOrganizationalUnitsForParentCommand,
  type ListOrganizationalUnitsForParentCommandOutput,
  ListRootsCommand,
  OrganizationsClient,
  paginateListAccounts
} from "@aws-sdk/client-organizations"
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers"
import { describe, expect, it } from "vitest"
import { type Emulator, type EmulatorOptions, makeAccount, memberAccountId, startEmulator, type UserRecord } from "../emulator/index.ts"

const BASE = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }
type Credentials = { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }

const config = (e: Emulator, credentials: Credentials = BASE) => ({ endpoint: e.url, region: "us-east-1", credentials, maxAttempts: 1 })

/** Runs `f` against a fresh emulator and always closes it and the clients `f` made. */
const withEmulator = async <A>(
  options: EmulatorOptions,
  f: (e: Emulator, clients: {
    iam: (c?: Credentials) => IAMClient
    sts: (c?: Credentials) => STSClient
    orgs: (c?: Credentials) => OrganizationsClient
  }) => Promise<A>
): Promise<A> => {
  const e = await startEmulator(options)
  const made: Array<{ destroy(): void }> = []
  const track = <C extends { destroy(): void }>(c: C): C => {
    made.push(c)
    return c
  }
  try {
    return await f(e, {
      iam: (c) => track(new IAMClient(config(e, c))),
      sts: (c) => track(new STSClient(config(e, c))),
      orgs: (c) => track(new OrganizationsClient(config(e, c)))
    })
  } finally {
    for (const c of made) c.destroy()
    await e.close()
  }
}

/** The error `p` rejects with; fails the test when `p` succeeds. */
const failure = async (p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> => {
  try {
    await p
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } }
    return { name: err.name, message: err.message, status: err.$metadata?.httpStatusCode }
  }
  throw new Error("expected the call to fail, but it succeeded")
}

const assume = async (sts: STSClient, roleArn: string, sessionName = "iam-ocsf", externalId?: string): Promise<Credentials> => {
  const out = await sts.send(new AssumeRoleCommand({
    RoleArn: roleArn,
    RoleSessionName: sessionName,
    ...(externalId === undefined ? {} : { ExternalId: externalId })
  }))
  const c = out.Credentials!
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! }
}

const allUsers = async (iam: IAMClient): Promise<Array<User>> => {
  const users: Array<User> = []
  let marker: string | undefined
  do {
    const page = await iam.send(new ListUsersCommand({ MaxItems: 7, ...(marker === undefined ? {} : { Marker: marker }) }))
    users.push(...(page.Users ?? []))
    marker = page.IsTruncated === true ? page.Marker : undefined
  } while (marker !== undefined)
  return users
}

describe("emulated organization: discovery", () => {
  it("ListAccounts pages through every account, pages shorter than MaxResults (even empty) while NextToken is present", () =>
    withEmulator({ users: 1, organization: { accounts: 7, shortPages: true } }, async (e, { orgs }) => {
      const org = e.organization!
      const client = orgs()
      const walk = async (max: number) => {
        const ids: Array<string> = []
        const sizes: Array<number> = []
        let token: string | undefined
        do {
          const page = await client.send(new ListAccountsCommand({ MaxResults: max, ...(token === undefined ? {} : { NextToken: token }) }))
          ids.push(...(page.Accounts ?? []).map((a) => a.Id!))
          sizes.push(page.Accounts?.length ?? -1)
          token = page.NextToken
          expect(sizes.length).toBeLessThan(50)
        } while (token !== undefined)
        return { ids, sizes }
      }
      const expected = org.accounts.map((a) => a.id)
      expect(expected).toEqual(["123456789012", ...[1, 2, 3, 4, 5, 6].map(memberAccountId)])
      const three = await walk(3)
      expect(three.ids).toEqual(expected)
      expect(three.sizes.slice(0, -1).some((n) => n < 3)).toBe(true)
      const one = await walk(1)
      expect(one.ids).toEqual(expected)
      expect(one.sizes.slice(0, -1)).toContain(0)

      // The SDK's own paginator follows NextToken the same way.
      const viaPaginator: Array<string> = []
      for await (const page of paginateListAccounts({ client }, { MaxResults: 2 })) viaPaginator.push(...(page.Accounts ?? []).map((a) => a.Id!))
      expect(viaPaginator).toEqual(expected)

      const first = (await client.send(new ListAccountsCommand({}))).Accounts!
      expect(first).toHaveLength(7)
      expect(first[0]).toMatchObject({ Id: "123456789012", Name: "management", Status: "ACTIVE", JoinedMethod: "INVITED" })
      expect(first[0]!.Arn).toBe(`arn:aws:organizations::123456789012:account/${org.id}/123456789012`)
      expect(first[1]!.JoinedTimestamp).toBeInstanceOf(Date)
      expect(e.serviceCounters("organizations").byAction.ListAccounts?.ok).toBeGreaterThan(10)
    }))

  it("ListRoots, ListOrganizationalUnitsForParent (nested OUs) and ListAccountsForParent place every account exactly once", () =>
    withEmulator({ organization: { accounts: 12, perAccount: { [memberAccountId(11)]: { status: "SUSPENDED", name: "old" } } } }, async (e, { orgs }) => {
      const org = e.organization!
      const client = orgs()
      const roots = (await client.send(new ListRootsCommand({}))).Roots!
      expect(roots).toEqual([{ Id: org.rootId, Arn: `arn:aws:organizations::123456789012:root/${org.id}/${org.rootId}`, Name: "Root", PolicyTypes: [] }])
      expect(org.rootId).toMatch(/^r-[0-9a-z]{4}$/)

      const described = (await client.send(new DescribeOrganizationCommand({}))).Organization!
      expect(described).toMatchObject({ Id: org.id, MasterAccountId: "123456789012", FeatureSet: "ALL" })
      expect(org.id).toMatch(/^o-[a-z0-9]{10}$/)

      // Walk the tree as a client would, every page of every call (MaxResults 1).
      const placement = new Map<string, string>()
      const ouPath = new Map<string, string>([[org.rootId, ""]])
      const visit = async (parentId: string): Promise<void> => {
        let token: string | undefined
        do {
          const page = await client.send(new ListAccountsForParentCommand({ ParentId: parentId, MaxResults: 1, ...(token === undefined ? {} : { NextToken: token }) }))
          for (const a of page.Accounts ?? []) {
            expect(placement.has(a.Id!)).toBe(false)
            placement.set(a.Id!, ouPath.get(parentId)!)
          }
          token = page.NextToken
        } while (token !== undefined)
        token = undefined
        do {
          const page: ListOrganizationalUnitsForParentCommandOutput = await client.send(new ListOrganizationalUnitsForParentCommand({ ParentId: parentId, MaxResults: 1, ...(token === undefined ? {} : { NextToken: token }) }))
          for (const ou of page.OrganizationalUnits ?? []) {
            expect(ou.Id).toMatch(new RegExp(`^ou-${org.rootId.slice(2)}-[a-z0-9]{8}$`))
            expect(ou.Arn).toBe(`arn:aws:organizations::123456789012:ou/${org.id}/${ou.Id}`)
            ouPath.set(ou.Id!, `${ouPath.get(parentId)}/${ou.Name}`)
            await visit(ou.Id!)
          }
          token = page.NextToken
        } while (token !== undefined)
      }
      await visit(org.rootId)
      expect([...ouPath.values()].sort()).toEqual(["", "/Sandbox", "/Security", "/Workloads", "/Workloads/Development", "/Workloads/Production"])
      expect([...placement.keys()].sort()).toEqual(org.accounts.map((a) => a.id).sort())
      expect(placement.get("123456789012")).toBe("")
      expect(placement.get(memberAccountId(1))).toBe("/Security")
      expect(placement.get(memberAccountId(3))).toBe("/Workloads/Production")

      // The emulator's truth agrees: accounts under Workloads, at any depth.
      const workloads = org.organizationalUnits.find((u) => u.name === "Workloads")!
      expect([...org.accountsUnder(workloads.id)].sort()).toEqual(
        [...placement].filter(([, p]) => p.startsWith("/Workloads")).map(([id]) => id).sort()
      )
      const suspended = (await client.send(new ListAccountsCommand({}))).Accounts!.find((a) => a.Id === memberAccountId(11))
      expect(suspended).toMatchObject({ Status: "SUSPENDED", State: "SUSPENDED", Name: "old" })

      expect(await failure(client.send(new ListAccountsForParentCommand({ ParentId: "ou-zzzz-zzzzzzzz" })))).toEqual({
        name: "ParentNotFoundException",
        message: "We can't find a root or OU with the ParentId that you specified.",
        status: 404
      })
      expect(await failure(client.send(new ListAccountsForParentCommand({ ParentId: "123456789012" })))).toMatchObject({ name: "InvalidInputException", status: 400 })
      expect(await failure(client.send(new ListAccountsCommand({ NextToken: "bm9wZQ==" })))).toMatchObject({ name: "InvalidInputException", status: 400 })
      expect(await failure(client.send(new ListAccountsCommand({ MaxResults: 21 })))).toMatchObject({ name: "InvalidInputException", status: 400 })
    }))
})

describe("emulated organization: the credentials decide the account", () => {
  it("AssumeRole into each account, then ListUsers with the session lists that account's users only; base credentials the management account's", () =>
    withEmulator({ users: 4, organization: { accounts: 4, usersPerAccount: 9 } }, async (e, { iam, sts }) => {
      const org = e.organization!
      const base = sts()
      const seenIds = new Set<string>()
      for (const account of org.accounts.slice(1)) {
        const session = await assume(base, account.roleArn, `reader-${account.id}`)
        expect(session.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/)
        const who = await sts(session).send(new GetCallerIdentityCommand({}))
        expect(who).toMatchObject({ Account: account.id, Arn: `arn:aws:sts::${account.id}:assumed-role/iam-ocsf-reader/reader-${account.id}` })

        const users = await allUsers(iam(session))
        expect(users.map((u) => u.UserName)).toEqual([...account.account.userNames()])
        expect(users).toHaveLength(9)
        for (const u of users) {
          expect(u.Arn).toContain(`arn:aws:iam::${account.id}:user/`)
          expect(u.UserName).toContain(`-${account.id}-`)
          expect(seenIds.has(u.UserId!)).toBe(false)
          seenIds.add(u.UserId!)
        }
        expect(account.counters().byAction.ListUsers?.ok).toBe(2)
        // A role session has no user of its own: GetUser without UserName is refused, as AWS does.
        expect(await failure(iam(session).send(new GetUserCommand({})))).toMatchObject({
          name: "ValidationError",
          message: "Must specify userName when calling with non-User credentials"
        })
      }
      const management = await allUsers(iam())
      expect(management.map((u) => u.UserName)).toEqual([...e.account.userNames()])
      expect(management.slice(0, 2).map((u) => u.UserName)).toEqual(["lambda-execution-role", "aws-developer-team"])
      for (const u of management) {
        expect(u.Arn).toContain("arn:aws:iam::123456789012:user/")
        expect(seenIds.has(u.UserId!)).toBe(false)
      }
      expect(e.counters().byAction.ListUsers?.ok).toBe(1)
      expect(await base.send(new GetCallerIdentityCommand({}))).toMatchObject({
        Account: "123456789012",
        Arn: "arn:aws:iam::123456789012:user/iam-ocsf-reader"
      })
      // The truth agrees with itself: no two accounts share a UserId or an access key id.
      const ids = org.accounts.flatMap((a) => [...a.account.users()].map((u) => u.UserId))
      const keys = org.accounts.flatMap((a) => [...a.account.users()].flatMap((u) => u.AccessKeys.map((k) => k.AccessKeyId)))
      expect(new Set(ids).size).toBe(ids.length)
      expect(new Set(keys).size).toBe(keys.length)
      expect([...org.account(memberAccountId(1)).account.users()].some((u) => u.UserName === "lambda-execution-role")).toBe(false)
      // Even from one seed, two accounts' users share no UserId, access key id or ARN: ids carry the account.
      const twins = [memberAccountId(1), memberAccountId(2), "123456789012"].map((accountId) => [...makeAccount({ users: 300, seed: 7, accountId, specExamples: false }).users()])
      for (const field of [(u: UserRecord) => u.UserId, (u: UserRecord) => u.Arn, (u: UserRecord) => u.AccessKeys.map((k) => k.AccessKeyId).join()]) {
        const values = twins.flat().map(field).filter((v) => v !== "")
        expect(new Set(values).size).toBe(values.length)
      }
    }))

  it("the SDK's fromTemporaryCredentials assumes the role once and signs with the session", () =>
    withEmulator({ organization: { accounts: 3, usersPerAccount: 5 } }, async (e) => {
      const account = e.organization!.account(memberAccountId(2))
      const client = new IAMClient({
        endpoint: e.url,
        region: "us-east-1",
        maxAttempts: 1,
        credentials: fromTemporaryCredentials({
          params: { RoleArn: account.roleArn, RoleSessionName: "iam-ocsf" },
          clientConfig: { endpoint: e.url, region: "us-east-1", credentials: BASE }
        })
      })
      try {
        const first = await allUsers(client)
        const second = await allUsers(client)
        expect(first.map((u) => u.UserName)).toEqual([...account.account.userNames()])
        expect(second).toEqual(first)
        expect(account.sessionsIssued()).toBe(1)
        expect(e.organization!.account(memberAccountId(1)).sessionsIssued()).toBe(0)
        expect(account.counters().byAction.ListUsers?.ok).toBe(2)
        expect(e.counters().total).toBe(0)
      } finally {
        client.destroy()
      }
    }))

  it("a session answers ExpiredToken (HTTP 400) after its K calls or T ms, and a fresh AssumeRole works", () =>
    withEmulator({ organization: { accounts: 3, usersPerAccount: 2, sessionLifetime: { calls: 2 } } }, async (e, { iam, sts }) => {
      const account = e.organization!.account(memberAccountId(1))
      const session = await assume(sts(), account.roleArn)
      const client = iam(session)
      await client.send(new ListUsersCommand({}))
      await client.send(new ListUsersCommand({}))
      const expired = await failure(client.send(new ListUsersCommand({})))
      expect(expired).toEqual({ name: "ExpiredToken", message: "The security token included in the request is expired", status: 400 })
      expect(await failure(sts(session).send(new GetCallerIdentityCommand({})))).toMatchObject({ name: "ExpiredToken", status: 400 })
      expect(account.counters().byOutcome).toMatchObject({ ok: 2, rejected: 1 })

      const fresh = await assume(sts(), account.roleArn)
      expect(fresh.accessKeyId).not.toBe(session.accessKeyId)
      expect((await iam(fresh).send(new ListUsersCommand({}))).Users).toHaveLength(2)
      expect(account.sessionsIssued()).toBe(2)

      // A lifetime of 0 ms: expired at once; set on one account, read when a session is issued.
      account.setSessionLifetime({ ms: 0 })
      const dead = await assume(sts(), account.roleArn)
      expect(await failure(iam(dead).send(new ListUsersCommand({})))).toMatchObject({ name: "ExpiredToken", status: 400 })
      account.setSessionLifetime({ ms: 3_600_000 })
      const alive = await assume(sts(), account.roleArn)
      for (let i = 0; i < 4; i++) await iam(alive).send(new ListUsersCommand({}))
    }))

  it("a session key with another token answers InvalidClientTokenId (HTTP 403)", () =>
    withEmulator({ organization: { accounts: 2 } }, async (e, { iam, sts }) => {
      const session = await assume(sts(), e.organization!.account(memberAccountId(1)).roleArn)
      const forged = { ...session, sessionToken: `${session.sessionToken!.slice(0, -4)}AAAA` }
      expect(await failure(iam(forged).send(new ListUsersCommand({})))).toEqual({
        name: "InvalidClientTokenId",
        message: "The security token included in the request is invalid.",
        status: 403
      })
      const { sessionToken: _, ...withoutToken } = session
      expect(await failure(iam(withoutToken).send(new ListUsersCommand({})))).toMatchObject({ name: "InvalidClientTokenId", status: 403 })
    }))
})

describe("emulated organization: AssumeRole faults", () => {
  it("AssumeRole denied for a chosen account: HTTP 403 AccessDenied with AWS's message; the others succeed", () =>
    withEmulator({ organization: { accounts: 5, perAccount: { [memberAccountId(2)]: { assumeRoleDenied: true }, [memberAccountId(4)]: { status: "SUSPENDED" } } } }, async (e, { sts }) => {
      const org = e.organization!
      const client = sts()
      const denied = org.account(memberAccountId(2))
      expect(await failure(assume(client, denied.roleArn))).toEqual({
        name: "AccessDenied",
        message: `User: arn:aws:iam::123456789012:user/iam-ocsf-reader is not authorized to perform: sts:AssumeRole on resource: ${denied.roleArn}`,
        status: 403
      })
      await assume(client, org.account(memberAccountId(1)).roleArn)
      await assume(client, org.account(memberAccountId(3)).roleArn)
      // A suspended account, a role name the accounts do not have and an account outside the organization: denied alike.
      expect(await failure(assume(client, org.account(memberAccountId(4)).roleArn))).toMatchObject({ name: "AccessDenied", status: 403 })
      expect(await failure(assume(client, `arn:aws:iam::${memberAccountId(1)}:role/OrganizationAccountAccessRole`))).toMatchObject({ name: "AccessDenied" })
      expect(await failure(assume(client, "arn:aws:iam::999999999999:role/iam-ocsf-reader"))).toMatchObject({ name: "AccessDenied" })
      expect(await failure(assume(client, denied.roleArn, "x"))).toMatchObject({ name: "ValidationError", status: 400 })

      denied.setAssumeRoleDenied(false)
      await assume(client, denied.roleArn)
      expect(e.serviceCounters("sts").byAction.AssumeRole).toMatchObject({ ok: 3, denied: 4, rejected: 1 })
    }))

  it("an account that requires an ExternalId denies AssumeRole without it or with another one", () =>
    withEmulator({ organization: { accounts: 3, perAccount: { [memberAccountId(1)]: { externalId: "s3cr3t-id" } } } }, async (e, { iam, sts }) => {
      const org = e.organization!
      const client = sts()
      const strict = org.account(memberAccountId(1))
      expect(await failure(assume(client, strict.roleArn))).toMatchObject({ name: "AccessDenied", status: 403 })
      expect(await failure(assume(client, strict.roleArn, "iam-ocsf", "other-id"))).toMatchObject({ name: "AccessDenied", status: 403 })
      const session = await assume(client, strict.roleArn, "iam-ocsf", "s3cr3t-id")
      await iam(session).send(new ListUsersCommand({}))
      // An ExternalId where none is required is accepted, as AWS does.
      await assume(client, org.account(memberAccountId(2)).roleArn, "iam-ocsf", "unused-id")
    }))
})

describe("emulated organization: Organizations faults", () => {
  it("throttling answers TooManyRequestsException (HTTP 429), by rate or above a budget", () =>
    withEmulator({ organization: { accounts: 3, organizationsFaults: { throttleRate: 1 } } }, async (e, { orgs }) => {
      const client = orgs()
      expect(await failure(client.send(new ListAccountsCommand({})))).toMatchObject({ name: "TooManyRequestsException", status: 429 })
      e.organization!.setOrganizationsFaults({ requestsPerSecond: 1 })
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => client.send(new ListRootsCommand({}))))
      const throttled = results.filter((r) => r.status === "rejected" && (r.reason as Error).name === "TooManyRequestsException")
      expect(throttled.length).toBeGreaterThan(0)
      expect(results.filter((r) => r.status === "fulfilled").length).toBeGreaterThan(0)
      expect(e.serviceCounters("organizations").byOutcome.throttled).toBe(1 + throttled.length)
    }))

  it("denial answers AccessDeniedException (HTTP 403) for the whole service, for chosen parents, and to member accounts", () =>
    withEmulator({ organization: { accounts: 3, organizationsFaults: { accessDenied: true } } }, async (e, { orgs, sts }) => {
      const org = e.organization!
      const client = orgs()
      const denied = { name: "AccessDeniedException", message: "You don't have permissions to access this resource.", status: 403 }
      expect(await failure(client.send(new ListAccountsCommand({})))).toEqual(denied)
      expect(await failure(client.send(new ListRootsCommand({})))).toEqual(denied)
      expect(await failure(client.send(new DescribeOrganizationCommand({})))).toEqual(denied)
      const security = org.organizationalUnits.find((u) => u.name === "Security")!
      org.setOrganizationsFaults({ deniedParents: [security.id] })
      expect(await failure(client.send(new ListAccountsForParentCommand({ ParentId: security.id })))).toMatchObject({ name: "AccessDeniedException", status: 403 })
      expect((await client.send(new ListAccountsForParentCommand({ ParentId: org.rootId }))).Accounts?.[0]?.Id).toBe("123456789012")

      // Organizations lists accounts to the management account only: a member's session is denied.
      const member = await assume(sts(), org.account(memberAccountId(1)).roleArn)
      expect(await failure(orgs(member).send(new ListAccountsCommand({})))).toMatchObject({ name: "AccessDeniedException", status: 403 })
      expect((await orgs(member).send(new DescribeOrganizationCommand({}))).Organization?.Id).toBe(org.id)
    }))

  it("without an organization: AWSOrganizationsNotInUseException (HTTP 404); STS still knows the one account", () =>
    withEmulator({ users: 3 }, async (e, { iam, orgs, sts }) => {
      expect(e.organization).toBeUndefined()
      expect(await failure(orgs().send(new ListAccountsCommand({})))).toEqual({
        name: "AWSOrganizationsNotInUseException",
        message: "Your account is not a member of an organization.",
        status: 404
      })
      const session = await assume(sts(), "arn:aws:iam::123456789012:role/iam-ocsf-reader")
      expect((await allUsers(iam(session))).map((u) => u.UserName)).toEqual([...e.account.userNames()])
      expect(await failure(assume(sts(), "arn:aws:iam::200000000001:role/iam-ocsf-reader"))).toMatchObject({ name: "AccessDenied" })
    }))
})

describe("emulated organization: each account its own world", () => {
  it("per-account budgets are independent: one account throttled by its budget, the next within its own", () =>
    withEmulator({ organization: { accounts: 3, usersPerAccount: 2, memberFaults: { requestsPerSecond: 2 } } }, async (e, { iam, sts }) => {
      const org = e.organization!
      const a = org.account(memberAccountId(1))
      const b = org.account(memberAccountId(2))
      const ia = iam(await assume(sts(), a.roleArn))
      const ib = iam(await assume(sts(), b.roleArn))
      const burst = await Promise.allSettled(Array.from({ length: 12 }, () => ia.send(new ListUsersCommand({}))))
      expect(burst.filter((r) => r.status === "rejected").length).toBeGreaterThan(0)
      // b's bucket is its own, full: its two calls pass at once.
      await ib.send(new ListUsersCommand({}))
      await ib.send(new ListUsersCommand({}))
      expect(a.counters().byOutcome.throttled).toBeGreaterThan(0)
      expect(b.counters().byOutcome).toMatchObject({ ok: 2, throttled: 0 })
      expect(e.counters().total).toBe(0)
    }))

  it("per-account faults: AccessDenied on one account's ListUsers names that account's session and resource", () =>
    withEmulator({ organization: { accounts: 3, usersPerAccount: 2 } }, async (e, { iam, sts }) => {
      const org = e.organization!
      const a = org.account(memberAccountId(1))
      const b = org.account(memberAccountId(2))
      b.setFaults({ ListUsers: { accessDenied: true } })
      await iam(await assume(sts(), a.roleArn)).send(new ListUsersCommand({}))
      expect(await failure(iam(await assume(sts(), b.roleArn, "reader")).send(new ListUsersCommand({})))).toEqual({
        name: "AccessDenied",
        message: `User: arn:aws:sts::${b.id}:assumed-role/iam-ocsf-reader/reader is not authorized to perform: iam:ListUsers ` +
          `on resource: arn:aws:iam::${b.id}:user/ because no identity-based policy allows the iam:ListUsers action`,
        status: 403
      })
      await iam().send(new ListUsersCommand({}))
    }))

  it("the overlap recorder says which accounts saw two collectors at once, and not a hand-over", () =>
    withEmulator({ organization: { accounts: 4, usersPerAccount: 1, overlapGapMs: 60_000 } }, async (e, { iam, sts }) => {
      const org = e.organization!
      const a = org.account(memberAccountId(1))
      const b = org.account(memberAccountId(2))
      const list = (c: IAMClient) => c.send(new ListUsersCommand({}))
      // Account a: worker-1 reads, worker-2 reads, worker-1 reads again: their collections intersect.
      const a1 = iam(await assume(sts(), a.roleArn, "worker-1"))
      const a2 = iam(await assume(sts(), a.roleArn, "worker-2"))
      await list(a1)
      await list(a2)
      await list(a1)
      // Account b: worker-1 reads, then hands over to worker-2 (a new worker-1 session stays worker-1).
      await list(iam(await assume(sts(), b.roleArn, "worker-1")))
      await list(iam(await assume(sts(), b.roleArn, "worker-1")))
      await list(iam(await assume(sts(), b.roleArn, "worker-2")))
      // Two different base keys in the management account, one after the other: no overlap either.
      await list(iam({ accessKeyId: "AKIDWORKER1", secretAccessKey: "x" }))
      await list(iam({ accessKeyId: "AKIDWORKER2", secretAccessKey: "x" }))

      expect(org.overlappedAccounts()).toEqual([a.id])
      const ra = a.overlap()
      expect(ra).toMatchObject({ overlapped: true, overlaps: 1 })
      expect([...ra.firstOverlap!.collectors].sort()).toEqual(["key:AKIDEXAMPLE/worker-1", "key:AKIDEXAMPLE/worker-2"])
      const rb = b.overlap()
      expect(rb.overlapped).toBe(false)
      expect(rb.collections.map((c) => [c.collector, c.calls])).toEqual([["key:AKIDEXAMPLE/worker-1", 2], ["key:AKIDEXAMPLE/worker-2", 1]])
      expect(org.account("123456789012").overlap().collections.map((c) => c.collector)).toEqual(["key:AKIDWORKER1", "key:AKIDWORKER2"])
      expect(org.account(memberAccountId(3)).overlap()).toMatchObject({ overlapped: false, collections: [] })

      org.resetOverlaps()
      expect(org.overlappedAccounts()).toEqual([])
    }))

  it("calls in flight at once from two collectors overlap, whatever the gap", () =>
    withEmulator({ organization: { accounts: 2, usersPerAccount: 1, overlapGapMs: 0 } }, async (e, { iam, sts }) => {
      const a = e.organization!.account(memberAccountId(1))
      // The first call is held until the second has arrived: they are in flight together.
      a.setFaults({ "*": { latencyMs: 60_000 } })
      const c1 = iam(await assume(sts(), a.roleArn, "worker-1"))
      const c2 = iam(await assume(sts(), a.roleArn, "worker-2"))
      c1.send(new ListUsersCommand({})).catch(() => undefined)
      const deadline = Date.now() + 30_000
      while (a.overlap().collections.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
      expect(a.overlap().collections).toHaveLength(1)
      a.setFaults({})
      await c2.send(new ListUsersCommand({}))
      expect(a.overlap()).toMatchObject({ overlapped: true, overlaps: 1 })
      expect(a.counters().total).toBe(1)
    }))

  it("rejects a bad organization option with a message naming it", () => {
    expect(() => startEmulator({ organization: { accounts: 0 } })).toThrow(/organization\.accounts/)
    expect(() => startEmulator({ organization: { accounts: 2, perAccount: { "200000000009": { users: 1 } } } })).toThrow(/perAccount: no account 200000000009/)
    expect(() => startEmulator({ organization: { accounts: 2, sessionLifetime: { calls: -1 } } })).toThrow(/sessionLifetime\.calls/)
  })
})
