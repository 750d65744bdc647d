import { parseArgs } from "node:util"
import { collectBench } from "./collect.ts"

/**
 * `npm run bench [-- --users 10000 --latency-ms 20 --concurrency 8,32]`: figures, not
 * assertions. Run it on a quiet machine: the emulator and the collector share its cores.
 */
const { values } = parseArgs({
  options: {
    users: { type: "string", default: "10000" },
    "latency-ms": { type: "string", default: "20" },
    concurrency: { type: "string", default: "8,32" },
    help: { type: "boolean", default: false }
  }
})
if (values.help) {
  console.log("npm run bench -- [--users N] [--latency-ms MS] [--concurrency A,B,...]")
  process.exit(0)
}

const users = Number(values.users)
const latencyMs = Number(values["latency-ms"])

console.log(`## per-user collection: ${users} users, emulator latency ${latencyMs} ms per call, file sink`)
const rows = []
for (const concurrency of values.concurrency.split(",").map(Number)) {
  rows.push(await collectBench({ users, latencyMs, concurrency }))
}
console.table(rows)
if (rows.length > 1) {
  const [first, last] = [rows[0]!, rows[rows.length - 1]!]
  console.log(
    `concurrency ${last.concurrency} vs ${first.concurrency}: ${(last.usersPerSecond / first.usersPerSecond).toFixed(2)}x users/s, ` +
      `${(last.peakRssMb / first.peakRssMb).toFixed(2)}x peak RSS`
  )
}
