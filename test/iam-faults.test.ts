/**
 * Bad IAM answers end in retries, dead letters or a non-zero exit, never in false events (issue 10,
 * cases 1, 2, 3, 4, 10 and the strict `time`; case 18 is test/strategies.test.ts). The emulator
 * corrupts its answers (`Faults`' `corrupt`), the real CLI runs against it with a stdout and a
 * file sink, and each test reads back what it did: the exit code, that stdout holds events only,
 * that every event delivered is the account's truth for its user, and the dead-letter records.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { pageChecker } from "../src/collect/paging.ts"
import type { Page } from "../src/iam/Iam.ts"
import type { ConfigInput } from "../src/run/defaultConfig.ts"
import type { OcsfProfile } from "../src/ocsf/index.ts"
import { type Emulator, type Faults, startEmulator, type UserRecord } from "../emulator/index.ts"
import { configFor, expectedEvents, readLines, readNdjson, runCli, runInProcess, tempDir, writeJson } from "./support.ts"

type Collection = NonNullable<ConfigInput["collection"]>

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator({ users: 50 })
})
afterAll(() => emulator.close())

/** `time` is when the user was collected (strict profiles): the one field two runs may not share. */
const withoutTime = ({ time: _, ...event }: Record<string, unknown>) => event

interface Outcome {
  readonly code: number | null
  readonly stderr: string
  /** The events on stdout (the stdout sink), in order. */
  readonly stdout: Array<any>
  /** The events in the file sink. */
  readonly file: Array<any>
  readonly deadLetters: Array<any>
}

/** `run --once` as a process against the emulator with `faults`, a stdout and a file sink. */
const runOnce = async (faults: Faults, collection: Collection = {}, profile: OcsfProfile = "spec"): Promise<Outcome> => {
  const dir = tempDir()
  const file = path.join(dir, "events.ndjson")
  const config = writeJson(
    path.join(dir, "config.json"),
    configFor(emulator, dir, { collection, ocsf: { profile }, sinks: [{ type: "stdout" }, { type: "file", path: file }] })
  )
  emulator.setFaults(faults)
  emulator.resetCounters()
  try {
    const result = await runCli(["run", "--config", config, "--once"])
    return {
      code: result.code,
      stderr: result.stderr,
      stdout: eventsOnly(result.stdout),
      file: readNdjson(file),
      deadLetters: readNdjson(path.join(dir, "dead-letter.ndjson"))
    }
  } finally {
    emulator.setFaults({})
  }
}

/** stdout's lines, each of which must be an event (class 5003): nothing else may be there. */
const eventsOnly = (stdout: string): Array<any> =>
  stdout.split("\n").filter((l) => l !== "").map((line) => {
    const event = JSON.parse(line)
    expect(event.class_uid, line).toBe(5003)
    return event
  })

/**
 * No false value reached a sink: every event is exactly the account's truth for its user, each
 * user at most once, and stdout and the file got the same events.
 */
const onlyTrueEvents = (outcome: Outcome, profile: OcsfProfile = "spec", options: { readonly bulk?: boolean } = {}) => {
  const truth = new Map(expectedEvents(emulator, profile, options).map((e) => [e.user.uid, JSON.stringify(withoutTime(e))]))
  for (const event of outcome.file) expect(JSON.stringify(withoutTime(event))).toBe(truth.get(event.user.uid))
  const uids = outcome.file.map((e) => e.user.uid)
  expect(new Set(uids).size).toBe(uids.length)
  expect(outcome.stdout.map((e) => e.user.uid).sort()).toEqual([...uids].sort())
}

/** The users of the account that have at least one of what `has` counts, each picked once. */
const pickUsers = (...has: ReadonlyArray<(u: UserRecord) => number>): Array<string> => {
  const picked: Array<string> = []
  for (const count of has) {
    const user = [...emulator.account.users()].find((u) => count(u) > 0 && !picked.includes(u.UserName))
    if (user === undefined) throw new Error("the emulated account has no such user")
    picked.push(user.UserName)
  }
  return picked
}

const userRecord = (outcome: Outcome, userName: string) => outcome.deadLetters.find((r) => r.kind === "user" && r.user.UserName === userName)

