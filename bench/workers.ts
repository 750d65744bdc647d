/**
 * Workers sharing an organization through PostgreSQL: 1, 2 and 3 `iam-ocsf run` daemons (the
 * shipped CLI, `bin/iam-ocsf`, each a process) on one embedded PostgreSQL, reading an emulator
 * organization (in its own process) of 60 accounts with the per-user strategy, a latency per call
 * and a request budget per account. The accounts are made due all at once after every worker has
 * connected (so that start-up is not measured), and the time is PostgreSQL's, from their jobs
 * queued to the last account's job completed: accounts per minute and the scaling against one worker.
 *
 * The regime is the one workers are for: each account's collection bound by its latency and its
 * IAM budget (few users, a budget of 5 requests/s), not by the CPU, and more accounts than one
 * worker takes at once (`accounts.concurrency` 4 of 60). What bound the work is measured, not
 * assumed: the CPU each worker process (and the emulator) used over the measured time, user +
 * system seconds ÷ wall seconds (from /proc), with the load average. A worker well under a core,
 * and all of them together well under the machine's cores, waited on latency and budgets; near a
 * core, or the machine's cores all busy, the run was CPU-bound and its ratio says little of the
 * design.
 *
 * `npm run bench -- --only workers`
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import pg from "pg"
import { migrate } from "../src/state/postgres.ts"
import { startPostgres } from "../test/postgres.ts"
import { startEmulatorProcess, stopChild } from "./emulatorProcess.ts"

export interface WorkersBenchOptions {
  readonly accounts: number
  readonly usersPerAccount: number
  readonly latencyMs: number
  /** Each account's requests per second. */
  readonly budget: number
  /** Accounts each worker reads at once (`accounts.concurrency`). */
  readonly concurrency: number
  readonly workers: ReadonlyArray<number>
}

export const defaultWorkersBench: WorkersBenchOptions = {
  accounts: 60,
  usersPerAccount: 4,
  latencyMs: 20,
  budget: 5,
  concurrency: 4,
  workers: [1, 2, 3]
}

export interface WorkersRun {
  readonly workers: number
  readonly seconds: number
  readonly accountsPerMinute: number
  /** accounts/min ÷ that of one worker. */
  readonly scaling: number
  /** Mean seconds of one account's job, from its take to its end. */
  readonly secondsPerAccount: number
  /** CPU of each worker process over the measured time: (user + system seconds) ÷ wall seconds. */
  readonly workerCpu: ReadonlyArray<number>
  /** The emulator's, likewise (it serves every worker). */
  readonly emulatorCpu: number
  /** The workers' CPU seconds per account: what one account costs, however loaded the machine. */
  readonly cpuPerAccount: number
  /** The 1-minute load average at the start and at the end. */
  readonly loadAverage: string
}

/** User + system CPU seconds of a process so far (Linux's /proc; undefined elsewhere). */
const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may hold spaces, inside parentheses): utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

const repoRoot = path.resolve(import.meta.dirname, import.meta.filename.endsWith(".ts") ? ".." : "../..")

const accountIds = (n: number) => ["123456789012", ...Array.from({ length: n - 1 }, (_, i) => String(200000000001 + i))]

