/**
 * The learned request rate. `AdaptiveRate` against simulated accounts (`simulatedAccount.ts`: a
 * seeded PRNG and a simulated clock, so every scenario plays out the same): a budget, random
 * throttling at 5%, 20% and 50%, both at once, a budget that halves mid-run; each held to the
 * best goodput achievable there and to its throttled fraction, the random ones over 100 seeds. Then the pacer's window of calls
 * in flight, and a per-user collection under the emulator's budget, with the shipped settings.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Redacted from "effect/Redacted"
import * as Clock from "effect/Clock"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import * as path from "node:path"
import { collectUsers } from "../src/collect/users.ts"
import { emulatorScoped } from "../emulator/index.ts"
import { AdaptiveRate } from "../src/iam/AdaptiveRate.ts"
import { Iam } from "../src/iam/Iam.ts"
import { makeRequestPacer } from "../src/iam/RequestPacer.ts"
import { retryPolicy } from "../src/common/retry.ts"
import { LISTING_PATIENCE } from "../src/iam/door.ts"
import { type Scenario, simulate } from "./simulatedAccount.ts"
import { configFor, readNdjson, runInProcess, tempDir } from "./support.ts"

/** Goodput (admitted answers per second) and throttled fraction of the requests sent from `from` to the end. */
const figures = (scenario: Scenario, from: number, to = scenario.seconds) => {
  const w = simulate(scenario).window(from, to)
  return { goodput: w.admitted / w.seconds, throttled: w.throttled / w.sent, budgetUsed: w.budgetUsed / w.seconds }
}

/** The collector of the scenarios can send 2,000 requests per second; the first 10 s are its slow start. */
const DEMAND = 2_000
/** Seeds of the scenarios with random throttling: a controller that only some seeds fool is not good enough. */
const SWEEP = Array.from({ length: 100 }, (_, i) => i + 1)

