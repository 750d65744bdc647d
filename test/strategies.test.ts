/**
 * The collection strategies: per-user and bulk give the same events for the same account, what bulk
 * cannot tell is collected per user, the credential report is reused or regenerated and read right,
 * `auto` falls back; and the `collection` section.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { collect } from "../src/collect/strategy.ts"
import { Iam, type IamSettings } from "../src/iam/Iam.ts"
import { reportReader, unpackRow } from "../src/collect/credentialReport.ts"
import { credentialReportAge } from "../src/telemetry/metrics.ts"
import { type ConfigInput, defaultConfig } from "../src/run/defaultConfig.ts"
import { ConfigError } from "../src/config/index.ts"
import { type Counters, type Emulator, emulatorScoped, type EmulatorOptions } from "../emulator/index.ts"
import { ReportLines } from "../src/iam/credentialReportBody.ts"
import { type OcsfProfile, OcsfProfiles } from "../src/ocsf/index.ts"
import { RISK_RULES } from "../src/identity/risk.ts"
import { ocsfValidator, schemaErrors } from "./ocsf-schemas.ts"
import type { StrictOptions } from "./expectedOcsf.ts"
import { configFor, expectedEvents as allExpectedEvents, readLines, readNdjson, runInProcess, sortBy, tempDir } from "./support.ts"

const HOUR = 3_600_000

/** `time` is when the run observed the user (strict profiles): the one field two runs may not share. */
const withoutTime = ({ time: _, ...event }: Record<string, unknown>) => event

/** One run against the emulator; its events (sorted by user, without `time`) and the emulator's counters. */
const run = (emulator: Emulator, collection: NonNullable<ConfigInput["collection"]>, profile: OcsfProfile = "spec") =>
  Effect.gen(function*() {
    emulator.resetCounters()
    const dir = tempDir()
    const summary = yield* runInProcess(configFor(emulator, dir, { collection, ocsf: { profile } }))
    return {
      summary,
      events: sortBy(readNdjson(path.join(dir, "events.ndjson")), (e) => e.user.uid).map(withoutTime),
      deadLetters: readLines(path.join(dir, "dead-letter.ndjson")),
      counters: emulator.counters()
    }
  })

/** A bulk event as the per-user strategy gives it: no call but the credential report says when the password was last changed. */
const withoutPasswordChange = (event: any) => {
  if (event.unmapped?.user?.password_last_changed_time === undefined) return event
  const { password_last_changed_time: _, ...user } = event.unmapped.user
  return { ...event, unmapped: { ...event.unmapped, user } }
}

/** A per-user event as bulk gives it by default: SSH public keys not listed (`collection.sshPublicKeys`). */
const withoutSshKeys = (event: any) => {
  if (event.unmapped?.user?.ssh_public_keys === undefined) return event
  const { ssh_public_keys: _, ...user } = event.unmapped.user
  const credentials = event.user.programmatic_credentials.filter((c: any) => c.type !== "SSH Public Key")
  return { ...event, user: { ...event.user, programmatic_credentials: credentials }, unmapped: { ...event.unmapped, user } }
}

/** Events as their consumers read them: JSON text, key order and list order included. */
const texts = (events: ReadonlyArray<unknown>) => events.map((e) => JSON.stringify(e))

/** What a complete, fault-free collection must produce, without `time`. */
const expectedEvents = (emulator: Emulator, profile: OcsfProfile, options: StrictOptions = {}) =>
  allExpectedEvents(emulator, profile, options).map(withoutTime)

const calls = (counters: Counters, action: string) => {
  const c = counters.byAction[action]
  return c === undefined ? 0 : Object.values(c).reduce((a, b) => a + b, 0)
}

/** The `Iam` service for the emulator, with the shipped rate control. */
const iamSettings = (emulator: Emulator): IamSettings => ({
  region: "us-east-1",
  endpoint: emulator.url,
  credentials: { accessKeyId: "AKIATESTTESTTESTTEST", secretAccessKey: Redacted.make("test-secret") },
  callTimeout: Duration.seconds(5),
  retry: { maxAttempts: 8, baseDelay: Duration.millis(1), maxDelay: Duration.millis(10) },
  maxInFlight: 8 * 7,
  maxSockets: 64
})

const withEmulator = <A, E, R>(options: EmulatorOptions, f: (emulator: Emulator) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(emulatorScoped(options), f))

