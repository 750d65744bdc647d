/**
 * A simulated AWS account and a simulated collector around `AdaptiveRate`, on a simulated clock:
 * the account refuses requests above its budget (a token bucket, burst = one second of budget,
 * as the emulator's) and a fraction at random (other tools sharing it), from a seeded PRNG, so
 * a scenario always plays out the same. The collector sends as fast as the controller allows,
 * up to what it can send (`demand`). Throttles of the budget are answered at once, every other
 * answer after `latencyMs`, as by the emulator.
 */
import { AdaptiveRate, type AdaptiveRateOptions } from "../src/iam/AdaptiveRate.ts"

export interface Scenario {
  readonly seconds: number
  /** Requests per second the account admits at `t` seconds; undefined: no budget. */
  readonly budget?: (t: number) => number | undefined
  /** Fraction of the requests the budget admitted that are throttled anyway. */
  readonly noise?: number
  /** Requests per second the collector can send at most (at `t` seconds). */
  readonly demand?: number | ((t: number) => number)
  readonly latencyMs?: number
  readonly seed?: number
  readonly options?: AdaptiveRateOptions
}

export interface Window {
  readonly seconds: number
  readonly sent: number
  readonly admitted: number
  readonly throttled: number
  /** Admitted by the budget (noise throttles included): what the account's budget was used for. */
  readonly budgetUsed: number
}

export interface Simulation {
  /** Figures of the answers to requests sent from `from` to `to` seconds. */
  readonly window: (from: number, to: number) => Window
  readonly rate: AdaptiveRate
  /** The rate at each whole second. */
  readonly rates: ReadonlyArray<number>
}

/** Mulberry32: small, seeded, good enough for coin flips. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Answer {
  readonly at: number
  readonly tag: number
  readonly throttled: boolean
}

export const simulate = (s: Scenario): Simulation => {
  const random = prng(s.seed ?? 1)
  const latency = s.latencyMs ?? 20
  const demand = typeof s.demand === "function" ? s.demand : ((d: number) => () => d)(s.demand ?? 2_000)
  const noise = s.noise ?? 0
  const rate = new AdaptiveRate(0, s.options)
  const end = s.seconds * 1000
  // Two queues, each in time order: budget throttles (at once) and the rest (after the latency).
  const fast: Array<Answer> = []
  const slow: Array<Answer> = []
  let fastHead = 0
  let slowHead = 0
  let tokens = s.budget?.(0) ?? 0
  let lastRefill = 0
  // Per second of sending: sent, admitted, throttled, used.
  const seconds = Array.from({ length: s.seconds + 1 }, () => [0, 0, 0, 0])
  const rates: Array<number> = []
  let nextSend = 0
  for (;;) {
    const a = fastHead < fast.length ? fast[fastHead]! : undefined
    const b = slowHead < slow.length ? slow[slowHead]! : undefined
    const answer = a === undefined ? b : b === undefined ? a : a.at <= b.at ? a : b
    if (answer !== undefined && answer.at <= nextSend) {
      if (answer === a) fastHead += 1
      else slowHead += 1
      rate.answered(answer.at, answer.tag, answer.throttled)
      continue
    }
    const now = nextSend
    if (now >= end) break
    while (rates.length <= now / 1000) rates.push(rate.rate)
    const tag = rate.sent(now)
    const second = seconds[Math.floor(now / 1000)]!
    second[0]! += 1
    const budget = s.budget?.(now / 1000)
    let admittedByBudget = true
    if (budget !== undefined) {
      tokens = Math.min(budget, tokens + ((now - lastRefill) * budget) / 1000)
      lastRefill = now
      if (tokens >= 1) tokens -= 1
      else admittedByBudget = false
    }
    if (!admittedByBudget) {
      second[2]! += 1
      fast.push({ at: now + 1, tag, throttled: true })
    } else {
      second[3]! += 1
      const throttled = random() < noise
      second[throttled ? 2 : 1]! += 1
      slow.push({ at: now + latency, tag, throttled })
    }
    nextSend = now + 1000 / Math.min(rate.rate, demand(now / 1000))
  }
  return {
    rate,
    rates,
    window: (from, to) => {
      const sum = (i: number) => seconds.slice(from, to).reduce((n, x) => n + x[i]!, 0)
      return { seconds: to - from, sent: sum(0), admitted: sum(1), throttled: sum(2), budgetUsed: sum(3) }
    }
  }
}
