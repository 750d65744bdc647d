/**
 * `npm run bench`: figures, not assertions. Sections (all by default, or `--only a,b`):
 *   collect     per-user collection, N users at a fixed latency per call, at two concurrencies
 *   strategies  per-user vs bulk under a requests/s budget, then bulk alone on large accounts
 *   sinks       events/s into the file, the webhook and the Kafka mock
 *   soak        the daemon loop for many short runs: RSS must stay flat
 *   state       the state stores alone (SQLite, PostgreSQL): a baseline of N users, then a run with 1% changed
 *   changes     whole runs with change events: 100,000 users, a baseline, then 1% changed through the SDK,
 *               against a plain snapshot run (time, commit, store size, peak RSS, events)
 *   startup     the shipped CLI from start to exit: --version, validate-config, a bulk run --once
 *   throttling  runs under random throttling and a request budget, and CPU per AWS call, against targets
 *   accounts    an organization: bulk over 50 accounts against one as large, per-user over 10 budgets
 *   workers     1, 2 and 3 worker daemons sharing 60 accounts through one PostgreSQL (not in the default set)
 * Run it on a quiet machine: the emulator and the collector share its cores. It runs compiled
 * (`dist/`) with the Node flags of `bin/node-flags`, as `bin/iam-ocsf` runs the CLI.
 */
import * as os from "node:os"
import { parseArgs } from "node:util"
import { OcsfProfile } from "../src/ocsf/index.ts"
import { collectBench } from "./collect.ts"
import { sinksBench } from "./sinks.ts"
import { soakBench } from "./soak.ts"
import { stateBench } from "./state.ts"
import { changesBench, defaultChangesBench, printChanges } from "./changes.ts"
import { defaultStartupBench, printStartup, startupBench } from "./startup.ts"
import { defaultStrategiesBench, printStrategies, strategiesBench } from "./strategies.ts"
import { printThrottling, throttlingBench } from "./throttling.ts"
import { accountsBench, printAccounts } from "./accounts.ts"

const { values } = parseArgs({
  options: {
    only: { type: "string", default: "collect,strategies,sinks,soak,startup,throttling,accounts" },
    users: { type: "string", default: "10000" },
    "latency-ms": { type: "string", default: "20" },
    concurrency: { type: "string", default: "8,32" },
    "strategy-users": { type: "string", default: String(defaultStrategiesBench.users) },
    budget: { type: "string", default: String(defaultStrategiesBench.budget) },
    "bulk-sizes": { type: "string", default: defaultStrategiesBench.bulkSizes.join(",") },
    repeats: { type: "string", default: String(defaultStrategiesBench.repeats) },
    profile: { type: "string", default: "spec" },
    "sink-events": { type: "string", default: "50000" },
    "soak-runs": { type: "string", default: "500" },
    "soak-users": { type: "string", default: "50" },
    "state-users": { type: "string", default: "100000" },
    "changes-users": { type: "string", default: String(defaultChangesBench.users) },
    "startup-runs": { type: "string", default: String(defaultStartupBench.runs) },
    "startup-users": { type: "string", default: String(defaultStartupBench.users) },
    "startup-root": { type: "string" },
    "startup-node-flags": { type: "string" },
    "throttling-users": { type: "string", default: "2000" },
    "cpu-users": { type: "string", default: "10000" },
    help: { type: "boolean", default: false }
  }
})
if (values.help) {
  console.log(
    "npm run bench -- [--only collect,strategies,sinks,soak,startup,throttling,accounts] [--users N] [--latency-ms MS] [--concurrency A,B]\n" +
      "  [--strategy-users N] [--budget RPS] [--bulk-sizes A,B] [--repeats N] [--profile spec|strict|strict-cloud]\n" +
      "  [--sink-events N] [--soak-runs N] [--soak-users N]\n" +
      "  [--startup-runs N] [--startup-users N] [--startup-root DIR (another checkout, built)]\n" +
      "  [--startup-node-flags FLAGS (replace bin/node-flags; \"\" = V8's defaults)]\n" +
      "  [--throttling-users N] [--cpu-users N]\n" +
      "  [--state-users N] [--changes-users N]   (state and changes are not in the default set: --only state,changes)\n" +
      "  (workers, 1-3 worker daemons on one PostgreSQL, is not in the default set either)"
  )
  process.exit(0)
}
const sections = new Set(values.only.split(","))
const numbers = (s: string) => s.split(",").map(Number)
const latencyMs = Number(values["latency-ms"])