describe("AdaptiveRate against simulated accounts", () => {
  it("a budget of 100 requests/s: sits just under it, under 1% of requests throttled", () => {
    for (const latencyMs of [20, 150]) {
      const f = figures({ seconds: 120, budget: () => 100, latencyMs }, 10)
      assert.isAtLeast(f.goodput, 0.95 * 100, `latency ${latencyMs}: ${JSON.stringify(f)}`)
      assert.isBelow(f.throttled, 0.01, `latency ${latencyMs}: ${JSON.stringify(f)}`)
    }
  })

  it("a budget below where the rate starts (20 requests/s): found, not taken for noise", () => {
    for (const latencyMs of [20, 150]) {
      const f = figures({ seconds: 120, budget: () => 20, latencyMs }, 10)
      assert.isAtLeast(f.goodput, 0.95 * 20, `latency ${latencyMs}: ${JSON.stringify(f)}`)
      assert.isBelow(f.throttled, 0.05, `latency ${latencyMs}: ${JSON.stringify(f)}`)
    }
  })

  it("random throttling that does not depend on the rate (5%, 20%, 50%), over 100 seeds: the rate does not collapse", () => {
    for (const noise of [0.05, 0.2, 0.5]) {
      const shares = SWEEP.map((seed) => {
        const f = figures({ seconds: 60, noise, seed }, 10)
        assert.approximately(f.throttled, noise, 0.02, `noise ${noise}, seed ${seed}: ${JSON.stringify(f)}`)
        // The best: everything the collector can send, less the noise's share.
        return { seed, share: f.goodput / (DEMAND * (1 - noise)) }
      })
      const what = `noise ${noise}: ${JSON.stringify(shares.filter((s) => s.share < 0.95))}`
      // Every seed keeps most of the best goodput; nearly all of them keep next to all of it.
      assert.isTrue(shares.every((s) => s.share >= 0.8), what)
      assert.isAtMost(shares.filter((s) => s.share < 0.9).length, 2, what)
    }
  }, 60_000)

  it("a whole run under 20% random throttling, over 100 seeds: slow start and learning the noise cost little", () => {
    const clean = figures({ seconds: 30 }, 0)
    const shares = SWEEP.map((seed) => {
      const noisy = figures({ seconds: 30, noise: 0.2, seed }, 0)
      // Slow start included, and the rounds it takes to learn the noise: sent per second, against the clean run's.
      return { seed, share: noisy.goodput / 0.8 / clean.goodput }
    })
    const what = JSON.stringify(shares.filter((s) => s.share < 0.9))
    assert.isTrue(shares.every((s) => s.share >= 0.6), what)
    assert.isAtMost(shares.filter((s) => s.share < 0.8).length, 10, what)
  }, 60_000)

  it("a budget of 100 requests/s and 10% random throttling at once, over 100 seeds: the budget is used, not given up", () => {
    for (const seed of SWEEP) {
      const f = figures({ seconds: 120, budget: () => 100, noise: 0.1, seed }, 10)
      const what = `seed ${seed}: ${JSON.stringify(f)}`
      assert.isAtLeast(f.goodput, 0.9 * 100 * 0.9, what)
      assert.isAtLeast(f.budgetUsed, 0.9 * 100, what)
      // The noise's 10%, and a little more from touching the budget.
      assert.isBelow(f.throttled, 0.2, what)
    }
  }, 60_000)

  it("a budget that halves mid-run: follows it down within seconds", () => {
    const scenario: Scenario = { seconds: 60, budget: (t) => t < 30 ? 200 : 100 }
    const before = figures(scenario, 10, 30)
    const after = figures(scenario, 33, 60)
    assert.isAtLeast(before.goodput, 0.95 * 200, JSON.stringify(before))
    assert.isAtLeast(after.goodput, 0.95 * 100, JSON.stringify(after))
    assert.isBelow(after.throttled, 0.01, JSON.stringify(after))
    assert.isBelow(figures(scenario, 30, 33).throttled, 0.1)
  })

  it("a collector slower than the budget for a while does not forget it, and does not overrun it when it speeds up", () => {
    const scenario: Scenario = { seconds: 90, budget: () => 100, demand: (t) => t >= 20 && t < 60 ? 70 : DEMAND }
    const slow = simulate(scenario)
    // While it sends 70 requests/s, its rate stays where the budget was found: no climb it never
    // tried (which would end with the budget forgotten, and overrun when the collector speeds up).
    assert.isBelow(slow.rates[59]!, 1.1 * 100)
    const after = figures(scenario, 60, 90)
    assert.isAtLeast(after.goodput, 0.95 * 100, JSON.stringify(after))
    assert.isBelow(after.throttled, 0.02, JSON.stringify(after))
  })

  it("a budget that grows: found again", () => {
    const f = figures({ seconds: 90, budget: (t) => t < 30 ? 100 : 400 }, 45)
    assert.isAtLeast(f.goodput, 0.95 * 400, JSON.stringify(f))
  })

  it("a collector slower than its rate does not climb: the rate stays near what it sends", () => {
    const sim = simulate({ seconds: 60, demand: 300, noise: 0.2 })
    assert.isBelow(sim.rate.rate, 3 * 300)
    assert.isAtLeast(sim.window(10, 60).sent / 50, 0.99 * 300)
  })

  it("one cut per round: throttles of requests sent before a cut, or just after it, do not cut again", () => {
    const rate = new AdaptiveRate(0, { initial: 100 })
    const tags: Array<number> = []
    for (let t = 0; t < 1000; t += 10) tags.push(rate.sent(t))
    for (let i = 0; i < 60; i++) rate.answered(500 + i, tags[i]!, false)
    const beforeCut = rate.rate
    // Sent before the cut: the first verdict cuts once, the others are not judged.
    for (let i = 60; i < 100; i++) rate.answered(600 + i, tags[i]!, true)
    const afterCut = rate.rate
    assert.isBelow(afterCut, beforeCut)
    assert.isAtLeast(afterCut, beforeCut / 2)
    const held = rate.sent(710) // within the hold after the cut
    for (let i = 0; i < 20; i++) rate.answered(720 + i, held, true)
    assert.strictEqual(rate.rate, afterCut)
  })

  it("never above a configured ceiling (where it starts), never below the floor", () => {
    const fixed = simulate({ seconds: 20, options: { ceiling: 30 } })
    assert.strictEqual(fixed.rates[0], 30)
    assert.isTrue(fixed.rates.every((r) => r <= 30))
    const floored = simulate({ seconds: 20, budget: () => 2, options: { floor: 5 } })
    assert.isTrue(floored.rates.every((r) => r >= 5))
  })
})