describe("collection strategies", () => {
  it.live("the same 1,000-user account gives identical events through per-user and bulk, in every profile", () =>
    // The emulator's GetAccountAuthorizationDetails lists each user's groups, policies and tags in
    // the reverse order of the per-user calls: the events must not depend on either.
    withEmulator({ users: 998 }, (emulator) =>
      Effect.gen(function*() {
        const users = [...emulator.account.users()]
        for (const profile of OcsfProfiles) {
          const perUser = yield* run(emulator, { strategy: "per-user" }, profile)
          const bulk = yield* run(emulator, { strategy: "bulk" }, profile)
          assert.strictEqual(bulk.events.length, 1_000)
          // Every field alike, but the password's last change, which only the credential report says
          // (bulk), and SSH public keys, which bulk lists only when asked (below).
          assert.deepStrictEqual(texts(bulk.events.map(withoutPasswordChange)), texts(perUser.events.map(withoutSshKeys)), profile)
          assert.deepStrictEqual(texts(perUser.events), texts(expectedEvents(emulator, profile)), profile)
          assert.deepStrictEqual(texts(bulk.events), texts(expectedEvents(emulator, profile, { bulk: true })), profile)
          assert.isTrue(bulk.summary.complete && perUser.summary.complete)
          // Bulk reads the account in a handful of calls and none of the per-user lists...
          for (const action of ["ListMFADevices", "GetLoginProfile", "ListUserTags", "ListGroupsForUser"]) {
            assert.strictEqual(calls(bulk.counters, action), 0, action)
            assert.strictEqual(calls(perUser.counters, action), 1_000, action)
          }
          // ...but lists keys for the strict profiles, whose events carry key ids: for the users the
          // credential report shows with a key (active or not), and only those.
          const withKeys = users.filter((u) => u.AccessKeys.length > 0).length
          assert.isBelow(withKeys, 900)
          assert.strictEqual(calls(bulk.counters, "ListAccessKeys"), profile === "spec" ? 0 : withKeys)
          // 1,000 users a page; 1 group page; the strict profiles' 1 page of the account's managed policies
          assert.strictEqual(calls(bulk.counters, "GetAccountAuthorizationDetails"), profile === "spec" ? 2 : 3)
          if (profile === "spec") assert.isAtMost(bulk.counters.total, 12, JSON.stringify(bulk.counters.byAction))
          if (profile !== "spec") {
            // Bulk's identity comes from the account-wide calls and the report, with signing
            // certificates listed where the report shows one: no other per-user, per-group or per-policy call.
            for (const action of ["GetUser", "GetAccessKeyLastUsed", "GetUserPolicy", "ListGroupPolicies", "ListAttachedGroupPolicies", "GetGroupPolicy", "GetPolicy", "GetPolicyVersion"]) {
              assert.strictEqual(calls(bulk.counters, action), 0, action)
            }
            assert.strictEqual(calls(bulk.counters, "ListServiceSpecificCredentials"), 1) // AllUsers, one page
            assert.strictEqual(calls(bulk.counters, "ListSigningCertificates"), users.filter((u) => u.SigningCertificates.length > 0).length)
            // Per user: a call per key and per inline policy; each group's and customer policy's once a run.
            const customer = new Set(users.flatMap((u) => [
              ...u.AttachedPolicies.map((p) => p.PolicyArn),
              ...u.Groups.flatMap((g) => g.AttachedPolicies.map((p) => p.PolicyArn)),
              ...(u.PermissionsBoundary === undefined ? [] : [u.PermissionsBoundary])
            ].filter((arn) => !arn.startsWith("arn:aws:iam::aws:"))))
            const groups = new Set(users.flatMap((u) => u.Groups.map((g) => g.GroupName)))
            assert.strictEqual(calls(perUser.counters, "GetUser"), 1_000)
            assert.strictEqual(calls(perUser.counters, "ListSigningCertificates"), 1_000)
            assert.strictEqual(calls(perUser.counters, "ListServiceSpecificCredentials"), 1_000)
            assert.strictEqual(calls(perUser.counters, "ListSSHPublicKeys"), 1_000)
            assert.strictEqual(calls(bulk.counters, "ListSSHPublicKeys"), 0)
            // Asked to, bulk lists every user's SSH keys (one call a user) and then agrees on every field.
            const withSsh = yield* run(emulator, { strategy: "bulk", sshPublicKeys: "always" }, profile)
            assert.strictEqual(calls(withSsh.counters, "ListSSHPublicKeys"), 1_000)
            assert.deepStrictEqual(texts(withSsh.events.map(withoutPasswordChange)), texts(perUser.events), profile)
            assert.deepStrictEqual(texts(withSsh.events), texts(expectedEvents(emulator, profile, { bulk: true, sshPublicKeys: true })), profile)
            assert.strictEqual(calls(perUser.counters, "GetAccessKeyLastUsed"), users.reduce((n, u) => n + u.AccessKeys.length, 0))
            assert.strictEqual(calls(perUser.counters, "GetUserPolicy"), users.reduce((n, u) => n + u.InlinePolicyNames.length, 0))
            assert.strictEqual(calls(perUser.counters, "ListGroupPolicies"), groups.size)
            assert.strictEqual(calls(perUser.counters, "ListAttachedGroupPolicies"), groups.size)
            assert.strictEqual(calls(perUser.counters, "GetPolicy"), customer.size)
            assert.strictEqual(calls(perUser.counters, "GetPolicyVersion"), customer.size)
            // Every one of the 1,000 events is valid OCSF 1.6.0, in the profile's schemas.
            const variants = profile === "strict" ? (["core", "core.lint"] as const) : (["cloud", "cloud.lint"] as const)
            for (const variant of variants) {
              const validate = ocsfValidator("user_inventory", variant)
              for (const event of [...bulk.events, ...perUser.events] as Array<any>) {
                assert.deepStrictEqual(schemaErrors(validate, { ...event, time: Date.now() }), [], `${variant} ${event.user.uid}`)
              }
            }
            // ...and the account is varied enough to say so: every kind of credential, admins made by
            // each way and taken away by each, every risk level and every rule.
            const seen = (f: (e: any) => boolean) => bulk.events.filter(f).length
            for (const type of ["AWS Access Key", "X.509 Signing Certificate", "Service-Specific Credential"]) {
              assert.isAbove(seen((e) => e.user.programmatic_credentials.some((c: any) => c.type === type)), 0, type)
            }
            assert.isAbove(perUser.events.filter((e: any) => e.user.programmatic_credentials.some((c: any) => c.type === "SSH Public Key")).length, 0)
            assert.isAbove(perUser.events.filter((e: any) => e.unmapped.user.ssh_public_keys.some((k: any) => k.status === "Inactive")).length, 0)
            assert.strictEqual(seen((e) => e.unmapped.user.ssh_public_keys !== undefined), 0)
            assert.isAbove(seen((e) => e.user.programmatic_credentials.some((c: any) => c.last_used_time !== undefined)), 0)
            assert.isAbove(seen((e) => e.user.type_id === 2 && e.unmapped.user.admin_policies.some((p: any) => p.group !== undefined)), 0)
            assert.isAbove(seen((e) => e.user.type_id === 2 && e.unmapped.user.admin_policies.some((p: any) => p.group === undefined && p.arn === undefined)), 0)
            assert.isAbove(seen((e) => e.user.type_id === 1 && e.unmapped.user.admin_policies.length > 0 && e.unmapped.user.permissions_boundary?.allows_all === false), 0)
            assert.isAbove(seen((e) => e.user.type_id === 2 && e.unmapped.user.permissions_boundary?.allows_all === true), 0)
            assert.isAbove(seen((e) => e.user.type_id === 1 && e.unmapped.user.admin_policies.length > 0 && e.unmapped.user.inline_policy_names.includes("QuarantineDenyAll")), 0)
            assert.isAbove(seen((e) => e.user.groups.some((g: any) => g.privileges.length > 0)), 0)
            for (const level of [0, 1, 2, 3, 4]) assert.isAbove(seen((e) => e.user.risk_level_id === level), 0, `risk level ${level}`)
            for (const rule of RISK_RULES) assert.isAbove(seen((e) => e.unmapped.user.risk_rules.includes(rule.id)), 0, rule.id)
          }
        }
      })), 600_000)

  it.live("strict: a policy document that is not a policy fails its user, never a guessed verdict, in both strategies", () =>
    withEmulator({ users: 18 }, (emulator) =>
      Effect.gen(function*() {
        const victim = [...emulator.account.users()][5]!
        emulator.account.replaceUser(victim.UserName, {
          ...victim,
          InlinePolicyNames: [...victim.InlinePolicyNames, "NotAPolicy"],
          InlinePolicyDocuments: { ...victim.InlinePolicyDocuments, NotAPolicy: JSON.stringify({ Version: "2012-10-17" }) }
        })
        for (const strategy of ["per-user", "bulk"] as const) {
          const result = yield* run(emulator, { strategy }, "strict")
          assert.strictEqual(result.events.length, 19, strategy)
          assert.isFalse(result.events.some((e: any) => e.user.name === victim.UserName), strategy)
          assert.strictEqual(result.deadLetters.length, 1, strategy)
          assert.match(result.deadLetters[0]!, /BadPolicyDocument/, strategy)
          assert.match(result.deadLetters[0]!, /inline policy NotAPolicy of user .*: the policy document has no Statement/, strategy)
        }
      })))

  it.live("a user missing from the credential report is collected by the per-user calls, not guessed", () =>
    withEmulator({ users: 20 }, (emulator) =>
      Effect.gen(function*() {
        const late = [...emulator.account.userNames()].slice(5, 7)
        emulator.setCredentialReport({ omitUsers: late })
        const bulk = yield* run(emulator, { strategy: "bulk" })
        assert.deepStrictEqual(bulk.events, expectedEvents(emulator, "spec"))
        assert.strictEqual(calls(bulk.counters, "ListMFADevices"), 2)
        assert.strictEqual(calls(bulk.counters, "GetLoginProfile"), 2)
      })))

  it.live("strict profiles in bulk: each user goes down the stream as soon as its own keys are listed", () =>
    withEmulator({ users: 298, faults: { ListAccessKeys: { latencyMs: 20 } } }, (emulator) =>
      Effect.gen(function*() {
        const keyed = new Set([...emulator.account.users()].filter((u) => u.AccessKeys.length > 0).map((u) => u.UserName))
        // For each user, in the order they come out: how many key listings AWS had answered by then.
        const listedBefore = new Map<string, number>()
        yield* collect({ strategy: "bulk", accessKeyIds: true, concurrency: 8, pageSize: 100, maxCredentialReportAge: Duration.hours(4) }).pipe(
          Stream.runForEach((o) =>
            Effect.sync(() => {
              const name = o._tag === "Collected" ? o.user.UserName : o.userName
              listedBefore.set(name, emulator.counters().byAction["ListAccessKeys"]?.ok ?? 0)
            })
          ),
          Effect.provide(Iam.layer(iamSettings(emulator)))
        )
        assert.strictEqual(listedBefore.size, 300)
        assert.strictEqual(calls(emulator.counters(), "ListAccessKeys"), keyed.size)
        // The page holds all 300 users. Those without a key wait for no listing, and the first
        // user with keys comes out long before the page's last listing is answered.
        const without = [...listedBefore].filter(([name]) => !keyed.has(name)).map(([, listed]) => listed)
        assert.strictEqual(without.length, 300 - keyed.size)
        assert.isBelow(Math.max(...without), keyed.size / 2)
        const firstKeyed = [...listedBefore].find(([name]) => keyed.has(name))!
        assert.isBelow(firstKeyed[1], keyed.size / 2)
      })))

  it.live("a fresh credential report is reused; a stale one is regenerated", () => {
    // The report's age is an hour plus however long the test has run (GeneratedTime has whole seconds).
    const since = (t: number) => (Date.now() - t) / 1000 + 1
    const started = Date.now()
    return withEmulator({ users: 50, credentialReport: { ageMs: HOUR } }, (emulator) =>
      Effect.gen(function*() {
        const fresh = yield* run(emulator, { strategy: "bulk" })
        assert.strictEqual(calls(fresh.counters, "GenerateCredentialReport"), 0)
        assert.strictEqual(fresh.counters.byAction["GetCredentialReport"]!.ok, 1)
        const reusedAge = (yield* Metric.value(credentialReportAge)).value
        assert.isTrue(reusedAge >= 3600 && reusedAge <= 3600 + since(started), `age ${reusedAge}`)

        emulator.setCredentialReport({ ageMs: 5 * HOUR })
        const regenerated = Date.now()
        const stale = yield* run(emulator, { strategy: "bulk" })
        assert.isAtLeast(stale.counters.byAction["GenerateCredentialReport"]!.ok, 1)
        assert.isAtMost((yield* Metric.value(credentialReportAge)).value, since(regenerated))
        assert.deepStrictEqual(stale.events, fresh.events)
      }))
  })

  it.live("AWS keeps a report younger than 4 hours: asking for a fresher one gets that one, used and said", () =>
    withEmulator({ users: 5, credentialReport: { ageMs: HOUR } }, (emulator) =>
      Effect.gen(function*() {
        const result = yield* run(emulator, { strategy: "bulk", maxCredentialReportAge: "30m" })
        assert.strictEqual(result.counters.byAction["GenerateCredentialReport"]!.ok, 1) // answered COMPLETE
        assert.isAtLeast((yield* Metric.value(credentialReportAge)).value, 3600)
        assert.isTrue(result.summary.complete)
      })))

  it.live("a missing or expired report is generated, waiting out LimitExceeded and ReportInProgress", () =>
    withEmulator({ users: 30, credentialReport: { ageMs: HOUR, expired: true, limitExceeded: 2, generationMs: 300 } }, (emulator) =>
      Effect.gen(function*() {
        const result = yield* run(emulator, { strategy: "bulk" })
        assert.isTrue(result.summary.complete)
        assert.deepStrictEqual(result.events, expectedEvents(emulator, "spec"))
        const generate = result.counters.byAction["GenerateCredentialReport"]!
        assert.strictEqual(generate.rejected, 2) // LimitExceeded, 409
        assert.strictEqual(generate.ok, 1) // STARTED
        // ReportExpired (410) first, then ReportInProgress (404) while it is generated.
        assert.isAtLeast(result.counters.byAction["GetCredentialReport"]!.notFound, 2)
        assert.strictEqual(result.counters.byAction["GetCredentialReport"]!.ok, 1)
      })))

  it.live("auto falls back to per-user for the whole run when GetAccountAuthorizationDetails is denied", () =>
    withEmulator({ users: 100, faults: { GetAccountAuthorizationDetails: { accessDenied: true } } }, (emulator) =>
      Effect.gen(function*() {
        const result = yield* run(emulator, { strategy: "auto" })
        assert.isTrue(result.summary.complete)
        assert.deepStrictEqual(result.deadLetters, [])
        assert.deepStrictEqual(result.events, expectedEvents(emulator, "spec"))
        assert.strictEqual(result.counters.byAction["GetAccountAuthorizationDetails"]!.denied, 1)
        // Denied before any report was asked for, and every user collected by the per-user calls.
        assert.strictEqual(calls(result.counters, "GenerateCredentialReport"), 0)
        assert.strictEqual(calls(result.counters, "ListMFADevices"), 102)
      })))

  it.live("auto falls back when the credential report is denied; bulk does not, and fails the run", () =>
    withEmulator({ users: 10, faults: { GenerateCredentialReport: { accessDenied: true } } }, (emulator) =>
      Effect.gen(function*() {
        const auto = yield* run(emulator, { strategy: "auto" })
        assert.isTrue(auto.summary.complete)
        assert.deepStrictEqual(auto.events, expectedEvents(emulator, "spec"))
        const error = yield* run(emulator, { strategy: "bulk" }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "IamError")
        assert.deepInclude(error, { action: "GenerateCredentialReport" })
      })))
})

