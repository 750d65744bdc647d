/**
 * Many accounts in one run, against the emulator's organization: discovery (every account, an OU,
 * include and exclude), each account read through a role session of its own and its users found
 * exactly once with the right account, one account's failure (a denied role, a denied listing)
 * its own, sessions that end early renewed, one account's throttling kept to it, and discovery
 * that cannot be done failing the run with the permission it lacks.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { type Emulator, type EmulatorOptions, MANAGEMENT_ACCOUNT_ID, startEmulator } from "../emulator/index.ts"
import { ocsfValidator, schemaErrors } from "./ocsf-schemas.ts"
import { configFor, readNdjson, runCli, sortBy, tempDir, writeJson } from "./support.ts"

let emulator: Emulator | undefined
afterEach(async () => {
  await emulator?.close()
  emulator = undefined
})

const organization = async (options: EmulatorOptions["organization"], extra: EmulatorOptions = {}) => {
  emulator = await startEmulator({ users: 6, ...extra, ...(options === undefined ? {} : { organization: options }) })
  return emulator
}

/** The UserIds each account holds, as the emulator knows them. */
const truth = (emu: Emulator, ids: ReadonlyArray<string>) =>
  Object.fromEntries(ids.map((id) => [id, [...emu.organization!.account(id).account.users()].map((u) => u.UserId).sort()]))

/** The UserIds of the events, by the account their ARN names. */
const byAccount = (events: ReadonlyArray<any>, uid: (e: any) => string = (e) => e.user.account.uid) => {
  const found: Record<string, Array<string>> = {}
  for (const e of events) (found[uid(e)] ??= []).push(e.user.uid_alt ?? e.user.uid)
  for (const ids of Object.values(found)) ids.sort()
  return found
}

const run = async (emu: Emulator, overrides: Parameters<typeof configFor>[2]) => {
  const dir = tempDir()
  const config = writeJson(path.join(dir, "config.json"), configFor(emu, dir, overrides))
  const result = await runCli(["run", "--config", config, "--once"])
  return {
    ...result,
    events: readNdjson(path.join(dir, "events.ndjson")),
    deadLetters: readNdjson(path.join(dir, "dead-letter.ndjson"))
  }
}