describe("the request pacer's window of calls in flight", () => {
  it.live("a call holds its place until it is answered; room opens only when no call waits for one", () =>
    Effect.gen(function*() {
      const pacer = yield* makeRequestPacer({ window: 1, ceiling: 10_000 })
      const sent: Array<string> = []
      const call = (name: string, gate: Effect.Effect<void>) =>
        pacer.paced(Effect.andThen(Effect.sync(() => sent.push(name)), gate), () => "admitted")
      const [releaseA, releaseB] = [yield* Latch.make(false), yield* Latch.make(false)]
      const a = yield* Effect.forkChild(call("a", releaseA.await))
      yield* Effect.sleep(Duration.millis(20))
      const b = yield* Effect.forkChild(call("b", releaseB.await))
      const room = yield* Effect.forkChild(pacer.room)
      yield* Effect.sleep(Duration.millis(20))
      assert.deepStrictEqual(sent, ["a"])
      yield* releaseA.open
      yield* Fiber.join(a)
      yield* Effect.sleep(Duration.millis(20))
      // b took the place a left; the collector waiting for room still waits.
      assert.deepStrictEqual(sent, ["a", "b"])
      assert.isUndefined(room.pollUnsafe())
      yield* releaseB.open
      yield* Fiber.join(b)
      yield* Fiber.join(room)
    }))
})

describe("a call that keeps being throttled", () => {
  it.effect("unpaced (a sink's): backs off twice as long as for other retryable errors, each attempt, and gives up after maxAttempts", () =>
    Effect.gen(function*() {
      const settings = { maxAttempts: 5, baseDelay: Duration.millis(100), maxDelay: Duration.seconds(60) }
      /** When each attempt of a call failing with `error` was made. */
      const attemptTimes = (error: { readonly retryable: boolean; readonly throttled: boolean }, paced = false) =>
        Effect.gen(function*() {
          const times: Array<number> = []
          const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
            times.push(now)
            return Effect.fail(error)
          })
          const fiber = yield* Effect.forkChild(Effect.retry(call, retryPolicy<typeof error>(settings, { paced })))
          yield* TestClock.adjust(Duration.minutes(1))
          const exit = yield* Fiber.await(fiber)
          assert.strictEqual(exit._tag, "Failure")
          return times.slice(1).map((t, i) => t - times[i]!)
        })
      const throttled = yield* attemptTimes({ retryable: true, throttled: true })
      const unavailable = yield* attemptTimes({ retryable: true, throttled: false })
      assert.strictEqual(throttled.length, settings.maxAttempts - 1)
      assert.strictEqual(unavailable.length, settings.maxAttempts - 1)
      throttled.forEach((gap, i) => {
        // Exponential from baseDelay with jitter (0.8 to 1.2 times), doubled for a throttle.
        const base = 100 * 2 ** i
        assert.isAtLeast(gap, 2 * 0.8 * base, `gap ${i}`)
        assert.isAtMost(gap, 2 * 1.2 * base, `gap ${i}`)
        assert.isAtMost(unavailable[i]!, 1.2 * base, `gap ${i}`)
      })
    }))

  it.effect("paced (AWS calls, whose rate slows the whole account): backs off from a quarter of baseDelay, doubling each attempt up to a second, and gives up after maxAttempts", () =>
    Effect.gen(function*() {
      const settings = { maxAttempts: 8, baseDelay: Duration.millis(200), maxDelay: Duration.seconds(20) }
      const throttle = { retryable: true, throttled: true }
      const times: Array<number> = []
      const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        times.push(now)
        return Effect.fail(throttle)
      })
      const fiber = yield* Effect.forkChild(Effect.retry(call, retryPolicy<typeof throttle>(settings, { paced: true })))
      yield* TestClock.adjust(Duration.minutes(1))
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(exit._tag, "Failure")
      assert.strictEqual(times.length, settings.maxAttempts)
      // The attempts' times are fractional (the jitter's): a difference of two is within a rounding error.
      const gaps = times.slice(1).map((t, i) => t - times[i]!)
      const rounding = 1e-6
      gaps.forEach((gap, i) => {
        // 50 ms, 100 ms, ... 800 ms, each with jitter (0.8 to 1.2 times), then 1 s: 3.5 s or so in all before it gives up.
        const base = (200 / 4) * 2 ** i
        assert.isAtLeast(gap, Math.min(0.8 * base, 1000) - rounding, `gap ${i}: ${gaps}`)
        assert.isAtMost(gap, Math.min(1.2 * base, 1000) + rounding, `gap ${i}: ${gaps}`)
      })
      assert.approximately(gaps.at(-1)!, 1000, rounding)
    }))

  it.live("its user is dead-lettered with Throttled once maxAttempts is spent; the other users are collected", () =>
    Effect.gen(function*() {
      // Every ListGroupsForUser is throttled: every user fails on it, and only on it.
      const emulator = yield* emulatorScoped({ users: 8, faults: { ListGroupsForUser: { throttleRate: 1 } } })
      const dir = tempDir()
      const retry = { maxAttempts: 4, baseDelay: "1ms", maxDelay: "10ms" } as const
      const summary = yield* runInProcess(configFor(emulator, dir, { collection: { retry } }))
      assert.strictEqual(summary.collected, 0)
      assert.strictEqual(summary.failed, 10)
      assert.isFalse(summary.complete)
      const records = readNdjson(path.join(dir, "dead-letter.ndjson"))
      assert.strictEqual(records.length, 10)
      for (const r of records) {
        assert.strictEqual(r.kind, "user")
        assert.deepInclude(r.error, { action: "ListGroupsForUser", reason: "Throttled", code: "Throttling" })
      }
      // maxAttempts attempts per user, no more, and the run's summary counts them.
      assert.strictEqual(emulator.counters().byAction["ListGroupsForUser"]!.throttled, 10 * retry.maxAttempts)
      assert.strictEqual(summary.aws.throttled, 10 * retry.maxAttempts)
      assert.strictEqual(summary.aws.retries, 10 * (retry.maxAttempts - 1))
    }), 60_000)
})

