/**
 * `iam-ocsf check` and `run`'s start-up checks, as the CLI runs them, against the emulator's
 * organization (its STS, Organizations and per-account IAM), a real webhook on 127.0.0.1 and the
 * Kafka mock broker: every line green for a config that works, and each red line for the fault
 * that makes it red (a denied IAM action in one account, a denied AssumeRole, Organizations
 * denied, an unreachable webhook or an unhealthy one, a missing broker or topic, an unwritable
 * folder, a state store that is not one), the JSON shape, the exit codes, and `run
 * --require-healthy` refusing to start without collecting anything.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { type Emulator, type EmulatorOptions, MANAGEMENT_ACCOUNT_ID, startEmulator } from "../emulator/index.ts"
import { testTopics } from "./kafka-mock/topics.ts"
import { configFor, kafkaBootstrap, runCli, tempDir, writeJson } from "./support.ts"
import { freePort, startWebhook, type Webhook } from "./webhook.ts"

let emulator: Emulator | undefined
let webhook: Webhook | undefined
afterEach(async () => {
  await emulator?.close()
  await webhook?.close()
  emulator = undefined
  webhook = undefined
})

/** An organization of `accounts` accounts, each with a credential report 10 minutes old (so the run would reuse it). */
const organization = async (options: Partial<NonNullable<EmulatorOptions["organization"]>> = {}, extra: EmulatorOptions = {}) => {
  emulator = await startEmulator({
    users: 3,
    credentialReport: { ageMs: 10 * 60_000 },
    ...extra,
    organization: { accounts: 3, usersPerAccount: 2, ...options }
  })
  return emulator
}

interface Check {
  readonly name: string
  readonly account?: string
  readonly status: "ok" | "warn" | "fail"
  readonly detail: string
  readonly fix?: string
}

const check = async (emu: Emulator, overrides: Parameters<typeof configFor>[2], args: ReadonlyArray<string> = ["--format", "json"]) => {
  const dir = tempDir()
  const config = writeJson(path.join(dir, "config.json"), configFor(emu, dir, overrides))
  const result = await runCli(["check", "--config", config, ...args])
  const json = args.includes("json") ? JSON.parse(result.stdout) : undefined
  const line = (name: string, account?: string): Check => {
    const found = (json.checks as Array<Check>).filter((c) => c.name === name && (account === undefined || c.account === account))
    expect(found, `${name} ${account ?? ""}`).toHaveLength(1)
    return found[0]!
  }
  const failed = (): Array<string> =>
    (json.checks as Array<Check>).filter((c) => c.status === "fail").map((c) => `${c.account ?? "-"} ${c.name}`)
  return { ...result, dir, config, json, line, failed }
}

const orgConfig = (emu: Emulator, extra: Parameters<typeof configFor>[2] = {}) => ({
  accounts: { organization: { roleName: emu.organization!.roleName } },
  ...extra
})

