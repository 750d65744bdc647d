/**
 * The learned request rate: AdaptiveRate's slow start, cuts and climb back, and a per-user
 * collection that stays under an emulated account's budget of requests per second.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { collectUsers } from "../src/collect/users.ts"
import { emulatorScoped } from "../emulator/index.ts"
import { AdaptiveRate } from "../src/iam/AdaptiveRate.ts"
import { Iam } from "../src/iam/Iam.ts"

/** `n` answers spread evenly over `[from, to)` milliseconds. */
const answer = (rate: AdaptiveRate, from: number, to: number, n: number) => {
  for (let i = 0; i < n; i++) rate.admitted(from + ((to - from) * i) / n)
}

describe("AdaptiveRate", () => {
  it("doubles every second of answers until the first throttle, then halves to half what the account admitted", () => {
    const rate = new AdaptiveRate(0)
    assert.strictEqual(rate.rate, 50)
    // One second of answers arriving as fast as the rate allows.
    for (let t = 0; t < 1000; t += 1000 / rate.rate) rate.admitted(t)
    assert.approximately(rate.rate, 100, 3)
    // The account let 100 through in the last second when it first said Throttling.
    answer(rate, 1000, 2000, 100)
    rate.throttled(2000, rate.epoch(1990))
    assert.approximately(rate.rate, 50, 2)
  })

  it("one cut per overload: throttles of requests sent before the cut, or just after it, do not cut again", () => {
    const rate = new AdaptiveRate(0, { initial: 100 })
    answer(rate, 0, 1000, 100)
    const before = rate.epoch(999)
    rate.throttled(1000, before)
    const afterFirst = rate.rate
    rate.throttled(1001, before)
    rate.throttled(1020, rate.epoch(1010)) // sent within the hold after the cut: the bucket was still empty
    assert.strictEqual(rate.rate, afterFirst)
    rate.throttled(1500, rate.epoch(1400))
    assert.isBelow(rate.rate, afterFirst)
  })

  it("climbs back to the admitted rate within seconds, then creeps above it slowly", () => {
    const rate = new AdaptiveRate(0, { initial: 100 })
    answer(rate, 0, 1000, 100)
    rate.throttled(1000, rate.epoch(999))
    const admitted = rate.rate * 2
    // Three seconds of answers at whatever rate is allowed.
    let t = 1000
    while (t < 4000) {
      rate.admitted(t)
      t += 1000 / rate.rate
    }
    assert.isAbove(rate.rate, admitted * 0.9)
    assert.isBelow(rate.rate, admitted * 1.1)
  })

  it("never exceeds a configured ceiling, starts there, and never drops below the floor", () => {
    const rate = new AdaptiveRate(0, { ceiling: 30, floor: 5 })
    assert.strictEqual(rate.rate, 30)
    answer(rate, 0, 10_000, 1000)
    assert.strictEqual(rate.rate, 30)
    for (let t = 20_000; t < 30_000; t += 1000) rate.throttled(t, rate.epoch(t - 1))
    assert.strictEqual(rate.rate, 5)
  })
})

describe("the request rate against an account's budget", () => {
  it.live("per-user collection stays under the emulator's budget: every user collected, few calls throttled", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 198, faults: { requestsPerSecond: 400 } })
      const outcomes = yield* collectUsers({ pageSize: 100, concurrency: 16 }).pipe(
        Stream.runCollect,
        Effect.provide(Iam.layer({
          region: "us-east-1",
          endpoint: emulator.url,
          credentials: { accessKeyId: "AKIATESTTESTTESTTEST", secretAccessKey: Redacted.make("test-secret") },
          callTimeout: Duration.seconds(5),
          retry: { maxAttempts: 8, baseDelay: Duration.millis(50), maxDelay: Duration.seconds(2) },
          maxSockets: 128
        }))
      )
      assert.strictEqual(outcomes.length, 200)
      assert.isTrue(outcomes.every((o) => o._tag === "Collected"))
      const { total, byOutcome } = emulator.counters()
      // 16 users × 7 calls in flight would overrun a 400/s budget many times over without the pacer.
      assert.isBelow(byOutcome.throttled / total, 0.02, JSON.stringify(byOutcome))
    }), 60_000)
})
