/**
 * The two collection strategies side by side, then bulk alone on large accounts: figures, not
 * assertions. The emulator runs in a child process (with the given latency per call and
 * request budget per second, throttling above it like AWS) and so does each collection run,
 * so that neither the emulator nor an earlier run counts in a run's time or peak RSS (the
 * kernel's high-water mark of the collector's process, `maxRSS`).
 *
 * Each collector runs compiled (`dist/`), as `bin/iam-ocsf` runs it: type stripping at load time
 * would add its own 35 MB to every figure.
 *
 * `npm run build && npx node $(cat bin/node-flags) dist/bench/strategies.js [--users 2000] [--latency-ms 20]
 *   [--budget 100] [--bulk-sizes 10000,100000] [--repeats 3] [--profile spec] [--collector-flags ""]` (`--users 0`: large accounts
 *   only; `--collector-flags ""`: V8's defaults)
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type { CollectionStrategy } from "../src/collect/CollectionConfig.ts"
import type { OcsfProfile } from "../src/ocsf/index.ts"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { runLayer, runOnce } from "../src/run/Runner.ts"
import { jobOf, runInChild } from "./childJob.ts"
import { startEmulatorProcess } from "./emulatorProcess.ts"

export interface StrategiesBenchOptions {
  /** Users of the account both strategies collect. */
  readonly users: number
  readonly latencyMs: number
  /** The emulated account's requests per second. */
  readonly budget: number
  /** Accounts that bulk alone collects. */
  readonly bulkSizes: ReadonlyArray<number>
  /**
   * Runs of each of those: a peak RSS varies by some 20 MB from run to run (when V8's collections
   * happen to fall), so one run is no figure to compare with a limit.
   */
  readonly repeats: number
  /** Node flags of the collector's process; default this process's own, which `npm run bench` sets to `bin/node-flags` (as `bin/iam-ocsf` runs). */
  readonly collectorFlags?: ReadonlyArray<string>
  /** The events' profile; default `spec`. The strict profiles need more calls (README, "AWS credentials and permissions"). */
  readonly profile?: OcsfProfile
}

export const defaultStrategiesBench: StrategiesBenchOptions = {
  users: 2_000,
  latencyMs: 20,
  budget: 100,
  bulkSizes: [10_000, 100_000],
  repeats: 3
}

export interface RunFigures {
  readonly strategy: CollectionStrategy
  readonly users: number
  readonly seconds: number
  /** Attempts sent to AWS, throttled ones included. */
  readonly awsCalls: number
  readonly throttled: number
  /** Answered (not throttled) calls per second over the run, against the budget. */
  readonly budgetUsed: number
  /** The collector's resident memory before the run, its modules loaded: what no run can go below. */
  readonly idleRssMb: number
  readonly peakRssMb: number
}

export interface StrategiesFigures {
  readonly options: StrategiesBenchOptions
  /** Absent when `users` is 0 (large accounts only). */
  readonly perUser: RunFigures | undefined
  readonly bulk: RunFigures | undefined
  /** per-user ÷ bulk. */
  readonly fewerCalls: number | undefined
  readonly faster: number | undefined
  readonly large: ReadonlyArray<RunFigures>
}

interface ChildJob {
  readonly url: string
  readonly strategy: CollectionStrategy
  readonly users: number
  readonly budget: number
  readonly profile: OcsfProfile
}

