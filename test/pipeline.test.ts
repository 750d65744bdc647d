/**
 * One collection run end to end into file sinks: paging, a user deleted mid-run, heavy throttling,
 * several sinks, appends across runs, and a sink that cannot write.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { emulatorScoped, SPEC_USERS } from "../emulator/index.ts"
import { SpecEvent } from "../src/ocsf/index.ts"
import { specEvent } from "./expectedOcsf.ts"
import { configFor, expectedEvents, readLines, readNdjson, runInProcess, sortBy, tempDir } from "./support.ts"

const decodeEvent = Schema.decodeUnknownSync(SpecEvent)

describe("the events the end-to-end tests expect", () => {
  it("are the spec's example event for its first user (with the table's CreateDate, not the example's slip; tags by key)", () => {
    const vendor = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "fixtures/ocsf/vendor-example.json"), "utf8"))
    // The README's one order for every list in an event puts tags by key; the example lists them as one API call did.
    const tags = Object.fromEntries(Object.entries(vendor.user.tags as Record<string, string>).sort(([a], [b]) => a < b ? -1 : 1))
    const corrected = { ...vendor, time: 1591264800, user: { ...vendor.user, created_time: 1591264800, tags } }
    assert.strictEqual(JSON.stringify(specEvent(SPEC_USERS[0]!)), JSON.stringify(corrected))
  })
})

describe("one collection run", () => {
  it.live("one page: every user reaches the file sink, decodable as the spec's event", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 3 })
      const dir = tempDir()
      const summary = yield* runInProcess(configFor(emulator, dir))
      const events = readNdjson(path.join(dir, "events.ndjson"))
      assert.strictEqual(events.length, 5)
      for (const e of events) decodeEvent(e)
      const expected = expectedEvents(emulator)
      assert.deepStrictEqual(sortBy(events, (e) => e.user.uid), expected)
      // Byte for byte: the spec's key order too.
      assert.deepStrictEqual(
        sortBy(readLines(path.join(dir, "events.ndjson")), (l) => JSON.parse(l).user.uid),
        expected.map((e) => JSON.stringify(e))
      )
      assert.strictEqual(emulator.counters().byAction["ListUsers"]!.ok, 1)
      assert.isTrue(summary.complete)
      assert.deepStrictEqual(readLines(path.join(dir, "dead-letter.ndjson")), [])
    }))

  it.live("a user deleted between ListUsers and its own calls is counted as vanished: not emitted, not dead-lettered", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 28 })
      const gone = [...emulator.account.userNames()][11]!
      emulator.setFaults({ deletedAfterListing: [gone] })
      const dir = tempDir()
      const summary = yield* runInProcess(configFor(emulator, dir))
      const events = readNdjson(path.join(dir, "events.ndjson"))
      assert.strictEqual(events.length, 29)
      assert.notInclude(events.map((e) => e.user.name), gone)
      assert.deepStrictEqual(
        sortBy(events, (e) => e.user.uid),
        expectedEvents(emulator).filter((e) => e.user.name !== gone)
      )
      assert.strictEqual(summary.vanished, 1)
      assert.strictEqual(summary.failed, 0)
      assert.isTrue(summary.complete)
      assert.deepStrictEqual(readLines(path.join(dir, "dead-letter.ndjson")), [])
      // It was asked about after the deletion, and AWS's answer was NoSuchEntity (GetLoginProfile
      // answers that for every user without a password, so it does not count here).
      const notFound = Object.entries(emulator.counters().byAction)
        .filter(([action]) => action !== "GetLoginProfile")
        .reduce((n, [, counts]) => n + counts.notFound, 0)
      assert.isAbove(notFound, 0)
    }))

  it.live("many pages: page size 7 over 250 users with short pages, each user exactly once", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 248, shortPages: true })
      const dir = tempDir()
      const summary = yield* runInProcess(configFor(emulator, dir, { collection: { pageSize: 7 } }))
      const events = readNdjson(path.join(dir, "events.ndjson"))
      assert.strictEqual(events.length, 250)
      assert.strictEqual(new Set(events.map((e) => e.user.uid)).size, 250)
      assert.deepStrictEqual(sortBy(events, (e) => e.user.uid), expectedEvents(emulator))
      // Short pages while truncated: more pages than 250 / 7 would need.
      assert.isAbove(emulator.counters().byAction["ListUsers"]!.ok, Math.ceil(250 / 7))
      assert.strictEqual(summary.collected, 250)
    }))

  it.live("1,000 users with 20% of calls throttled: all delivered, identical to a fault-free run", () =>
    Effect.gen(function*() {
      const run = (throttleRate: number) =>
        Effect.scoped(Effect.gen(function*() {
          const emulator = yield* emulatorScoped({ users: 998, faults: { "*": { throttleRate } } })
          const dir = tempDir()
          const summary = yield* runInProcess(
            configFor(emulator, dir, { collection: { concurrency: 48, pageSize: 100 }, delivery: { batchSize: 500 } })
          )
          return {
            summary,
            throttled: emulator.counters().byOutcome.throttled,
            events: sortBy(readNdjson(path.join(dir, "events.ndjson")), (e) => e.user.uid)
          }
        }))
      const clean = yield* run(0)
      const throttled = yield* run(0.2)
      assert.strictEqual(clean.events.length, 1_000)
      assert.strictEqual(clean.throttled, 0)
      // About 8 calls a user, a fifth of them throttled (more with their retries).
      assert.isAbove(throttled.throttled, 1_000)
      assert.isTrue(throttled.summary.complete)
      assert.deepStrictEqual(throttled.events, clean.events)
    }), 120_000)

  it.live("several sinks: every sink receives every event", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 40 })
      const dir = tempDir()
      const files = ["a/events.ndjson", "b/nested/events.ndjson"].map((f) => path.join(dir, f))
      const summary = yield* runInProcess(configFor(emulator, dir, {
        delivery: { batchSize: 7 },
        sinks: [{ type: "file", name: "first", path: files[0]! }, { type: "file", name: "second", path: files[1]! }]
      }))
      const [first, second] = files.map((f) => sortBy(readNdjson(f), (e) => e.user.uid))
      assert.strictEqual(first!.length, 42)
      assert.deepStrictEqual(first, second)
      assert.deepStrictEqual(summary.sinks["first"], { delivered: 42, retried: 0, deadLettered: 0 })
      assert.deepStrictEqual(summary.sinks["second"], { delivered: 42, retried: 0, deadLettered: 0 })
    }))

  it.live("the file sink appends whole lines run after run", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 10 })
      const dir = tempDir()
      yield* runInProcess(configFor(emulator, dir))
      yield* runInProcess(configFor(emulator, dir))
      const lines = readLines(path.join(dir, "events.ndjson"))
      assert.strictEqual(lines.length, 24)
      for (const line of lines) decodeEvent(JSON.parse(line))
    }))

  it.live("a file sink on a device (/dev/null, fsync on by default) delivers every batch: nothing to make durable", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 8 })
      const dir = tempDir()
      const summary = yield* runInProcess(configFor(emulator, dir, {
        delivery: { retry: { maxAttempts: 2, baseDelay: "1ms", maxDelay: "2ms" } },
        sinks: [{ type: "file", name: "null", path: "/dev/null", batchSize: 3 }]
      }))
      assert.isTrue(summary.complete)
      assert.deepStrictEqual(summary.sinks["null"], { delivered: 10, retried: 0, deadLettered: 0 })
      assert.isFalse(fs.existsSync(path.join(dir, "dead-letter.ndjson")))
    }))

  it.live("a sink that cannot write: its batches go to the dead-letter file with their events", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 8 })
      const dir = tempDir()
      const summary = yield* runInProcess(configFor(emulator, dir, {
        delivery: { retry: { maxAttempts: 2, baseDelay: "1ms", maxDelay: "2ms" } },
        // /dev/full opens fine and fails every write with ENOSPC: a real disk-full.
        sinks: [{ type: "file", name: "full", path: "/dev/full", fsync: false }, {
          type: "file",
          name: "ok",
          path: path.join(dir, "events.ndjson")
        }]
      }))
      assert.isFalse(summary.complete)
      assert.deepStrictEqual(summary.sinks["ok"], { delivered: 10, retried: 0, deadLettered: 0 })
      assert.strictEqual(summary.sinks["full"]!.deadLettered, 10)
      const records = readNdjson(path.join(dir, "dead-letter.ndjson"))
      for (const r of records) {
        assert.deepInclude(r, { kind: "batch", sink: "full" })
        assert.match(r.error.message, /ENOSPC/)
      }
      const dead = sortBy(records.flatMap((r) => r.events), (e: any) => e.user.uid)
      assert.deepStrictEqual(dead, sortBy(readNdjson(path.join(dir, "events.ndjson")), (e) => e.user.uid))
    }))
})