describe("reading the credential report", () => {
  const read = (csv: string) =>
    Effect.gen(function*() {
      const reader = reportReader()
      for (const line of csv.split(/\r?\n/)) reader.line(line)
      const rows = yield* reader.done
      return { count: rows.size, rows: new Map([...rows].map(([name, packed]) => [name, unpackRow(packed)])) }
    })
  const header = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed," +
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date," +
    "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated," +
    "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active," +
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"

  it.effect("maps N/A, no_information and not_supported to null, never to false; skips the root account", () =>
    Effect.gen(function*() {
      const { count, rows } = yield* read([
        header,
        "<root_account>,arn:aws:iam::123456789012:root,2015-01-01T00:00:00+00:00,not_supported,no_information,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        "alice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,true,2025-01-01T00:00:00+00:00,2020-01-01T00:00:00+00:00,N/A,false,true,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,2021-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
        "odd,arn:aws:iam::123456789012:user/odd,2020-01-01T00:00:00+00:00,not_supported,N/A,N/A,N/A,no_information,N/A,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ""
      ].join("\r\n"))
      assert.strictEqual(count, 2)
      assert.deepStrictEqual(rows.get("alice"), { passwordEnabled: true, mfaActive: false, activeKeys: 1, hasKeys: true })
      assert.deepStrictEqual(rows.get("odd"), { passwordEnabled: null, mfaActive: null, activeKeys: null, hasKeys: null })
      assert.isFalse(rows.has("<root_account>"))
    }))

  it.effect("reads quoted fields (IAM names may hold commas) and columns by name, not position", () =>
    Effect.gen(function*() {
      const { rows } = yield* read([
        "mfa_active,user,access_key_2_active,password_enabled,access_key_1_active",
        "TRUE,\"ci+deploy=bot_1,x-y\",TRUE,FALSE,TRUE",
        "false,\"say \"\"hi\"\"\",false,true,false"
      ].join("\n"))
      assert.deepStrictEqual(rows.get("ci+deploy=bot_1,x-y"), { passwordEnabled: false, mfaActive: true, activeKeys: 2, hasKeys: true })
      // Without the last_rotated columns, two inactive slots may still hold keys: not certain.
      assert.deepStrictEqual(rows.get("say \"hi\""), { passwordEnabled: true, mfaActive: false, activeKeys: 0, hasKeys: null })
    }))

  it.effect("a user has no key only when neither slot is active nor has a creation time; anything unclear is not a no", () =>
    Effect.gen(function*() {
      const keyCells = (one: string, two: string) =>
        `,arn:x,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,${one},N/A,N/A,N/A,${two},N/A,N/A,N/A,false,N/A,false,N/A`
      const { rows } = yield* read([
        header,
        "none" + keyCells("false,N/A", "false,N/A"),
        "inactive" + keyCells("false,2021-03-04T05:06:07+00:00", "false,N/A"),
        "second" + keyCells("false,N/A", "true,2021-03-04T05:06:07+00:00"),
        "unclear" + keyCells("false,no_information", "false,N/A"),
        "odd" + keyCells("N/A,N/A", "false,N/A")
      ].join("\n"))
      const hasKeys = (name: string) => rows.get(name)?.hasKeys
      assert.strictEqual(hasKeys("none"), false)
      assert.strictEqual(hasKeys("inactive"), true)
      assert.strictEqual(hasKeys("second"), true)
      assert.strictEqual(hasKeys("unclear"), null)
      assert.strictEqual(hasKeys("odd"), null)
    }))

  it("takes the report's lines out of GetCredentialReport's answer, however the answer is chunked", () => {
    const csv = "user,arn\nzoë,x\r\nbob,\"a,b\"\nlast"
    const xml = (content: string) =>
      `<GetCredentialReportResponse><GetCredentialReportResult><Content>${content}</Content>` +
      "<ReportFormat>text/csv</ReportFormat><GeneratedTime>2025-01-01T00:00:00Z</GeneratedTime>" +
      "</GetCredentialReportResult></GetCredentialReportResponse>"
    const body = xml(Buffer.from(csv).toString("base64"))
    for (const size of [1, 2, 3, 5, 7, 11, 4096]) {
      const lines: Array<string> = []
      const reader = new ReportLines((line) => lines.push(line))
      for (let i = 0; i < body.length; i += size) reader.push(body.slice(i, i + size))
      const rest = reader.end()
      expect(lines).toEqual(["user,arn", "zoë,x", "bob,\"a,b\"", "last"])
      expect(rest).toBe(xml(""))
    }
  })

  it.effect("a report without a needed column fails with BadData, naming it", () =>
    Effect.gen(function*() {
      const error = yield* read("user,arn,password_enabled\nalice,arn,true\n").pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "BadData")
      assert.match(error.reason.message, /mfa_active, access_key_1_active, access_key_2_active/)
    }))
})