describe("bad IAM answers (issue 10)", () => {
  it("1: an HTML page or an empty body with HTTP 200 is BadData: retried, then the user dead-lettered or the run failed; never 'no data'", async () => {
    const [mfa, keys, tags, groups, policies] = pickUsers(
      (u) => u.MFADevices.length,
      (u) => u.AccessKeys.length,
      (u) => u.Tags.length,
      (u) => u.Groups.length,
      (u) => u.AttachedPolicies.length
    ) as [string, string, string, string, string]
    const perUser = await runOnce({
      ListMFADevices: { corrupt: { kind: "html" }, corruptUsers: [mfa] },
      ListAccessKeys: { corrupt: { kind: "empty" }, corruptUsers: [keys] },
      ListUserTags: { corrupt: { kind: "empty" }, corruptUsers: [tags] },
      ListGroupsForUser: { corrupt: { kind: "html" }, corruptUsers: [groups] },
      ListAttachedUserPolicies: { corrupt: { kind: "html" }, corruptUsers: [policies] },
      // A proxy's page that goes away: retried, and the user collected right.
      GetLoginProfile: { corrupt: { kind: "html" }, corruptTimes: 3 }
    }, { strategy: "per-user" })
    expect(perUser.code).toBe(3)
    onlyTrueEvents(perUser)
    expect(perUser.file).toHaveLength(47)
    expect(emulator.counters().byAction["GetLoginProfile"]!.corrupted).toBe(3)
    for (
      const [user, action] of [
        [mfa, "ListMFADevices"],
        [keys, "ListAccessKeys"],
        [tags, "ListUserTags"],
        [groups, "ListGroupsForUser"],
        [policies, "ListAttachedUserPolicies"]
      ] as const
    ) {
      expect(perUser.file.map((e) => e.user.name)).not.toContain(user)
      expect(userRecord(perUser, user)?.error, user).toMatchObject({ action, reason: "BadData", code: "UnexpectedAnswer", status: 200 })
    }
    expect(userRecord(perUser, mfa).error.message).toMatch(/not a ListMFADevices answer: a DOCTYPE/)
    expect(userRecord(perUser, keys).error.message).toMatch(/an empty answer/)
    expect(perUser.deadLetters).toHaveLength(5)

    // A listing call: the run fails, and says why; nothing is emitted as if the account were empty.
    const listUsers = await runOnce({ ListUsers: { corrupt: { kind: "html" } } }, { strategy: "per-user" })
    expect(listUsers.code).toBe(1)
    expect(listUsers.stderr).toMatch(/collection failed: ListUsers failed: BadData \(UnexpectedAnswer\)/)
    expect(listUsers.stderr).not.toMatch(/0 users collected/)
    expect([listUsers.stdout, listUsers.file, listUsers.deadLetters]).toEqual([[], [], []])

    for (const strategy of ["bulk", "auto"] as const) {
      const details = await runOnce({ GetAccountAuthorizationDetails: { corrupt: { kind: "empty" } } }, { strategy })
      expect(details.code, strategy).toBe(1)
      expect(details.stderr).toMatch(/collection failed: GetAccountAuthorizationDetails failed: BadData \(UnexpectedAnswer\): not a GetAccountAuthorizationDetails answer: an empty answer/)
      expect([details.stdout, details.file]).toEqual([[], []])
    }
  }, 120_000)

  it("2: IsTruncated without a Marker fails the listing: no partial listing passed off as the account", async () => {
    const listing = await runOnce({ ListUsers: { corrupt: { kind: "truncated-without-marker" } } }, { strategy: "per-user", pageSize: 10 })
    expect(listing.code).toBe(1)
    expect(listing.stderr).toMatch(/collection failed: ListUsers failed: BadData \(TruncatedWithoutMarker\)/)
    expect([listing.stdout, listing.file]).toEqual([[], []])

    for (const action of ["GetAccountAuthorizationDetails", "ListUsers"] as const) {
      const bulk = await runOnce({ [action]: { corrupt: { kind: "truncated-without-marker" } } }, { strategy: "bulk" })
      expect(bulk.code, action).toBe(1)
      expect(bulk.stderr).toMatch(new RegExp(`collection failed: ${action} failed: BadData \\(TruncatedWithoutMarker\\)`))
      onlyTrueEvents(bulk)
    }

    // A per-user list: that user is dead-lettered, the others delivered.
    const [user] = pickUsers((u) => u.Groups.length) as [string]
    const perUser = await runOnce(
      { ListGroupsForUser: { corrupt: { kind: "truncated-without-marker" }, corruptUsers: [user] } },
      { strategy: "per-user" }
    )
    expect(perUser.code).toBe(3)
    onlyTrueEvents(perUser)
    expect(perUser.file).toHaveLength(51)
    expect(userRecord(perUser, user)?.error).toMatchObject({ action: "ListGroupsForUser", reason: "BadData", code: "TruncatedWithoutMarker" })
  }, 120_000)

  it("3: a Marker that leads back to the first page fails the listing at once; a listing longer than the account allows fails too", async () => {
    const loop = await runOnce({ ListUsers: { corrupt: { kind: "marker-loop" } } }, { strategy: "per-user", pageSize: 10 })
    expect(loop.code).toBe(1)
    expect(loop.stderr).toMatch(/collection failed: ListUsers failed: BadData \(MarkerRepeated\)/)
    // The first page was asked for twice (the second time by its own Marker), then the run stopped;
    // the start-up check asked for one user before that.
    expect(emulator.counters().byAction["ListUsers"]!.ok + emulator.counters().byAction["ListUsers"]!.corrupted).toBe(3)
    // The users of the first page may have been emitted, each once and true; no user twice.
    expect(loop.file.length).toBeLessThanOrEqual(10)
    onlyTrueEvents(loop)

    // A listing that never repeats a Marker but never ends: bounded by the account summary.
    const check = pageChecker(25)
    const page = (n: number): Page<number> => ({
      items: Array.from({ length: 10 }, (_, i) => n * 10 + i),
      marker: `m${n}`,
      truncated: true,
      action: "ListUsers"
    })
    for (const n of [0, 1]) await Effect.runPromise(check(page(n)))
    const error = await Effect.runPromise(Effect.flip(check(page(2))))
    expect(error.reason).toMatchObject({ _tag: "BadData", code: "TooManyPages" })
  }, 60_000)

  it("4: character references out of range, NUL, lone surrogates, DOCTYPE are BadData, never a crash; CDATA and comments read as XML says", async () => {
    // Bulk: the page with `&#x110000;` in a tag is retried, then fails the run; no RangeError.
    const bulk = await runOnce({ GetAccountAuthorizationDetails: { corrupt: { kind: "inject", text: "&#x110000;" } } }, { strategy: "bulk" })
    expect(bulk.code).toBe(1)
    expect(bulk.stderr).toMatch(/GetAccountAuthorizationDetails failed: BadData \(MalformedXml\): malformed XML answer: &#x110000; is not an XML character/)
    expect(bulk.stderr).not.toMatch(/RangeError/)
    expect([bulk.stdout, bulk.file]).toEqual([[], []])

    // Per user: the user whose answer holds one is dead-lettered, the rest delivered.
    const [nul, surrogate, doctype] = pickUsers((u) => u.Tags.length, (u) => u.Tags.length, (u) => u.AttachedPolicies.length) as [
      string,
      string,
      string
    ]
    for (const [user, text, message] of [[nul, "&#0;", /&#0; is not an XML character/], [surrogate, "&#xD800;", /&#xD800; is not/]] as const) {
      const perUser = await runOnce({
        ListUserTags: { corrupt: { kind: "inject", text }, corruptUsers: [user] },
        ...(user === nul ? { ListAttachedUserPolicies: { corrupt: { kind: "doctype" }, corruptUsers: [doctype] } } : {})
      }, { strategy: "per-user" })
      expect(perUser.code).toBe(3)
      onlyTrueEvents(perUser)
      expect(userRecord(perUser, user)?.error).toMatchObject({ action: "ListUserTags", reason: "BadData", code: "MalformedXml" })
      expect(userRecord(perUser, user).error.message).toMatch(message)
      if (user === nul) {
        expect(userRecord(perUser, doctype)?.error).toMatchObject({ action: "ListAttachedUserPolicies", reason: "BadData" })
        expect(userRecord(perUser, doctype).error.message).toMatch(/DOCTYPE/)
      }
    }

    // CDATA sections and comments in every value of every answer: valid XML, the same values, by
    // both strategies.
    for (const strategy of ["per-user", "bulk"] as const) {
      const cdata = await runOnce({ "*": { corrupt: { kind: "cdata" } } }, { strategy }, "strict")
      expect(cdata.code, strategy).toBe(0)
      expect(cdata.file).toHaveLength(52)
      onlyTrueEvents(cdata, "strict", { bulk: strategy === "bulk" })
    }
  }, 180_000)

  it("4: the daemon logs a run that failed on a bad answer, and runs again on schedule", async () => {
    const dir = tempDir()
    const config = writeJson(
      path.join(dir, "config.json"),
      configFor(emulator, dir, { collection: { strategy: "bulk" }, schedule: { interval: "1s" } })
    )
    emulator.setFaults({ GetAccountAuthorizationDetails: { corrupt: { kind: "inject", text: "&#x110000;" } } })
    try {
      let stderr = ""
      const result = await runCli(["run", "--config", config], {
        onSpawn: (child) => {
          let stopped = false
          child.stderr?.on("data", (d) => {
            stderr += d
            const failed = stderr.match(/collection failed: GetAccountAuthorizationDetails failed: BadData/g) ?? []
            if (!stopped && failed.length >= 2) {
              stopped = true
              child.kill("SIGTERM")
            }
          })
        }
      })
      expect(result.stderr).not.toMatch(/RangeError/)
      expect(result.code).toBe(0)
      expect(readLines(path.join(dir, "events.ndjson"))).toEqual([])
    } finally {
      emulator.setFaults({})
    }
  }, 60_000)

  it("10: one corrupt GetAccountAuthorizationDetails page is retried, and the run completes", async () => {
    const outcome = await runOnce({ GetAccountAuthorizationDetails: { corrupt: { kind: "cut" }, corruptTimes: 1 } }, { strategy: "bulk" })
    expect(outcome.code).toBe(0)
    expect(emulator.counters().byAction["GetAccountAuthorizationDetails"]!.corrupted).toBe(1)
    expect(outcome.file).toHaveLength(52)
    onlyTrueEvents(outcome)
    expect(outcome.deadLetters).toEqual([])
  }, 60_000)
})

describe("the strict profiles' time (issue 10, case 19)", () => {
  it("is when the user was collected: after the last answer about the user, not the run's start", async () => {
    /** When the last answer about each user, and the last GetAccountAuthorizationDetails page, were sent. */
    const answered = new Map<string, number>()
    let details = 0
    const timed = await startEmulator({
      users: 30,
      // A little latency: the users of a run are collected over some time.
      faults: { "*": { latencyMs: 5 } },
      onAnswer: ({ action, userName, atMs }) => {
        if (userName !== undefined) answered.set(userName, Math.max(answered.get(userName) ?? 0, atMs))
        if (action === "GetAccountAuthorizationDetails") details = Math.max(details, atMs)
      }
    })
    try {
      for (const strategy of ["per-user", "bulk"] as const) {
        answered.clear()
        details = 0
        const dir = tempDir()
        const startedAt = Date.now()
        await Effect.runPromise(
          runInProcess(configFor(timed, dir, { collection: { strategy, concurrency: 2 }, ocsf: { profile: "strict" } })).pipe(
            Effect.provide(NodeServices.layer)
          )
        )
        const endedAt = Date.now()
        const events = readNdjson(path.join(dir, "events.ndjson"))
        expect(events).toHaveLength(32)
        for (const event of events) {
          // Per user: the user's own calls; in bulk, the page that described the user (and its
          // own calls, if it needed any), all of them answered before the user was collected.
          const last = Math.max(answered.get(event.user.name) ?? 0, strategy === "bulk" ? details : 0)
          expect(last, event.user.name).toBeGreaterThan(0)
          expect(event.time, `${strategy}: ${event.user.name}`).toBeGreaterThanOrEqual(last)
          expect(event.time).toBeGreaterThanOrEqual(startedAt)
          expect(event.time).toBeLessThanOrEqual(endedAt)
        }
      }
    } finally {
      await timed.close()
    }
  }, 120_000)
})