describe("iam-ocsf check", () => {
  it("a config that works: every line green (✓), exit 0, and nothing collected, written or generated", async () => {
    const emu = await organization()
    webhook = await startWebhook()
    const dir = tempDir()
    const events = path.join(dir, "not-yet", "events.ndjson")
    const config = writeJson(path.join(dir, "config.json"), configFor(emu, dir, {
      ...orgConfig(emu),
      collection: { strategy: "auto" },
      ocsf: { profile: "strict" },
      sinks: [
        { type: "file", path: events },
        { type: "http", url: webhook.url, healthcheck: webhook.url.replace("/ingest", "/health") },
        { type: "kafka", brokers: [kafkaBootstrap()], topic: testTopics.check.name, mockCompatible: true },
        { type: "stdout" }
      ]
    }))
    emu.resetCounters()
    const result = await runCli(["check", "--config", config])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const lines = result.stdout.trimEnd().split("\n")
    const checks = lines.slice(0, -2)
    // 1 credentials, 1 organization, per account: its role (members), strategy, ListUsers,
    // GetAccountSummary, GetAccountAuthorizationDetails, Get/GenerateCredentialReport, the 7
    // per-user calls and the strict profile's 2 identity calls bulk makes; 4 sinks and the dead-letter file.
    expect(checks).toHaveLength(2 + 3 * 15 + 2 + 5)
    for (const line of checks) expect(line).toMatch(/^✓ /)
    expect(lines.at(-1)).toBe(`${checks.length} passed, 0 warnings, 0 failed: ready to run`)
    expect(result.stdout).toMatch(/✓\s+credentials\s+arn:aws:iam::123456789012:user\/\S+ \(account 123456789012\)/)
    expect(result.stdout).toMatch(/✓\s+organization\s+3 accounts to read in o-\w+: 123456789012, 200000000001, 200000000002/)
    for (const id of ["200000000001", "200000000002"]) {
      expect(result.stdout).toMatch(new RegExp(`✓ ${id}\\s+sts:AssumeRole\\s+assumed arn:aws:iam::${id}:role/`))
      expect(result.stdout).toMatch(new RegExp(`✓ ${id}\\s+strategy\\s+auto collects in bulk here`))
    }
    expect(result.stdout).toMatch(/✓\s+sink kafka\s+kafka: 1 broker answered; topic iam-ocsf-check has 2 partitions/)
    expect(result.stdout).toMatch(/✓\s+sink http\s+http: TCP connection to 127\.0\.0\.1:\d+; GET http:\/\/127\.0\.0\.1:\d+\/health answered 200/)
    // Logs only on stderr: no check line there.
    expect(result.stderr).not.toContain("✓")

    // Nothing collected: one minimal read per action and account, no report generated, no event sent.
    for (const account of emu.organization!.accounts) {
      const calls = account.counters().byAction
      expect(calls["ListUsers"]?.ok, account.id).toBe(1)
      expect(calls["ListMFADevices"]?.ok, account.id).toBe(1)
      expect(calls["GenerateCredentialReport"], account.id).toBeUndefined()
    }
    expect(webhook.received).toEqual([])
    // The sink's folder was made to try it, and removed.
    expect(fs.existsSync(path.dirname(events))).toBe(false)
    expect(fs.existsSync(path.join(dir, "dead-letter.ndjson"))).toBe(false)
  })

  it("an IAM action denied in one account: that account's line is red, naming the action and the role, at once (never retried)", async () => {
    const emu = await organization({ perAccount: { "200000000001": { faults: { ListMFADevices: { accessDenied: true } } } } })
    const result = await check(emu, orgConfig(emu, { collection: { strategy: "per-user" } }))
    expect(result.code).toBe(1)
    expect(result.failed()).toEqual(["200000000001 iam:ListMFADevices"])
    const denied = result.line("iam:ListMFADevices", "200000000001")
    expect(denied.detail).toMatch(/^denied: AccessDenied \(AccessDenied\): /)
    expect(denied.fix).toMatch(/^allow iam:ListMFADevices to arn:aws:iam::200000000001:role\/iam-ocsf-reader/)
    expect(result.line("iam:ListMFADevices", "200000000002").status).toBe("ok")
    expect(result.line("iam:ListMFADevices", MANAGEMENT_ACCOUNT_ID).status).toBe("ok")
    // AccessDenied is an answer, not a failure to retry.
    expect(emu.organization!.account("200000000001").counters().byAction["ListMFADevices"]).toMatchObject({ denied: 1, ok: 0 })
  })

  it("the strict profiles' identity calls: GetUser per-user, certificates and service-specific credentials in both, SSH keys where listed", async () => {
    const emu = await organization({
      perAccount: {
        "200000000001": { faults: { GetUser: { accessDenied: true }, ListServiceSpecificCredentials: { accessDenied: true } } },
        "200000000002": { faults: { ListSSHPublicKeys: { accessDenied: true } } }
      }
    })
    const perUser = await check(emu, orgConfig(emu, { collection: { strategy: "per-user" }, ocsf: { profile: "strict" } }))
    expect(perUser.code).toBe(1)
    expect(perUser.failed().sort()).toEqual([
      "200000000001 iam:GetUser",
      "200000000001 iam:ListServiceSpecificCredentials",
      "200000000002 iam:ListSSHPublicKeys"
    ])
    expect(perUser.line("iam:ListSigningCertificates", "200000000001").status).toBe("ok")
    expect(perUser.line("iam:GetUser", "200000000002").status).toBe("ok")
    expect(perUser.line("iam:ListSSHPublicKeys", "200000000001").status).toBe("ok")
    // Bulk reads the boundary from its pages (no GetUser), but lists every user's service-specific
    // credentials; SSH keys only when collection.sshPublicKeys says "always".
    const bulk = await check(emu, orgConfig(emu, { collection: { strategy: "bulk" }, ocsf: { profile: "strict" } }))
    expect(bulk.failed()).toEqual(["200000000001 iam:ListServiceSpecificCredentials"])
    expect(bulk.json.checks.filter((c: Check) => c.name === "iam:GetUser" || c.name === "iam:ListSSHPublicKeys")).toEqual([])
    const always = await check(emu, orgConfig(emu, { collection: { strategy: "bulk", sshPublicKeys: "always" }, ocsf: { profile: "strict" } }))
    expect(always.failed().sort()).toEqual(["200000000001 iam:ListServiceSpecificCredentials", "200000000002 iam:ListSSHPublicKeys"])
    const never = await check(emu, orgConfig(emu, { collection: { strategy: "per-user", sshPublicKeys: "never" }, ocsf: { profile: "strict" } }))
    expect(never.json.checks.filter((c: Check) => c.name === "iam:ListSSHPublicKeys")).toEqual([])
    // The spec profile makes none of them.
    const spec = await check(emu, orgConfig(emu, { collection: { strategy: "per-user" } }))
    expect(spec.code).toBe(0)
    expect(spec.json.checks.filter((c: Check) => c.name === "iam:GetUser")).toEqual([])
  })

  it("auto where a bulk action is denied: a warning, and it says auto falls back to per-user (exit 0); bulk there is red", async () => {
    const emu = await organization({}, { faults: { GetAccountAuthorizationDetails: { accessDenied: true } } })
    const auto = await check(emu, orgConfig(emu, { collection: { strategy: "auto" } }))
    expect(auto.code).toBe(0)
    expect(auto.line("iam:GetAccountAuthorizationDetails", MANAGEMENT_ACCOUNT_ID)).toMatchObject({
      status: "warn",
      detail: expect.stringMatching(/^denied: .*auto collects per user instead/)
    })
    expect(auto.line("strategy", MANAGEMENT_ACCOUNT_ID).detail).toBe(
      "auto falls back to per-user here: iam:GetAccountAuthorizationDetails denied"
    )
    expect(auto.line("strategy", "200000000001").detail).toMatch(/^auto collects in bulk here/)
    expect(auto.json.summary).toMatchObject({ fail: 0, warn: 1 })

    const bulk = await check(emu, orgConfig(emu, { collection: { strategy: "bulk" } }))
    expect(bulk.code).toBe(1)
    expect(bulk.failed()).toEqual([`${MANAGEMENT_ACCOUNT_ID} iam:GetAccountAuthorizationDetails`])
  })

  it("a role that cannot be assumed: red for that account, whose IAM actions are not tried", async () => {
    const emu = await organization({ perAccount: { "200000000002": { assumeRoleDenied: true } } })
    const result = await check(emu, orgConfig(emu))
    expect(result.code).toBe(1)
    expect(result.failed()).toEqual(["200000000002 sts:AssumeRole"])
    const line = result.line("sts:AssumeRole", "200000000002")
    expect(line.detail).toMatch(/^arn:aws:iam::200000000002:role\/iam-ocsf-reader could not be assumed: AccessDenied/)
    expect(line.fix).toMatch(/trust policy lets arn:aws:iam::123456789012:user\/\S+ assume it/)
    expect((result.json.checks as Array<Check>).filter((c) => c.account === "200000000002")).toHaveLength(1)
    expect(emu.organization!.account("200000000002").counters().total).toBe(0)
    expect(result.line("sts:AssumeRole", "200000000001").status).toBe("ok")
  })

  it("Organizations denied: the organization line is red and names the permissions discovery needs; no account is tried", async () => {
    const emu = await organization({ organizationsFaults: { accessDenied: true } })
    const result = await check(emu, orgConfig(emu))
    expect(result.code).toBe(1)
    expect(result.failed()).toEqual(["- organization"])
    expect(result.line("organization").fix).toMatch(/^allow organizations:DescribeOrganization, organizations:ListAccounts to arn:aws:iam::/)
    expect(result.line("credentials").status).toBe("ok")
    for (const account of emu.organization!.accounts) expect(account.counters().total).toBe(0)
    // The sinks are still checked.
    expect(result.line("dead-letter file").status).toBe("ok")
  })

  it("an unreachable webhook (nothing listens on its port) and an unhealthy one (its healthcheck answers 503)", async () => {
    const emu = await organization({ accounts: 1 })
    const closed = await freePort()
    webhook = await startWebhook(undefined, { healthStatus: 503 })
    const result = await check(emu, {
      sinks: [
        { type: "http", name: "down", url: `http://127.0.0.1:${closed}/ingest` },
        { type: "http", name: "sick", url: webhook.url, healthcheck: `http://127.0.0.1:${webhook.port}/health` }
      ]
    })
    expect(result.code).toBe(1)
    expect(result.failed()).toEqual(["- sink down", "- sink sick"])
    expect(result.line("sink down").detail).toBe(
      `http: http://127.0.0.1:${closed} cannot be reached: connect ECONNREFUSED 127.0.0.1:${closed}`
    )
    expect(result.line("sink down").fix).toMatch(/^check sinks\[0\]\.url/)
    expect(result.line("sink sick").detail).toMatch(
      /but the healthcheck failed: GET http:\/\/127\.0\.0\.1:\d+\/health answered 503: unhealthy: index queue full$/
    )
    expect(webhook.received).toEqual([])
  })

  it("Kafka: a broker that is not there (a closed port), and a topic the brokers do not have", async () => {
    const emu = await organization({ accounts: 1 })
    const closed = await freePort()
    const result = await check(emu, {
      sinks: [
        { type: "kafka", name: "nobroker", brokers: [`127.0.0.1:${closed}`], topic: testTopics.check.name, connectTimeout: "2s" },
        { type: "kafka", name: "notopic", brokers: [kafkaBootstrap()], topic: "iam-ocsf-check-no-such-topic" }
      ]
    })
    expect(result.code).toBe(1)
    expect(result.failed()).toEqual(["- sink nobroker", "- sink notopic"])
    expect(result.line("sink nobroker").detail).toMatch(new RegExp(`^kafka: no broker of 127\\.0\\.0\\.1:${closed} answered a metadata request: `))
    expect(result.line("sink notopic")).toMatchObject({
      detail: "kafka: the brokers answered, but topic iam-ocsf-check-no-such-topic does not exist",
      fix: "create topic iam-ocsf-check-no-such-topic (the sink never creates topics), or correct sinks[1].topic"
    })
  })

  it("folders that cannot take a file (a path under a regular file), and a state store that is not one", async () => {
    const emu = await organization({ accounts: 1 })
    const dir = tempDir()
    const regular = path.join(dir, "a-file")
    fs.writeFileSync(regular, "not a folder")
    const notAStore = path.join(dir, "state.sqlite")
    fs.writeFileSync(notAStore, "x".repeat(4096))
    const result = await check(emu, {
      ocsf: { profile: "strict", emit: "both" },
      state: { path: notAStore },
      sinks: [{ type: "file", path: path.join(regular, "sub", "events.ndjson") }],
      deadLetter: { path: path.join(regular, "dead-letter.ndjson") }
    })
    expect(result.code).toBe(1)
    expect(result.failed()).toEqual(["- sink file", "- dead-letter file", "- state store"])
    expect(result.line("sink file").detail).toMatch(/cannot be written: ENOTDIR/)
    expect(result.line("sink file").fix).toMatch(/or set sinks\[0\]\.path to a writable place$/)
    expect(result.line("dead-letter file").fix).toMatch(/or set deadLetter\.path to a writable place$/)
    expect(result.line("state store").detail).toMatch(/not an SQLite file|not a database/)
    expect(fs.readFileSync(notAStore, "utf8")).toBe("x".repeat(4096))
  })

  it("--format json: one object on stdout, { ok, summary, checks }, a fix exactly where a check is not green", async () => {
    const emu = await organization({ accounts: 2, perAccount: { "200000000001": { faults: { ListUserTags: { accessDenied: true } } } } })
    const result = await check(emu, orgConfig(emu, { collection: { strategy: "per-user" } }))
    expect(result.code).toBe(1)
    expect(result.stdout.trimEnd().split("\n")).toHaveLength(1)
    const json = result.json
    expect(Object.keys(json)).toEqual(["ok", "summary", "checks"])
    expect(json.ok).toBe(false)
    const checks = json.checks as Array<Check>
    expect(json.summary).toEqual({
      ok: checks.filter((c) => c.status === "ok").length,
      warn: checks.filter((c) => c.status === "warn").length,
      fail: 1
    })
    for (const c of checks) {
      expect(["name", "account", "status", "detail", "fix"]).toEqual(expect.arrayContaining(Object.keys(c)))
      expect(["ok", "warn", "fail"]).toContain(c.status)
      expect(typeof c.detail).toBe("string")
      expect(c.fix === undefined).toBe(c.status === "ok")
    }
    expect(checks.map((c) => c.name).slice(0, 3)).toEqual(["credentials", "organization", "strategy"])
  })

  it("exit code 2 for an invalid config or command line, before any check", async () => {
    const emu = await organization({ accounts: 1 })
    const dir = tempDir()
    const bad = writeJson(path.join(dir, "config.json"), { sinks: [{ type: "http", url: "http://127.0.0.1:8080/x", healthcheck: "ftp://x" }] })
    const invalid = await runCli(["check", "--config", bad])
    expect(invalid.code).toBe(2)
    expect(invalid.stderr).toMatch(/sinks\[0\]\.healthcheck: expected an http\(s\) URL like "https:\/\/siem\.example\.com\/health"; found "ftp:\/\/x"/)
    expect(invalid.stdout).toBe("")
    const good = writeJson(path.join(dir, "good.json"), configFor(emu, dir))
    const format = await runCli(["check", "--config", good, "--format", "yaml"])
    expect(format.code).toBe(2)
    expect(emu.counters().total).toBe(0)
  })
})

