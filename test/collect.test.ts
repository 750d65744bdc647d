/**
 * The per-user strategy against the emulator: every user exactly as the account holds it, over
 * every page; throttling, 5xx and timeouts retried up to a limit; AccessDenied never retried, nor
 * made a default.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { collectUsers, type UserOutcome } from "../src/collect/users.ts"
import { type Emulator, emulatorScoped, type EmulatorOptions } from "../emulator/index.ts"
import { Iam, type IamSettings } from "../src/iam/Iam.ts"
import { IamUser } from "../src/iam/IamUser.ts"

const settings = (emulator: Emulator, overrides: Partial<IamSettings> = {}): IamSettings => ({
  region: "us-east-1",
  endpoint: emulator.url,
  credentials: { accessKeyId: "AKIATESTTESTTESTTEST", secretAccessKey: Redacted.make("test-secret") },
  callTimeout: Duration.seconds(5),
  retry: { maxAttempts: 20, baseDelay: Duration.millis(1), maxDelay: Duration.millis(10) },
  maxSockets: 64,
  ...overrides
})

/** Collects the whole (small) emulated account and returns the outcomes and the emulator. */
const collect = (options: EmulatorOptions, pageSize: number, overrides: Partial<IamSettings> = {}) =>
  Effect.gen(function*() {
    const emulator = yield* emulatorScoped(options)
    const outcomes = yield* collectUsers({ pageSize, concurrency: 8 }).pipe(
      Stream.runCollect,
      Effect.provide(Iam.layer(settings(emulator, overrides)))
    )
    return { emulator, outcomes: Array.from(outcomes) as Array<UserOutcome> }
  })

const encode = Schema.encodeSync(IamUser)

/** The spec-shaped JSON of a collected user, with the emulator's second-precision dates. */
const asJson = (outcome: UserOutcome) => {
  assert.strictEqual(outcome._tag, "Collected", JSON.stringify(outcome))
  const json = encode((outcome as Extract<UserOutcome, { _tag: "Collected" }>).user)
  return JSON.parse(JSON.stringify(json).replaceAll(".000Z", "Z"))
}

describe("collectUsers", () => {
  it.live("collects every user exactly as the account holds it, following every page of every list", () =>
    Effect.gen(function*() {
      // perUserPageSize 1 makes every key, tag, group and policy its own page.
      const { emulator, outcomes } = yield* collect({ users: 60, shortPages: true }, 7, { perUserPageSize: 1 })
      assert.strictEqual(outcomes.length, 62)
      const byName = new Map(outcomes.map((o) => [asJson(o).UserName, asJson(o)]))
      assert.strictEqual(byName.size, 62)
      for (const name of emulator.account.userNames()) {
        assert.deepStrictEqual(byName.get(name), emulator.account.expected(name), name)
      }
      // Paging really happened: more ListUsers pages than 62 / 7, and several tag pages for some user.
      const calls = emulator.counters().byAction
      assert.isAbove(calls["ListUsers"]!.ok, Math.ceil(62 / 7))
      assert.isAbove(calls["ListUserTags"]!.ok, 62)
    }))

  it.live("retries throttling and 5xx until the call succeeds", () =>
    Effect.gen(function*() {
      const { emulator, outcomes } = yield* collect(
        { users: 40, faults: { "*": { throttleRate: 0.3 }, ListAccessKeys: { errorRate: 0.3 } } },
        10
      )
      assert.strictEqual(outcomes.length, 42)
      assert.isTrue(outcomes.every((o) => o._tag === "Collected"))
      for (const o of outcomes) assert.deepStrictEqual(asJson(o), emulator.account.expected(asJson(o).UserName))
      assert.isAbove(emulator.counters().byOutcome.throttled, 0)
      assert.isAbove(emulator.counters().byOutcome.error, 0)
    }))

  it.live("never retries AccessDenied and never turns it into a default value", () =>
    Effect.gen(function*() {
      const denied = "aws-developer-team"
      const { emulator, outcomes } = yield* collect({ users: 5, faults: { ListMFADevices: { accessDenied: [denied] } } }, 100)
      const failed = outcomes.filter((o) => o._tag === "Failed")
      assert.strictEqual(failed.length, 1)
      const f = failed[0] as Extract<UserOutcome, { _tag: "Failed" }>
      assert.strictEqual(f.userName, denied)
      assert.strictEqual(f.error.action, "ListMFADevices")
      assert.strictEqual(f.error.reason._tag, "AccessDenied")
      assert.strictEqual(outcomes.filter((o) => o._tag === "Collected").length, 6)
      // One attempt only: asking again would get the same answer.
      assert.strictEqual(emulator.counters().byAction["ListMFADevices"]!.denied, 1)
    }))

  it.live("gives up after maxAttempts on a call that keeps failing", () =>
    Effect.gen(function*() {
      const { emulator, outcomes } = yield* collect(
        { users: 0, faults: { ListUserTags: { errorRate: 1 } } },
        100,
        { retry: { maxAttempts: 3, baseDelay: Duration.millis(1), maxDelay: Duration.millis(2) } }
      )
      assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Failed", "Failed"])
      for (const o of outcomes) {
        const error = (o as Extract<UserOutcome, { _tag: "Failed" }>).error
        assert.strictEqual(error.reason._tag, "Unavailable")
        assert.strictEqual(error.reason.status, 500)
      }
      assert.strictEqual(emulator.counters().byAction["ListUserTags"]!.error, 2 * 3)
    }))

  it.live("a ListUsers page that keeps failing fails the whole collection", () =>
    Effect.gen(function*() {
      const error = yield* collect({ users: 3, faults: { ListUsers: { accessDenied: true } } }, 100).pipe(Effect.flip)
      assert.strictEqual(error.action, "ListUsers")
      assert.strictEqual(error.reason._tag, "AccessDenied")
    }))

  it.live("a call without an answer times out and is retried", () =>
    Effect.gen(function*() {
      const { outcomes } = yield* collect(
        { users: 0, faults: { GetLoginProfile: { latencyMs: 300 } } },
        100,
        { callTimeout: Duration.millis(50), retry: { maxAttempts: 2, baseDelay: Duration.millis(1), maxDelay: Duration.millis(2) } }
      )
      assert.strictEqual(outcomes.length, 2)
      for (const o of outcomes) {
        assert.strictEqual(o._tag, "Failed")
        const error = (o as Extract<UserOutcome, { _tag: "Failed" }>).error
        assert.strictEqual(error.action, "GetLoginProfile")
        assert.strictEqual(error.reason.code, "Timeout")
      }
    }))
})