describe("collection config", () => {
  it("defaults: auto strategy, reports up to 4 hours old, no ceiling on the request rate", () => {
    const { collection } = defaultConfig()
    assert.strictEqual(collection.strategy, "auto")
    assert.strictEqual(Duration.toMillis(collection.maxCredentialReportAge), 4 * HOUR)
    assert.isUndefined(collection.maxRequestsPerSecond)
    assert.strictEqual(collection.minRequestsPerSecond, 1)
  })

  it("names each wrong field with its path", () => {
    const problems = (collection: object) => {
      try {
        defaultConfig({ collection } as ConfigInput)
      } catch (e) {
        if (e instanceof ConfigError) return e.message
        throw e
      }
      throw new Error("expected a ConfigError")
    }
    assert.match(problems({ strategy: "fast" }), /collection\.strategy: expected one of "per-user", "bulk", "auto"; found "fast"/)
    assert.match(problems({ maxCredentialReportAge: "4" }), /collection\.maxCredentialReportAge: expected a duration/)
    assert.match(problems({ sshPublicKeys: "bulk" } as any), /collection\.sshPublicKeys: expected one of "per-user", "always", "never"; found "bulk"/)
    assert.match(problems({ maxRequestsPerSecond: 0 }), /collection\.maxRequestsPerSecond/)
    assert.match(problems({ maxRequestsPerSecond: 5, minRequestsPerSecond: 10 }), /maxRequestsPerSecond must not be below minRequestsPerSecond/)
  })
})
