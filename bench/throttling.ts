/**
 * The `throttling` section of `npm run bench`: how a run fares when the account throttles, at
 * random (other tools sharing IAM's account-wide budget) or above a budget of requests per
 * second, or both (the emulator checks its budget first, then throttles at random what the
 * budget let through), and what each AWS call costs the collector in CPU. Figures against the
 * targets of issue 11, each with its ratio to its target:
 * - per-user, 2,000 users, 20 ms a call: 20% random throttling within 1.5× the clean run's
 *   time, 50% within 3×; a budget of 100 requests/s at least 90% used with under 1% of calls
 *   throttled; a budget of 100 requests/s and 10% random throttling at least 80% used;
 * - bulk under 20% random throttling within 2× its clean time (medians of five runs each, each
 *   with an emulator seed of its own);
 * - CPU (user + system seconds of the collector's process, per AWS call) at 0 ms a call,
 *   per-user, 10,000 users: at most 1.0 ms.
 * Each run has a process of its own and so does the emulator (`emulatorProcess.ts`); the
 * collector runs compiled with the flags of this process (`bin/node-flags` under `npm run bench`).
 *
 * `npm run bench -- --only throttling [--throttling-users 2000] [--cpu-users 10000]`
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type { CollectionStrategy } from "../src/collect/CollectionConfig.ts"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { runLayer, runOnce } from "../src/run/Runner.ts"
import { pushback } from "../src/run/RunStats.ts"
import { runInChild, serveJob } from "./childJob.ts"
import { startEmulatorProcess } from "./emulatorProcess.ts"

interface Job {
  readonly url: string
  readonly strategy: CollectionStrategy
  readonly users: number
}

export interface ThrottlingRun {
  readonly name: string
  readonly strategy: CollectionStrategy
  readonly users: number
  readonly collected: number
  readonly failed: number
  readonly seconds: number
  readonly awsCalls: number
  readonly throttled: number
  readonly retries: number
  /** Answered calls (not throttled) per second. */
  readonly answeredPerSecond: number
  /** The learned request rate: its mean over the run and its peak, requests per second. */
  readonly meanRate: number
  readonly peakRate: number
  /** User + system CPU of the collector's process, milliseconds per AWS call. */
  readonly cpuMsPerCall: number
  readonly pushedBack: boolean
  /** When the run failed as a whole (ListUsers kept being throttled, say). */
  readonly error?: string
}