describe("run's start-up checks", () => {
  const failing = async () => {
    const emu = await organization({ accounts: 2, usersPerAccount: 5 })
    const closed = await freePort()
    const dir = tempDir()
    const events = path.join(dir, "events.ndjson")
    const config = writeJson(path.join(dir, "config.json"), configFor(emu, dir, {
      ...orgConfig(emu),
      schedule: { interval: "1s" },
      sinks: [{ type: "file", path: events }, { type: "http", name: "siem", url: `http://127.0.0.1:${closed}/ingest` }]
    }))
    emu.resetCounters()
    return { emu, dir, events, config }
  }

  it("--require-healthy with a red check: --once and the daemon refuse to start (exit 1), and nothing is collected", async () => {
    const { emu, dir, events, config } = await failing()
    for (const args of [["--once"], []]) {
      const result = await runCli(["run", "--config", config, ...args, "--require-healthy"])
      expect(result.code, args.join(" ")).toBe(1)
      expect(result.stderr).toMatch(/start-up check failed: sink siem: http: http:\/\/127\.0\.0\.1:\d+ cannot be reached: connect ECONNREFUSED/)
      expect(result.stderr).toMatch(/not starting \(--require-healthy\): 1 start-up check failed/)
      expect(result.stderr).not.toMatch(/collection started|daemon started/)
      expect(result.stdout).toBe("")
    }
    // No sink was opened, no user was read beyond the checks' one ListUsers item per account and run.
    expect(fs.existsSync(events)).toBe(false)
    expect(fs.existsSync(path.join(dir, "dead-letter.ndjson"))).toBe(false)
    for (const account of emu.organization!.accounts) {
      expect(account.counters().byAction["ListUsers"]?.ok, account.id).toBe(2)
      expect(account.counters().byAction["ListAccessKeys"]?.ok, account.id).toBe(2)
    }
  })

  it("without --require-healthy: the red check is logged as a warning with its fix, and the run goes on", async () => {
    const { emu, events, config } = await failing()
    const result = await runCli(["run", "--config", config, "--once"])
    expect(result.code).toBe(3)
    const warning = result.stderr.split("\n").filter((l) => l.includes("start-up check failed")).map((l) => JSON.parse(l))
    expect(warning).toHaveLength(1)
    expect(warning[0]).toMatchObject({ level: "warn", check: "sink siem" })
    expect(warning[0].message).toMatch(/; fix: check sinks\[1\]\.url/)
    expect(result.stderr).toMatch(/start-up checks: \d+ passed, 0 warnings, 1 failed/)
    // Every user of every account reached the file sink.
    const users = emu.organization!.accounts.reduce((n, a) => n + [...a.account.users()].length, 0)
    expect(fs.readFileSync(events, "utf8").trimEnd().split("\n")).toHaveLength(users)
  })
})
