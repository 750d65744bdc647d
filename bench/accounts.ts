/**
 * Many accounts in one run, against the emulator's organization (in its own process, each
 * account with its own request budget): bulk over 50 accounts of 2,000 users against one account
 * of 100,000 (the same users, spread: the cost of discovery, role sessions and per-account work),
 * and per-user over 10 accounts of 500 users, where each account's budget is the limit (the
 * aggregate rate against the sum of the budgets: accounts read at once must not slow each other).
 * Each collection runs compiled, in a process of its own, as `bin/iam-ocsf` runs it.
 *
 * `npm run build && npx node $(cat bin/node-flags) dist/bench/accounts.js`
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
import { runInChild, serveJob } from "./childJob.ts"
import { startEmulatorProcess } from "./emulatorProcess.ts"

export interface AccountsBenchOptions {
  readonly latencyMs: number
  /** Each account's requests per second. */
  readonly budget: number
  /** Bulk: this many accounts of `bulkUsers` users, against one account of their product. */
  readonly bulkAccounts: number
  readonly bulkUsers: number
  /** Per-user: this many accounts of `perUserUsers` users. */
  readonly perUserAccounts: number
  readonly perUserUsers: number
  /** Accounts read at once. */
  readonly concurrency: number
}

export const defaultAccountsBench: AccountsBenchOptions = {
  latencyMs: 20,
  budget: 100,
  bulkAccounts: 50,
  bulkUsers: 2_000,
  perUserAccounts: 10,
  perUserUsers: 500,
  concurrency: 10
}

interface Job {
  readonly url: string
  readonly strategy: CollectionStrategy
  /** Read the organization's accounts (else the credentials' own account). */
  readonly organization: boolean
  readonly concurrency: number
}

export interface AccountsRun {
  readonly name: string
  readonly accounts: number
  readonly users: number
  readonly seconds: number
  readonly awsCalls: number
  readonly throttled: number
  readonly peakRssMb: number
}

/** In the child: one run, as `iam-ocsf run --once` does it. */
const runJob = async (job: Job): Promise<Omit<AccountsRun, "name">> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-accounts-"))
  try {
    const config = defaultConfig({
      aws: { endpoint: job.url, accessKeyId: "AKIABENCHBENCHBENCH0", secretAccessKey: "bench" },
      collection: { strategy: job.strategy },
      ...(job.organization ? { accounts: { organization: { roleName: "iam-ocsf-reader" }, concurrency: job.concurrency } } : {}),
      sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }],
      deadLetter: { path: path.join(dir, "dead-letter.ndjson") }
    })
    const started = performance.now()
    const summary = await Effect.runPromise(runOnce(config).pipe(
      Effect.provide(Layer.provideMerge(runLayer(config), NodeServices.layer)),
      Effect.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))
    ))
    const seconds = (performance.now() - started) / 1000
    if (!summary.complete) throw new Error(`incomplete run: ${summary.failed} users failed, accounts ${JSON.stringify(summary.accounts.filter((a) => a.status !== "complete"))}`)
    return {
      accounts: Math.max(1, summary.accounts.length),
      users: summary.collected,
      seconds: round(seconds),
      awsCalls: summary.aws.calls,
      throttled: summary.aws.throttled,
      // kilobytes on Linux
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const run = async (name: string, emulatorArgs: ReadonlyArray<string>, job: Omit<Job, "url">): Promise<AccountsRun> => {
  const emulator = await startEmulatorProcess(emulatorArgs)
  try {
    return { name, ...(await runInChild<Job, Omit<AccountsRun, "name">>(import.meta.filename, { ...job, url: emulator.url })) }
  } finally {
    await emulator.stop()
  }
}

export interface AccountsFigures {
  readonly options: AccountsBenchOptions
  readonly runs: ReadonlyArray<AccountsRun>
  /** Bulk: many accounts' time ÷ one account's (target ≤ 1.5). */
  readonly bulkRatio: number
  /** Per-user: answered calls per second ÷ the sum of the budgets (target ≥ 0.9). */
  readonly budgetUsed: number
  readonly throttledShare: number
}

export const accountsBench = async (options: AccountsBenchOptions = defaultAccountsBench): Promise<AccountsFigures> => {
  const common = ["--latency-ms", String(options.latencyMs), "--rps", String(options.budget)]
  const total = options.bulkAccounts * options.bulkUsers
  // The management account holds the spec's two examples besides its generated users.
  const single = await run(`bulk, 1 account`, [...common, "--users", String(total - 2)], {
    strategy: "bulk",
    organization: false,
    concurrency: 1
  })
  const many = await run(`bulk, ${options.bulkAccounts} accounts`, [
    ...common,
    "--users", String(options.bulkUsers - 2),
    "--accounts", String(options.bulkAccounts),
    "--users-per-account", String(options.bulkUsers)
  ], { strategy: "bulk", organization: true, concurrency: options.concurrency })
  const perUser = await run(`per-user, ${options.perUserAccounts} accounts`, [
    ...common,
    "--users", String(options.perUserUsers - 2),
    "--accounts", String(options.perUserAccounts),
    "--users-per-account", String(options.perUserUsers)
  ], { strategy: "per-user", organization: true, concurrency: options.perUserAccounts })
  return {
    options,
    runs: [single, many, perUser],
    bulkRatio: round(many.seconds / single.seconds),
    budgetUsed: round((perUser.awsCalls - perUser.throttled) / perUser.seconds / (options.budget * options.perUserAccounts)),
    throttledShare: round(perUser.throttled / perUser.awsCalls, 4)
  }
}

export const printAccounts = (f: AccountsFigures): void => {
  const o = f.options
  console.log(
    `## many accounts: ${o.latencyMs} ms per call, a budget of ${o.budget} requests/s per account, ${o.concurrency} accounts at once (per-user: all)`
  )
  console.table(f.runs)
  const bulk = f.runs[1]!
  console.log(`bulk, ${o.bulkAccounts} × ${o.bulkUsers} users against 1 × ${o.bulkAccounts * o.bulkUsers}: ${f.bulkRatio}x the time (target ≤ 1.5)`)
  console.log(
    `per-user, ${o.perUserAccounts} × ${o.perUserUsers} users: ${Math.round(f.budgetUsed * 100)}% of the summed budgets used (target ≥ 90%), ` +
      `${(f.throttledShare * 100).toFixed(2)}% throttled (target < 1%)`
  )
  console.log(`peak RSS of the ${o.bulkAccounts}-account run: ${bulk.peakRssMb} MB (target < 250)`)
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

if (import.meta.main) {
  await serveJob(runJob)
  printAccounts(await accountsBench())
}