describe("a listing page that keeps being throttled", () => {
  it.effect("the policy with patience: a throttle is retried patience × maxAttempts times in all, any other error maxAttempts times", () =>
    Effect.gen(function*() {
      const settings = { maxAttempts: 4, baseDelay: Duration.millis(8), maxDelay: Duration.millis(100) }
      const attempts = (error: { readonly retryable: boolean; readonly throttled: boolean }, patience: number) =>
        Effect.gen(function*() {
          let n = 0
          const call = Effect.suspend(() => {
            n += 1
            return Effect.fail(error)
          })
          const fiber = yield* Effect.forkChild(Effect.retry(call, retryPolicy<typeof error>(settings, { paced: true, patience })))
          yield* TestClock.adjust(Duration.minutes(1))
          assert.strictEqual((yield* Fiber.await(fiber))._tag, "Failure")
          return n
        })
      assert.strictEqual(yield* attempts({ retryable: true, throttled: true }, 1), 4)
      assert.strictEqual(yield* attempts({ retryable: true, throttled: true }, 3), 12)
      assert.strictEqual(yield* attempts({ retryable: true, throttled: false }, 3), 4)
    }))

  it.live("a ListUsers page throttled more times in a row than maxAttempts allows a user's call: the run still completes", () =>
    Effect.gen(function*() {
      const retry = { maxAttempts: 4, baseDelay: "1ms", maxDelay: "10ms" } as const
      // 10 throttles in a row: a user's call would have given up after 4 attempts.
      const emulator = yield* emulatorScoped({ users: 5, faults: { ListUsers: { throttleFirst: 10 } } })
      const dir = tempDir()
      const summary = yield* runInProcess(configFor(emulator, dir, { collection: { retry } }))
      assert.isTrue(summary.complete)
      assert.strictEqual(summary.failed, 0)
      assert.strictEqual(readNdjson(path.join(dir, "events.ndjson")).length, summary.collected)
      assert.isAbove(summary.collected, 0)
      assert.strictEqual(emulator.counters().byAction["ListUsers"]!.throttled, 10)
    }), 60_000)

  it.live("bulk: the credential report's calls are as patient (GenerateCredentialReport and GetCredentialReport throttled 10 times in a row)", () =>
    Effect.gen(function*() {
      const retry = { maxAttempts: 4, baseDelay: "1ms", maxDelay: "10ms" } as const
      const emulator = yield* emulatorScoped({
        users: 5,
        faults: { GenerateCredentialReport: { throttleFirst: 10 }, GetCredentialReport: { throttleFirst: 10 } }
      })
      const dir = tempDir()
      const summary = yield* runInProcess(configFor(emulator, dir, { collection: { retry, strategy: "bulk" } }))
      assert.isTrue(summary.complete)
      assert.strictEqual(readNdjson(path.join(dir, "events.ndjson")).length, 7)
      assert.strictEqual(emulator.counters().byAction["GenerateCredentialReport"]!.throttled, 10)
      assert.strictEqual(emulator.counters().byAction["GetCredentialReport"]!.throttled, 10)
    }), 60_000)

  it.live("throttled beyond its patience (LISTING_PATIENCE × maxAttempts attempts): the run fails, Throttled named", () =>
    Effect.gen(function*() {
      const retry = { maxAttempts: 4, baseDelay: "1ms", maxDelay: "10ms" } as const
      const emulator = yield* emulatorScoped({ users: 5, faults: { ListUsers: { throttleFirst: 1_000 } } })
      const error = yield* runInProcess(configFor(emulator, tempDir(), { collection: { retry } })).pipe(Effect.flip)
      assert.deepInclude(error, { action: "ListUsers" })
      assert.strictEqual((error as { readonly reason: { readonly _tag: string } }).reason._tag, "Throttled")
      // Bounded: no more attempts than its patience allows.
      assert.strictEqual(emulator.counters().byAction["ListUsers"]!.throttled, LISTING_PATIENCE * retry.maxAttempts)
    }), 60_000)
})