if (sections.has("collect")) {
  const users = Number(values.users)
  console.log(`\n## per-user collection: ${users} users, emulator latency ${latencyMs} ms per call, file sink`)
  const rows = []
  for (const concurrency of numbers(values.concurrency)) rows.push(await collectBench({ users, latencyMs, concurrency }))
  console.table(rows)
  if (rows.length > 1) {
    const [first, last] = [rows[0]!, rows[rows.length - 1]!]
    console.log(
      `concurrency ${last.concurrency} vs ${first.concurrency}: ${(last.usersPerSecond / first.usersPerSecond).toFixed(2)}x users/s, ` +
        `${(last.peakRssMb / first.peakRssMb).toFixed(2)}x peak RSS`
    )
  }
}

if (sections.has("strategies")) {
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(" ")
  console.log(`\n## collection strategies (load average before: ${load()})`)
  printStrategies(
    await strategiesBench({
      users: Number(values["strategy-users"]),
      latencyMs,
      budget: Number(values.budget),
      bulkSizes: numbers(values["bulk-sizes"]),
      repeats: Number(values.repeats),
      profile: OcsfProfile.literals.find((p) => p === values.profile) ??
        (() => {
          throw new Error(`--profile: expected one of ${OcsfProfile.literals.join(", ")}; found ${values.profile}`)
        })()
    })
  )
  console.log(`load average after: ${load()}`)
}

if (sections.has("sinks")) {
  const events = Number(values["sink-events"])
  console.log(`\n## sink throughput: ${events} events through the delivery machinery`)
  console.table(await sinksBench({ events }))
}

if (sections.has("soak")) {
  const runs = Number(values["soak-runs"])
  const users = Number(values["soak-users"])
  console.log(`\n## daemon soak: ${runs} runs of ${users} users`)
  const soak = await soakBench({ runs, users })
  console.table([soak])
  console.log(
    `RSS at run 10: ${soak.rssMbAtRun10} MB, at run ${soak.runs}: ${soak.rssMbAtEnd} MB: ratio ${soak.rssRatio.toFixed(3)} ` +
      `(target: at most 1.05)`
  )
}
if (sections.has("state")) {
  const users = Number(values["state-users"])
  console.log(`\n## state store: ${users} users, then a run with 1% changed, 0.1% deleted, 0.1% new`)
  console.table(await stateBench({ users }))
}
if (sections.has("changes")) {
  console.log(`\n(load average before: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")})`)
  printChanges(await changesBench({ ...defaultChangesBench, users: Number(values["changes-users"]) }))
}
if (sections.has("startup")) {
  const options = {
    runs: Number(values["startup-runs"]),
    users: Number(values["startup-users"]),
    latencyMs,
    ...(values["startup-root"] === undefined ? {} : { root: values["startup-root"] }),
    ...(values["startup-node-flags"] === undefined ? {} : { nodeFlags: values["startup-node-flags"] })
  }
  console.log(`\n## start-up: the shipped CLI (bin/iam-ocsf) from start to exit${options.root === undefined ? "" : ` in ${options.root}`}`)
  printStartup(await startupBench(options), options)
}
if (sections.has("throttling")) {
  const users = Number(values["throttling-users"])
  const cpuUsers = Number(values["cpu-users"])
  console.log(
    `\n## throttling: ${users} users at 20 ms a call, random throttling and a budget of 100 requests/s; ` +
      `CPU per AWS call on ${cpuUsers} users at 0 ms (load average before: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")})`
  )
  printThrottling(await throttlingBench({ users, cpuUsers }))
  console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`)
}
if (sections.has("workers")) {
  console.log(`\n(load average before: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")})`)
  // Loaded only here: it starts an embedded PostgreSQL (a dev dependency).
  const { defaultWorkersBench, printWorkers, workersBench } = await import("./workers.ts")
  printWorkers(defaultWorkersBench, await workersBench())
}
if (sections.has("accounts")) {
  console.log(`\n(load average before: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")})`)
  printAccounts(await accountsBench())
}
process.exit(0)