/** One collection run in this process: what a child does (and `allocations.ts`). */
export const runJob = async (job: ChildJob): Promise<RunFigures> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-"))
  try {
    const config = defaultConfig({
      aws: { endpoint: job.url, accessKeyId: "AKIABENCHBENCHBENCH0", secretAccessKey: "bench" },
      collection: { strategy: job.strategy },
      ocsf: { profile: job.profile },
      sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }],
      deadLetter: { path: path.join(dir, "dead-letter.ndjson") }
    })
    const program = runOnce(config).pipe(
      Effect.provide(Layer.provideMerge(runLayer(config), NodeServices.layer)),
      Effect.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))
    )
    const idleRssMb = Math.round(process.memoryUsage().rss / 1024 / 1024)
    const started = performance.now()
    const summary = await Effect.runPromise(program)
    const seconds = (performance.now() - started) / 1000
    if (summary.collected !== job.users || !summary.complete) {
      throw new Error(`collected ${summary.collected} of ${job.users} users (${summary.failed} failed)`)
    }
    const awsCalls = summary.aws.calls
    return {
      strategy: job.strategy,
      users: job.users,
      seconds: round(seconds),
      awsCalls,
      throttled: summary.aws.throttled,
      budgetUsed: round((awsCalls - summary.aws.throttled) / seconds / job.budget),
      idleRssMb,
      // kilobytes on Linux
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** One collection run in a child process of its own. */
const runJobInChild = (job: ChildJob, flags: ReadonlyArray<string>) => runInChild<ChildJob, RunFigures>(import.meta.filename, job, flags)

const withEmulator = async <A>(users: number, options: StrategiesBenchOptions, f: (url: string) => Promise<A>) => {
  const emulator = await startEmulatorProcess([
    "--users", String(users - 2),
    "--latency-ms", String(options.latencyMs),
    "--rps", String(options.budget)
  ])
  try {
    return await f(emulator.url)
  } finally {
    await emulator.stop()
  }
}

export const strategiesBench = async (options: StrategiesBenchOptions = defaultStrategiesBench): Promise<StrategiesFigures> => {
  const flags = options.collectorFlags ?? process.execArgv
  const run = (strategy: CollectionStrategy, users: number) =>
    // One emulator per run: each starts with a full request budget and no credential report.
    withEmulator(users, options, (url) => runJobInChild({ url, strategy, users, budget: options.budget, profile: options.profile ?? "spec" }, flags))
  const perUser = options.users > 0 ? await run("per-user", options.users) : undefined
  const bulk = options.users > 0 ? await run("bulk", options.users) : undefined
  const large: Array<RunFigures> = []
  for (const users of options.bulkSizes) {
    for (let i = 0; i < options.repeats; i++) large.push(await run("bulk", users))
  }
  return {
    options,
    perUser,
    bulk,
    fewerCalls: perUser && bulk ? round(perUser.awsCalls / bulk.awsCalls) : undefined,
    faster: perUser && bulk ? round(perUser.seconds / bulk.seconds) : undefined,
    large
  }
}

export const printStrategies = (f: StrategiesFigures): void => {
  const o = f.options
  const flags = `; profile ${o.profile ?? "spec"}; collector flags: ${(o.collectorFlags ?? process.execArgv).join(" ") || "none (V8 defaults)"}`
  if (f.perUser !== undefined && f.bulk !== undefined) {
    console.log(
      `## collection strategies: ${o.users} users, ${o.latencyMs} ms per call, account budget ${o.budget} requests/s, file sink${flags}`
    )
    console.table([f.perUser, f.bulk])
    console.log(`bulk vs per-user: ${f.fewerCalls}x fewer AWS calls, ${f.faster}x sooner`)
    console.log(
      `per-user: ${Math.round(f.perUser.budgetUsed * 100)}% of the budget used, ` +
        `${(100 * f.perUser.throttled / f.perUser.awsCalls).toFixed(2)}% of calls throttled`
    )
  }
  if (f.large.length > 0) {
    console.log(`## bulk on large accounts (same latency and budget${flags})`)
    console.table(f.large)
    for (const users of o.bulkSizes) {
      const runs = f.large.filter((r) => r.users === users)
      const range = (pick: (r: RunFigures) => number, unit: string) => {
        const values = runs.map(pick).sort((a, b) => a - b)
        return `${values[0]}–${values[values.length - 1]} ${unit} (median ${values[Math.floor(values.length / 2)]})`
      }
      console.log(`bulk, ${users} users, ${runs.length} runs: peak RSS ${range((r) => r.peakRssMb, "MB")}, ${range((r) => r.seconds, "s")}`)
    }
  }
}

const round = (n: number) => Math.round(n * 100) / 100

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i < 0 ? undefined : process.argv[i + 1]
}

const numbers = (name: string, fallback: string): Array<number> =>
  (flag(name) ?? fallback).split(",").filter((s) => s !== "").map(Number)

if (import.meta.main) {
  const job = jobOf<ChildJob>()
  if (job !== undefined) {
    console.log(JSON.stringify(await runJob(job)))
  } else {
    const d = defaultStrategiesBench
    printStrategies(
      await strategiesBench({
        users: numbers("--users", String(d.users))[0]!,
        latencyMs: numbers("--latency-ms", String(d.latencyMs))[0]!,
        budget: numbers("--budget", String(d.budget))[0]!,
        bulkSizes: numbers("--bulk-sizes", d.bulkSizes.join(",")),
        repeats: numbers("--repeats", String(d.repeats))[0]!,
        ...(flag("--profile") === undefined ? {} : { profile: flag("--profile") as OcsfProfile }),
        ...(flag("--collector-flags") === undefined
          ? {}
          : { collectorFlags: flag("--collector-flags")!.split(" ").filter((s) => s !== "") })
      })
    )
  }
}