describe("an organization's accounts in one run", () => {
  it("every ACTIVE account discovered, each read through its own role session: its users exactly once, with its account, name and organization", async () => {
    const emu = await organization({ accounts: 5, usersPerAccount: 4, perAccount: { "200000000004": { status: "SUSPENDED" } } })
    const org = emu.organization!
    const result = await run(emu, {
      ocsf: { profile: "strict-cloud" },
      accounts: { organization: { roleName: org.roleName }, concurrency: 2 }
    })
    expect(result.code).toBe(0)
    const active = org.accounts.filter((a) => a.status === "ACTIVE").map((a) => a.id)
    expect(active).toHaveLength(4)
    expect(byAccount(result.events, (e) => e.cloud.account.uid)).toEqual(truth(emu, active))
    // Each event's user ARN names the account it was read in (a session signed for the wrong account would not).
    for (const e of result.events) expect(e.user.uid).toContain(`:iam::${e.user.account.uid}:user/`)
    for (const e of result.events) {
      const account = org.account(e.user.account.uid)
      expect(e.user.account.name).toBe(account.name)
      expect(e.user.org).toEqual({ uid: org.id })
      expect(e.cloud.org).toEqual({ uid: org.id })
      expect(schemaErrors(ocsfValidator("user_inventory", "cloud.lint"), e)).toEqual([])
    }
    // The management account is read with the base credentials; the members through a role each.
    expect(org.account(MANAGEMENT_ACCOUNT_ID).sessionsIssued()).toBe(0)
    for (const id of active.filter((a) => a !== MANAGEMENT_ACCOUNT_ID)) expect(org.account(id).sessionsIssued()).toBe(1)
    expect(org.account("200000000004").counters().total).toBe(0)
    expect(result.stderr).toMatch(/accounts: 4 read/)
  })

  it("an account whose role cannot be assumed: its own dead-letter record, the others read in full, exit 3", async () => {
    const emu = await organization({ accounts: 5, usersPerAccount: 3, perAccount: { "200000000002": { assumeRoleDenied: true } } })
    const org = emu.organization!
    const result = await run(emu, { accounts: { organization: { roleName: org.roleName } } })
    expect(result.code).toBe(3)
    const readable = org.accounts.map((a) => a.id).filter((id) => id !== "200000000002")
    expect(byAccount(result.events.map((e) => ({ ...e, account: e.user.account.uid.split(":")[4] })), (e) => e.account))
      .toEqual(truth(emu, readable))
    expect(result.deadLetters).toHaveLength(1)
    expect(result.deadLetters[0]).toMatchObject({
      kind: "account",
      account: { id: "200000000002" },
      error: { action: "AssumeRole", reason: "AccessDenied", code: "AccessDenied" }
    })
    expect(result.deadLetters[0].error.message).toMatch(/sts:AssumeRole/)
    expect(result.stderr).toMatch(/accounts: 4 read, 1 failed/)
  })

  it("an account whose ListUsers is denied is that account's failure alone", async () => {
    const emu = await organization({
      accounts: 3,
      usersPerAccount: 3,
      perAccount: { "200000000001": { faults: { ListUsers: { accessDenied: true } } } }
    })
    const result = await run(emu, { accounts: { organization: { roleName: emu.organization!.roleName } } })
    expect(result.code).toBe(3)
    expect(result.deadLetters.map((r) => [r.kind, r.account?.id, r.error.action])).toEqual([["account", "200000000001", "ListUsers"]])
    expect(Object.keys(byAccount(result.events.map((e) => ({ ...e, a: e.user.account.uid.split(":")[4] })), (e) => e.a)).sort())
      .toEqual([MANAGEMENT_ACCOUNT_ID, "200000000002"])
  })

  it("sessions that end before their expiry (ExpiredToken) are renewed: nothing lost", async () => {
    const emu = await organization({ accounts: 3, usersPerAccount: 40, sessionLifetime: { calls: 25 } })
    const org = emu.organization!
    const result = await run(emu, { accounts: { organization: { roleName: org.roleName } } })
    expect(result.code).toBe(0)
    const ids = org.accounts.map((a) => a.id)
    expect(byAccount(result.events.map((e) => ({ ...e, a: e.user.account.uid.split(":")[4] })), (e) => e.a)).toEqual(truth(emu, ids))
    // 40 users × 7 calls through sessions of 25 calls: each member account needed many sessions.
    for (const id of ids.filter((id) => id !== MANAGEMENT_ACCOUNT_ID)) expect(org.account(id).sessionsIssued()).toBeGreaterThan(5)
  })

  it("one account throttled hard: its own rate backs off, the others are never throttled and all are read", async () => {
    const emu = await organization({ accounts: 3, usersPerAccount: 30, perAccount: { "200000000001": { faults: { requestsPerSecond: 40 } } } })
    const org = emu.organization!
    const result = await run(emu, { accounts: { organization: { roleName: org.roleName }, concurrency: 3 } })
    expect(result.code).toBe(0)
    const ids = org.accounts.map((a) => a.id)
    expect(byAccount(result.events.map((e) => ({ ...e, a: e.user.account.uid.split(":")[4] })), (e) => e.a)).toEqual(truth(emu, ids))
    expect(org.account("200000000001").counters().byOutcome["throttled"] ?? 0).toBeGreaterThan(0)
    for (const id of [MANAGEMENT_ACCOUNT_ID, "200000000002"]) expect(org.account(id).counters().byOutcome["throttled"] ?? 0).toBe(0)
    // The summary of the throttled account says so; the others' say 0 throttled.
    expect(result.stderr).toMatch(/account 200000000001[^\n]*AWS: \d+ calls, [1-9]\d* throttled/)
    expect(result.stderr).toMatch(/account 200000000002[^\n]*AWS: \d+ calls, 0 throttled/)
  })

  it("include, exclude and an OU: only the accounts they leave", async () => {
    const emu = await organization({ accounts: 7, usersPerAccount: 1 })
    const org = emu.organization!
    const [ou] = org.organizationalUnits
    const under = org.accountsUnder(ou!.id)
    expect(under.length).toBeGreaterThan(0)
    const onlyOu = await run(emu, { accounts: { organization: { roleName: org.roleName, parents: [ou!.id] } } })
    expect(onlyOu.code).toBe(0)
    expect(new Set(onlyOu.events.map((e) => e.user.account.uid.split(":")[4]))).toEqual(new Set(under))

    const excluded = "200000000003"
    const filtered = await run(emu, {
      accounts: { organization: { roleName: org.roleName, include: [org.rootId], exclude: [excluded, MANAGEMENT_ACCOUNT_ID] } }
    })
    expect(filtered.code).toBe(0)
    const read = new Set(filtered.events.map((e) => e.user.account.uid.split(":")[4]))
    expect(read).toEqual(new Set(org.accounts.map((a) => a.id).filter((id) => id !== excluded && id !== MANAGEMENT_ACCOUNT_ID)))
  })

  it("listed accounts: each with its role (by name or ARN) and external id, read as listed", async () => {
    const emu = await organization({ accounts: 3, usersPerAccount: 2, perAccount: { "200000000002": { externalId: "ext-42" } } })
    const org = emu.organization!
    const result = await run(emu, {
      accounts: {
        list: [
          { id: "200000000001", roleName: org.roleName, name: "payments" },
          { id: "200000000002", roleArn: org.account("200000000002").roleArn, externalId: "ext-42" }
        ]
      },
      ocsf: { profile: "strict" }
    })
    expect(result.code).toBe(0)
    expect(byAccount(result.events)).toEqual(truth(emu, ["200000000001", "200000000002"]))
    expect(new Set(result.events.filter((e) => e.user.account.uid === "200000000001").map((e) => e.user.account.name)))
      .toEqual(new Set(["payments"]))
    // Listed, not discovered: no organization is claimed.
    expect(result.events.every((e) => e.user.org === undefined)).toBe(true)
  })

  it("discovery that Organizations denies fails the run at once, naming the permission (exit 1)", async () => {
    const emu = await organization({ accounts: 3, usersPerAccount: 1, organizationsFaults: { accessDenied: true } })
    const result = await run(emu, { accounts: { organization: { roleName: emu.organization!.roleName } } })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/organizations:(DescribeOrganization|ListAccounts)/)
    expect(result.events).toEqual([])
    for (const account of emu.organization!.accounts) expect(account.counters().total).toBe(0)
  })
})

describe("the accounts section of the config", () => {
  it("is checked like every other: a role given twice, an account id that is not one, a missing roleName", async () => {
    const dir = tempDir()
    const file = path.join(dir, "config.json")
    fs.writeFileSync(file, JSON.stringify({
      sinks: [{ type: "stdout" }],
      accounts: {
        list: [{ id: "12345", roleName: "r" }, { id: "123456789012", roleName: "r", roleArn: "arn:aws:iam::123456789012:role/r" }],
        organization: {}
      }
    }))
    const result = await runCli(["validate-config", file])
    expect(result.code).toBe(2)
    expect(sortBy(result.stderr.split("\n").filter((l) => l.startsWith("  - ")), (l) => l)).toEqual([
      `  - accounts.list[0].id: expected a 12-digit AWS account id like "123456789012"; found "12345"`,
      `  - accounts.list[1]: give roleArn or roleName, not both`,
      `  - accounts.organization.roleName: required, missing`
    ])
  })
})