describe("an AWS call that is throttled", () => {
  it.live("is retried with the paced backoff, from a quarter of baseDelay: the account's rate, not the call's wait, answers a full budget", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 2, faults: { ListGroupsForUser: { throttleRate: 1 } } })
      const dir = tempDir()
      const retry = { maxAttempts: 4, baseDelay: "40ms", maxDelay: "10s" } as const
      /** The delay of each retry the policy logged, by action and attempt. */
      const retries: Array<{ readonly action: unknown; readonly attempt: unknown; readonly delayMs: unknown }> = []
      const capture = Logger.make(({ fiber, message }) => {
        if ((Array.isArray(message) ? message[0] : message) !== "retrying IAM call") return
        const { action, attempt, delayMs } = fiber.getRef(References.CurrentLogAnnotations)
        retries.push({ action, attempt, delayMs })
      })
      const summary = yield* runInProcess(configFor(emulator, dir, { collection: { retry } })).pipe(
        Effect.provide(Logger.layer([capture])),
        Effect.provide(Layer.succeed(References.MinimumLogLevel, "Debug"))
      )
      assert.strictEqual(summary.failed, 4)
      const throttled = retries.filter((r) => r.action === "ListGroupsForUser")
      assert.strictEqual(throttled.length, 4 * (retry.maxAttempts - 1))
      for (const { attempt, delayMs } of throttled) {
        // 10 ms, 20 ms, 40 ms with jitter (0.8 to 1.2 times), where an unpaced throttle waits 80, 160, 320 ms.
        const base = (40 / 4) * 2 ** (Number(attempt) - 1)
        assert.isAtLeast(Number(delayMs), 0.8 * base, JSON.stringify(throttled))
        assert.isAtMost(Number(delayMs), 1.2 * base, JSON.stringify(throttled))
      }
    }), 60_000)
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