const until = async (what: string, probe: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const runWorkers = async (
  options: WorkersBenchOptions,
  count: number,
  emulator: { readonly url: string; readonly pid: number },
  databaseUrl: string
): Promise<Omit<WorkersRun, "scaling">> => {
  const emulatorUrl = emulator.url
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  pool.on("error", () => undefined)
  const dirs: Array<string> = []
  const children: Array<{ child: ChildProcess; stderr: () => string }> = []
  try {
    // The tables first, every account held back a day: the workers start with nothing due.
    const ids = accountIds(options.accounts)
    await Effect.runPromise(migrate(pool, "bench"))
    await pool.query(
      "INSERT INTO iam_ocsf.leases (account_id, next_due) SELECT unnest($1::text[]), now() + interval '1 day'",
      [ids]
    )
    for (let i = 0; i < count; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-workers-"))
      dirs.push(dir)
      const config = path.join(dir, "config.json")
      fs.writeFileSync(config, JSON.stringify({
        aws: { endpoint: emulatorUrl, accessKeyId: `AKIABENCHWORKER${i}000`, secretAccessKey: "bench" },
        accounts: { organization: { roleName: "iam-ocsf-reader" }, concurrency: options.concurrency },
        collection: { strategy: "per-user" },
        coordination: { postgres: databaseUrl, heartbeat: "30s", pollInterval: "1s" },
        schedule: { interval: "1h" },
        sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }],
        deadLetter: { path: path.join(dir, "dead-letter.ndjson") },
        log: { level: "info" }
      }))
      let stderr = ""
      const child = spawn(path.join(repoRoot, "bin/iam-ocsf"), ["run", "--config", config], {
        cwd: repoRoot,
        env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` },
        stdio: ["ignore", "ignore", "pipe"]
      })
      child.stderr!.on("data", (d) => (stderr += d))
      children.push({ child, stderr: () => stderr })
    }
    // Every worker connected: the accounts made due all at once.
    await until("every worker to start", async () => children.every((c) => /worker \S+ started/.test(c.stderr())), 120_000)
    await pool.query("UPDATE iam_ocsf.leases SET next_due = now()")
    // The time runs from the jobs queued (by the first worker whose scheduling tick comes, within
    // a tenth of the interval), not from the accounts made due: the tick is not what is measured.
    await until("the jobs to be queued", async () =>
      (await pool.query("SELECT 1 FROM pgboss.job WHERE name = 'iam-ocsf-accounts' LIMIT 1")).rows.length > 0, 120_000)
    const load0 = os.loadavg()[0]!.toFixed(1)
    const cpu0 = [...children.map((c) => cpuSeconds(c.child.pid!)), cpuSeconds(emulator.pid)]
    const wall0 = performance.now()
    const t0 = (await pool.query<{ t0: Date }>("SELECT min(created_on) AS t0 FROM pgboss.job WHERE name = 'iam-ocsf-accounts'")).rows[0]!.t0
    await until("every account completed", async () => {
      const r = await pool.query<{ n: string }>("SELECT count(*) AS n FROM iam_ocsf.leases WHERE last_outcome LIKE 'completed%'")
      return Number(r.rows[0]!.n) >= ids.length
    }, 30 * 60_000)
    const wall = (performance.now() - wall0) / 1000
    const cpu1 = [...children.map((c) => cpuSeconds(c.child.pid!)), cpuSeconds(emulator.pid)]
    const share = cpu1.map((c, i) => (c === undefined || cpu0[i] === undefined ? NaN : round((c - cpu0[i]!) / wall)))
    const figures = (await pool.query<{ seconds: number; per_account: number }>(
      "SELECT extract(epoch FROM max(last_ended) - $1::timestamptz)::float8 AS seconds, " +
        "avg(extract(epoch FROM last_ended - last_started))::float8 AS per_account FROM iam_ocsf.leases",
      [t0]
    )).rows[0]!
    const failed = children.map((c) => c.stderr()).join("").match(/"level":"(error)"/g)?.length ?? 0
    if (failed > 0) console.error(`(${failed} error lines in the workers' logs)`)
    return {
      workers: count,
      seconds: round(figures.seconds),
      accountsPerMinute: round(ids.length / (figures.seconds / 60), 1),
      secondsPerAccount: round(figures.per_account),
      workerCpu: share.slice(0, count),
      emulatorCpu: share[count]!,
      cpuPerAccount: round(share.slice(0, count).reduce((n, c) => n + c, 0) * wall / ids.length, 3),
      loadAverage: `${load0} → ${os.loadavg()[0]!.toFixed(1)}`
    }
  } finally {
    await Promise.all(children.map((c) => stopChild(c.child)))
    await pool.end()
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const workersBench = async (options: WorkersBenchOptions = defaultWorkersBench): Promise<ReadonlyArray<WorkersRun>> => {
  const server = await startPostgres()
  const emulator = await startEmulatorProcess([
    "--latency-ms", String(options.latencyMs),
    "--rps", String(options.budget),
    "--users", String(options.usersPerAccount - 2),
    "--accounts", String(options.accounts),
    "--users-per-account", String(options.usersPerAccount)
  ])
  try {
    const runs: Array<Omit<WorkersRun, "scaling">> = []
    for (const count of options.workers) {
      runs.push(await runWorkers(options, count, emulator, await server.database(`bench_workers_${count}`)))
    }
    const base = runs[0]!.accountsPerMinute
    return runs.map((r) => ({ ...r, scaling: round(r.accountsPerMinute / base) }))
  } finally {
    await emulator.stop()
    await server.destroy()
  }
}

export const printWorkers = (options: WorkersBenchOptions, runs: ReadonlyArray<WorkersRun>): void => {
  console.log(
    `## workers: ${options.accounts} accounts of ${options.usersPerAccount} users, per-user, ${options.latencyMs} ms per call, ` +
      `${options.budget} requests/s per account, ${options.concurrency} accounts at once per worker, one PostgreSQL`
  )
  console.table(runs.map((r) => ({
    workers: r.workers,
    seconds: r.seconds,
    "accounts/min": r.accountsPerMinute,
    scaling: r.scaling,
    "s/account": r.secondsPerAccount,
    "CPU per worker": r.workerCpu.join(" "),
    "CPU emulator": r.emulatorCpu,
    "CPU s/account": r.cpuPerAccount,
    "load (1 min)": r.loadAverage
  })))
  const cores = os.cpus().length
  const last = runs[runs.length - 1]!
  const first = runs[0]!
  // Busiest worker near a core, or every process together near the machine's cores: the CPU, not
  // the accounts' latency and budgets, set the pace.
  const busiest = Math.max(...runs.flatMap((r) => r.workerCpu))
  const together = Math.max(...runs.map((r) => r.workerCpu.reduce((n, c) => n + c, 0) + r.emulatorCpu))
  const load = Math.max(...runs.flatMap((r) => r.loadAverage.split(" → ").map(Number)))
  const cpuBound = busiest > 0.6 || together > 0.7 * cores
  // What the last run's accounts in flight would ask of the cores at one worker's pace: below them,
  // an idle machine of this size runs them without waiting for the CPU.
  const needed = round(last.workers * options.concurrency * first.cpuPerAccount / first.secondsPerAccount)
  console.log(
    `${last.workers} workers: ${last.scaling}x the accounts/min of 1 (target ≥ 2.5); one account took ${first.secondsPerAccount}s ` +
      `with 1 worker, ${last.secondsPerAccount}s with ${last.workers}; the busiest worker used ${busiest} of a core, all the ` +
      `processes together ${round(together)} of ${cores} cores (load average up to ${load}); ${last.workers * options.concurrency} ` +
      `accounts in flight at one worker's pace need ${needed} cores (${first.cpuPerAccount} CPU s per account of ${first.secondsPerAccount} s): ` +
      (cpuBound
        ? "CPU-bound here, so the ratio says little of the workers' scaling"
        // The load average lags (a run before this one shows in it): whether one account took longer
        // with more workers is what says the CPU slowed them.
        : last.secondsPerAccount > 1.1 * first.secondsPerAccount
        ? "the workers waited on latency and budgets, but one account took longer with more of them: the CPU slowed them"
        : "bound by latency and budgets, not CPU")
  )
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

if (import.meta.main) printWorkers(defaultWorkersBench, await workersBench())