/** One collection run in this process (what a child does): its figures, failures included. */
const runJob = async (job: Job): Promise<Omit<ThrottlingRun, "name">> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-"))
  try {
    const config = defaultConfig({
      aws: { endpoint: job.url, accessKeyId: "AKIABENCHBENCHBENCH0", secretAccessKey: "bench" },
      collection: { strategy: job.strategy },
      sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }],
      deadLetter: { path: path.join(dir, "dead-letter.ndjson") }
    })
    const program = runOnce(config).pipe(
      Effect.provide(Layer.provideMerge(runLayer(config), NodeServices.layer)),
      Effect.provide(Layer.succeed(References.MinimumLogLevel, "None"))
    )
    const started = performance.now()
    const exit = await Effect.runPromiseExit(program)
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage()
    if (exit._tag === "Failure") {
      return {
        strategy: job.strategy, users: job.users, collected: 0, failed: 0, seconds: round(seconds), awsCalls: 0, throttled: 0,
        retries: 0, answeredPerSecond: 0, meanRate: 0, peakRate: 0, cpuMsPerCall: 0, pushedBack: false,
        error: String(exit.cause).split("\n")[0]!
      }
    }
    const s = exit.value
    return {
      strategy: job.strategy,
      users: job.users,
      collected: s.collected,
      failed: s.failed,
      seconds: round(seconds),
      awsCalls: s.aws.calls,
      throttled: s.aws.throttled,
      retries: s.aws.retries,
      answeredPerSecond: round((s.aws.calls - s.aws.throttled) / seconds),
      meanRate: round(s.aws.rate.mean),
      peakRate: round(s.aws.rate.peak),
      cpuMsPerCall: round(((cpu.user + cpu.system) / 1000) / Math.max(1, s.aws.calls), 3),
      pushedBack: pushback(s) !== undefined
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const runJobInChild = (job: Job, flags: ReadonlyArray<string>) =>
  runInChild<Job, Omit<ThrottlingRun, "name">>(import.meta.filename, job, flags)


interface Account {
  readonly latencyMs: number
  readonly throttleRate?: number
  readonly budget?: number
  /** The emulator's seed: which calls its random throttling hits. */
  readonly seed?: number
}

/** A run against an emulator of its own (each starts with a full budget and no credential report). */
const run = async (name: string, strategy: CollectionStrategy, users: number, account: Account, flags: ReadonlyArray<string>) => {
  const emulator = await startEmulatorProcess([
    "--users", String(users - 2),
    "--latency-ms", String(account.latencyMs),
    ...(account.throttleRate === undefined ? [] : ["--throttle-rate", String(account.throttleRate)]),
    ...(account.budget === undefined ? [] : ["--rps", String(account.budget)]),
    ...(account.seed === undefined ? [] : ["--seed", String(account.seed)])
  ])
  try {
    const figures = await runJobInChild({ url: emulator.url, strategy, users }, flags)
    const result: ThrottlingRun = { name, ...figures }
    console.log(`  ${name}: ${result.error ?? `${result.seconds}s, ${result.awsCalls} calls, ${result.throttled} throttled`}`)
    return result
  } finally {
    await emulator.stop()
  }
}

export interface ThrottlingBenchOptions {
  /** Users of the per-user and bulk runs (20 ms a call). */
  readonly users: number
  /** Users of the CPU run (0 ms a call, per-user). */
  readonly cpuUsers: number
  readonly collectorFlags?: ReadonlyArray<string>
}

export interface Target {
  readonly figure: string
  readonly value: number
  readonly target: string
  /** value ÷ target for an "at most", target ÷ value for an "at least": ≤ 1 meets it. */
  readonly ratio: number
}

export const throttlingBench = async (options: ThrottlingBenchOptions) => {
  const flags = options.collectorFlags ?? process.execArgv
  const { users } = options
  const perUser = (name: string, account: Account) => run(name, "per-user", users, account, flags)
  const clean = await perUser("per-user, clean", { latencyMs: 20 })
  const random20 = await perUser("per-user, 20% random", { latencyMs: 20, throttleRate: 0.2 })
  const random50 = await perUser("per-user, 50% random", { latencyMs: 20, throttleRate: 0.5 })
  const budget = await perUser("per-user, budget 100/s", { latencyMs: 20, budget: 100 })
  const both = await perUser("per-user, budget 100/s + 10% random", { latencyMs: 20, budget: 100, throttleRate: 0.1 })
  // A bulk run is a dozen calls, mostly one after another: whether none or five of them are
  // throttled decides its time, and the emulator's seed decides which are. Several runs each,
  // each with a seed of its own, and the medians compared.
  const bulkRuns = async (name: string, account: Account) => {
    const runs: Array<ThrottlingRun> = []
    for (let seed = 1; seed <= BULK_REPEATS; seed++) runs.push(await run(`${name}, seed ${seed}`, "bulk", users, { ...account, seed }, flags))
    return runs
  }
  const bulkClean = await bulkRuns("bulk, clean", { latencyMs: 20 })
  const bulk20 = await bulkRuns("bulk, 20% random", { latencyMs: 20, throttleRate: 0.2 })
  const cpu = await run(`per-user, ${options.cpuUsers} users, 0 ms`, "per-user", options.cpuUsers, { latencyMs: 0 }, flags)
  const runs = [clean, random20, random50, budget, both, ...bulkClean, ...bulk20, cpu]

  // What the budget let through: answered calls, and the random throttles among what it admitted.
  const budgetUsed = (r: ThrottlingRun, throttleRate: number) =>
    r.error === undefined ? r.answeredPerSecond / (1 - throttleRate) / 100 : Number.NaN
  const atMost = (figure: string, value: number, limit: number, unit = "×"): Target => ({
    figure, value: round(value), target: `≤ ${limit}${unit}`, ratio: round(value / limit)
  })
  const atLeast = (figure: string, value: number, limit: number, unit = "%"): Target => ({
    figure, value: round(value), target: `≥ ${limit}${unit}`, ratio: round(limit / value)
  })
  // A run that failed as a whole meets no target: its time is only how long it took to fail.
  const seconds = (r: ThrottlingRun) => (r.error === undefined ? r.seconds : Number.NaN)
  const targets: Array<Target> = [
    atMost("20% random: time vs clean", seconds(random20) / seconds(clean), 1.5),
    atMost("50% random: time vs clean", seconds(random50) / seconds(clean), 3),
    atLeast("budget 100/s: % used", 100 * budgetUsed(budget, 0), 90),
    atMost("budget 100/s: % throttled", (100 * budget.throttled) / Math.max(1, budget.awsCalls), 1, "%"),
    atLeast("budget 100/s + 10% random: % used", 100 * budgetUsed(both, 0.1), 80),
    atMost(`bulk, 20% random: median time vs clean (${BULK_REPEATS} runs each)`, median(bulk20) / median(bulkClean), 2),
    atMost("CPU per AWS call, ms", cpu.error === undefined ? cpu.cpuMsPerCall : Number.NaN, 1.0, " ms")
  ]
  return { runs, targets }
}

export const printThrottling = (f: Awaited<ReturnType<typeof throttlingBench>>): void => {
  console.table(f.runs.map(({ strategy: _, ...r }) => r))
  console.table(f.targets)
  const missed = f.targets.filter((t) => !(t.ratio <= 1))
  const failed = f.runs.filter((r) => r.error !== undefined).map((r) => r.name)
  if (failed.length > 0) console.log(`runs that failed as a whole (their targets count as missed): ${failed.join("; ")}`)
  console.log(missed.length === 0 ? "every target met" : `targets missed: ${missed.map((t) => t.figure).join("; ")}`)
}

const BULK_REPEATS = 5
const median = (runs: ReadonlyArray<ThrottlingRun>) =>
  runs.some((r) => r.error !== undefined)
    ? Number.NaN
    : [...runs].map((r) => r.seconds).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

if (import.meta.main) {
  await serveJob(runJob)
}
