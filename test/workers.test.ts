/**
 * Several `iam-ocsf run` daemons as workers of one PostgreSQL (started by the test, or `DATABASE_URL`'s), reading the
 * emulator's organization: every account collected, by exactly one worker at a time (the
 * emulator's overlap recorder), the jobs of an account an interval apart,
 * every user's event delivered; a worker killed with SIGKILL mid-job has its accounts retaken by
 * the others once its heartbeat lapses, nothing lost; a worker whose job was taken back while it
 * ran has that account's commit refused (fenced); PostgreSQL stopped and started again, the
 * workers carry on without a restart; /readyz and /metrics of a worker; `iam-ocsf status`.
 */
import type { ChildProcess } from "node:child_process"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import pg from "pg"
import { PgBoss } from "pg-boss"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { configFor, readNdjson, runCli, tempDir, writeJson } from "./support.ts"
import { startPostgres, type TestDatabases, testDatabases } from "./postgres.ts"
import { takeLease } from "../src/coordination/leases.ts"
import { migrate } from "../src/state/postgres.ts"

/** `DATABASE_URL`'s server when one is given, else one of the file's own (`testDatabases`). */
let server: TestDatabases
beforeAll(async () => {
  server = await testDatabases()
}, 120_000)
afterAll(async () => {
  await server?.destroy()
})

let emulator: Emulator | undefined
const workers: Array<{ readonly kill: (signal: NodeJS.Signals) => void }> = []
afterEach(async () => {
  for (const w of workers.splice(0)) w.kill("SIGKILL")
  await emulator?.close()
  emulator = undefined
})

/** A worker daemon in a child process, its stderr readable while it runs. */
const startWorker = (config: string) => {
  let child: ChildProcess | undefined
  let stderr = ""
  const done = runCli(["run", "--config", config], {
    onSpawn: (c) => {
      child = c
      c.stderr!.on("data", (d) => (stderr += d))
    }
  })
  const worker = {
    done,
    stderr: () => stderr,
    pid: () => child!.pid!,
    kill: (signal: NodeJS.Signals) => void child?.kill(signal),
    url: () => until("the operations endpoint", () => /listening on (http:\/\/\S+)/.exec(stderr)?.[1], 30_000)
  }
  workers.push(worker)
  return worker
}

const until = async <A>(what: string, probe: () => A | undefined | Promise<A | undefined>, timeoutMs = 60_000, more?: () => string) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let value: A | undefined
    try {
      value = await probe()
    } catch (e) {
      throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}${more === undefined ? "" : `\n${more()}`}`)
    }
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${more === undefined ? "" : `\n${more()}`}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

let databases = 0

/** An organization, a database of its own, and `n` worker configs (each its own access key, events file and folder). */
const setUp = async (options: {
  readonly accounts: number
  readonly usersPerAccount: number
  readonly latencyMs: number
  readonly workers: number
  readonly interval: string
  readonly concurrency: number
  readonly server?: boolean
  /** The management account's latency per call, when it differs from the members'. */
  readonly managementLatencyMs?: number
  /** Where the database is created: the file's server by default. */
  readonly databases?: TestDatabases
  readonly collection?: Record<string, unknown>
}) => {
  emulator = await startEmulator({
    users: options.usersPerAccount,
    organization: {
      accounts: options.accounts,
      usersPerAccount: options.usersPerAccount,
      memberFaults: { "*": { latencyMs: options.latencyMs } },
      overlapGapMs: 1000
    },
    faults: { "*": { latencyMs: options.managementLatencyMs ?? options.latencyMs } }
  })
  const url = await (options.databases ?? server).database(`workers_${++databases}`)
  const org = emulator.organization!
  const dirs = Array.from({ length: options.workers }, () => tempDir())
  const configs = dirs.map((dir, i) =>
    writeJson(
      path.join(dir, "config.json"),
      configFor(emulator!, dir, {
        // Each worker its own base key: the overlap recorder tells collectors apart by it.
        aws: { accessKeyId: `AKIAWORKER${i}TESTTESTTE` },
        accounts: { organization: { roleName: org.roleName }, concurrency: options.concurrency },
        coordination: { postgres: "${IAM_OCSF_TEST_DATABASE_URL}", heartbeat: "10s", pollInterval: "1s" },
        schedule: { interval: options.interval, jitter: 0, shutdownTimeout: "10s" },
        ocsf: { profile: "strict", emit: "both" },
        ...(options.collection === undefined ? {} : { collection: options.collection }),
        ...(options.server === true ? { server: { port: 0 } } : {})
      })
    )
  )
  process.env.IAM_OCSF_TEST_DATABASE_URL = url
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  pool.on("error", () => undefined)
  return { emu: emulator, org, url, dirs, configs, pool }
}

/** The UserIds of the inventory events in every worker's file, by account. */
const delivered = (dirs: ReadonlyArray<string>) => {
  const found: Record<string, Set<string>> = {}
  for (const dir of dirs) {
    for (const e of readNdjson(path.join(dir, "events.ndjson"))) {
      if (e.class_uid !== 5003) continue
      ;(found[e.user.account.uid] ??= new Set()).add(e.user.uid_alt)
    }
  }
  return Object.fromEntries(Object.entries(found).map(([id, users]) => [id, [...users].sort()]))
}

const truth = (emu: Emulator) =>
  Object.fromEntries(emu.organization!.accounts.map((a) => [a.id, [...emu.organization!.account(a.id).account.users()].map((u) => u.UserId).sort()]))

/** The accounts' leases; none until a worker has created the tables. */
const leases = async (pool: pg.Pool): Promise<Array<any>> =>
  pool.query("SELECT account_id, holder, last_worker, last_outcome, last_ended, expired FROM iam_ocsf.leases ORDER BY account_id").then(
    (r) => r.rows,
    () => []
  )

describe("workers sharing an organization through PostgreSQL", () => {
  it("three workers, 30 accounts: each collected by one worker at a time, its jobs an interval apart; every user delivered", async () => {
    const { emu, org, dirs, configs, pool } = await setUp({
      accounts: 30,
      usersPerAccount: 3,
      latencyMs: 30,
      workers: 3,
      interval: "4s",
      concurrency: 3,
      // Bulk: each account's users reach the state store together (a chunk read ahead at once).
      collection: { strategy: "bulk" }
    })
    try {
      const started = configs.map(startWorker)
      const ids = org.accounts.map((a) => a.id)
      const collectors = () => new Set(ids.flatMap((id) => org.account(id).overlap().collections.map((c) => c.collector)))
      const byWorker = (i: number) => [...collectors()].some((c) => c.includes(`AKIAWORKER${i}`))
      // Every account collected at least twice (scheduled again after its interval), and every
      // worker took some: the work is shared (a worker slow to start takes jobs of a later interval).
      await until(
        "every account collected twice, and by every worker some",
        () => (ids.every((id) => org.account(id).overlap().collections.length >= 2) && [0, 1, 2].every(byWorker)) || undefined,
        90_000,
        () => started.map((w) => w.stderr().split("\n").slice(-5).join("\n")).join("\n---\n")
      )
      for (const w of started) w.kill("SIGTERM")
      const ended = await Promise.all(started.map((w) => w.done))
      expect(ended.map((r) => r.code)).toEqual([0, 0, 0])

      expect(org.overlappedAccounts()).toEqual([])
      expect(delivered(dirs)).toEqual(truth(emu))
      // Nothing changed between an account's runs, and the later runs found each user in the
      // state PostgreSQL holds (its users read ahead a chunk at a time): not one change event.
      const changeEvents = dirs.flatMap((dir) => readNdjson(path.join(dir, "events.ndjson")).filter((e) => e.class_uid === 3001))
      expect(changeEvents).toEqual([])

      // An account's jobs an interval apart: the scheduler marks it scheduled in the transaction
      // that queues its job (PostgreSQL's clock on both sides, so this is no timing assertion).
      const jobs = (await pool.query(
        "SELECT singleton_key AS account, created_on FROM pgboss.job WHERE name = 'iam-ocsf-accounts' ORDER BY created_on"
      )).rows
      for (const id of ids) {
        const mine = jobs.filter((j) => j.account === id)
        expect(mine.length).toBeGreaterThanOrEqual(2)
        for (let i = 1; i < mine.length; i++) {
          expect(mine[i].created_on.getTime() - mine[i - 1].created_on.getTime()).toBeGreaterThanOrEqual(4000 - 50)
        }
      }
      // The state store recorded every account's baseline.
      const stored = (await pool.query("SELECT account_id FROM iam_ocsf.accounts WHERE last_complete_run IS NOT NULL")).rows
      expect(stored.map((r) => r.account_id).sort()).toEqual([...ids].sort())

      // `iam-ocsf status` lists every account with its last run and worker.
      const status = await runCli(["status", "--config", configs[0]!, "--format", "json"])
      expect(status.code).toBe(0)
      const listed = JSON.parse(status.stdout)
      expect(listed.accounts.map((a: any) => a.account)).toEqual([...ids].sort())
      for (const a of listed.accounts) {
        expect(a.lastWorker).toMatch(/\/\d+$/)
        expect(a.lastEnded).not.toBeNull()
      }
      // `state show` reads the workers' state in PostgreSQL.
      const shown = await runCli(["state", "show", "--config", configs[1]!, "--format", "json"])
      expect(shown.code).toBe(0)
      expect(JSON.parse(shown.stdout).accounts.map((a: any) => [a.account, a.users])).toEqual(
        [...ids].sort().map((id) => [id, truth(emu)[id]!.length])
      )
    } finally {
      await pool.end()
    }
  }, 180_000)

  it("a worker keeps its slots busy: the other accounts taken and completed while one slow account is still read", async () => {
    // The management account answers every call after 20 s; the members at once. One worker, two slots.
    const { emu, org, dirs, configs, pool } = await setUp({
      accounts: 5,
      usersPerAccount: 2,
      latencyMs: 10,
      managementLatencyMs: 20_000,
      workers: 1,
      interval: "1h",
      concurrency: 2,
      collection: { callTimeout: "1m" }
    })
    try {
      const slow = org.accounts[0]!.id
      const fast = org.accounts.slice(1).map((a) => a.id)
      // Only the slow account due at first: it is taken alone, and holds one slot.
      await Effect.runPromise(migrate(pool, "test"))
      await pool.query(
        "INSERT INTO iam_ocsf.leases (account_id, next_due) SELECT unnest($1::text[]), now() + interval '1 day'",
        [fast]
      )
      const [worker] = configs.map(startWorker)
      await until("the worker to hold the slow account", async () =>
        (await leases(pool)).find((r) => r.account_id === slow && r.holder !== null) ?? undefined, 60_000, () => worker!.stderr())
      await pool.query("UPDATE iam_ocsf.leases SET next_due = now() WHERE account_id = ANY($1::text[])", [fast])
      // A worker that waited for its whole batch would take none of them before the slow one ends.
      const rows = await until("every other account completed while the slow one is read", async () => {
        const rows = await leases(pool)
        const slowRow = rows.find((r) => r.account_id === slow)
        if (slowRow?.holder === null) throw new Error(`the slow account ended first: ${slowRow.last_outcome}`)
        return fast.every((id) => /^completed/.test(rows.find((r) => r.account_id === id)?.last_outcome ?? "")) ? rows : undefined
      }, 90_000, () => worker!.stderr())
      expect(rows.find((r) => r.account_id === slow)?.holder).toMatch(/\/\d+$/)
      const events = delivered(dirs)
      for (const id of fast) expect(events[id]).toEqual(truth(emu)[id])
      expect(org.overlappedAccounts()).toEqual([])
    } finally {
      await pool.end()
    }
  }, 180_000)

  it("a worker killed with SIGKILL mid-job: its accounts retaken by the others after the heartbeat, nothing lost, no overlap", async () => {
    const { emu, org, dirs, configs, pool } = await setUp({
      accounts: 9,
      usersPerAccount: 4,
      latencyMs: 400,
      workers: 3,
      interval: "1h",
      concurrency: 2,
      server: true
    })
    try {
      const started = configs.map(startWorker)
      const victim = started[0]!
      // The victim holds accounts mid-collection.
      const holding = async () => (await leases(pool)).filter((r) => r.holder?.endsWith(`/${victim.pid()}`)).map((r) => r.account_id as string)
      await until("the first worker to hold accounts", async () => ((await holding()).length > 0 ? true : undefined), 60_000, () => victim.stderr())
      const killedAt = new Date()
      victim.kill("SIGKILL")
      expect((await victim.done).signal).toBe("SIGKILL")
      // What it held when it died: nobody else may take those before their heartbeat lapses.
      const held = await holding()
      expect(held.length).toBeGreaterThan(0)

      // Every account read to its end, those of the victim by another worker after the kill.
      await until("every account completed", async () => {
        const rows = await leases(pool)
        const done = rows.length === org.accounts.length && rows.every((r) => r.holder === null && /^completed/.test(r.last_outcome ?? ""))
        const retaken = held.every((id) => {
          const r = rows.find((x) => x.account_id === id)
          return r !== undefined && !r.last_worker.endsWith(`/${victim.pid()}`) && r.last_ended > killedAt
        })
        return done && retaken ? true : undefined
      }, 90_000, () => started.slice(1).map((w) => w.stderr().split("\n").slice(-5).join("\n")).join("\n---\n"))

      // /metrics of a survivor counts the expired jobs; /readyz says PostgreSQL answers.
      const url = await started[1]!.url()
      const metrics = await (await fetch(`${url}/metrics`)).text()
      expect(metrics).toMatch(new RegExp(`^iam_ocsf_jobs_expired_total ${held.length}$`, "m"))
      expect(metrics).toMatch(new RegExp(`^iam_ocsf_jobs_completed ${org.accounts.length}$`, "m"))
      expect(metrics).toMatch(/^iam_ocsf_jobs_active 0$/m)
      const ready = await fetch(`${url}/readyz`)
      expect(ready.status).toBe(200)
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/PostgreSQL .* answers/)

      for (const w of started.slice(1)) w.kill("SIGTERM")
      expect((await Promise.all(started.slice(1).map((w) => w.done))).map((r) => r.code)).toEqual([0, 0])
      expect(org.overlappedAccounts()).toEqual([])
      expect(delivered(dirs)).toEqual(truth(emu))
      // The killed job's account was collected again from the start: its baseline is whole.
      const stored = (await pool.query(
        "SELECT a.account_id, count(u.user_id)::int AS users FROM iam_ocsf.accounts a JOIN iam_ocsf.users u ON u.account = a.id GROUP BY a.account_id"
      )).rows
      for (const id of held) expect(stored.find((r) => r.account_id === id)?.users).toBe(truth(emu)[id]!.length)
    } finally {
      await pool.end()
    }
  }, 180_000)

  it("a worker whose job was taken back while it ran: its commit for that account refused, the other account's recorded", async () => {
    const { configs, pool, url } = await setUp({
      accounts: 2,
      usersPerAccount: 3,
      latencyMs: 400,
      workers: 1,
      interval: "1h",
      concurrency: 2
    })
    const boss = new PgBoss({ connectionString: url, schema: "pgboss", supervise: false, schedule: false })
    boss.on("error", () => undefined)
    try {
      const [worker] = configs.map(startWorker)
      const held = await until("the worker to hold both accounts", async () => {
        const rows = (await leases(pool)).filter((r) => r.holder !== null)
        return rows.length === 2 ? rows : undefined
      }, 60_000, () => worker!.stderr())
      const [lost, kept] = [held[0]!.account_id as string, held[1]!.account_id as string]
      // What pg-boss does when a heartbeat lapses, then another worker's take of the retry.
      await boss.start()
      const job = (await pool.query("SELECT job_id, retry_count FROM iam_ocsf.leases WHERE account_id = $1", [lost])).rows[0]
      await boss.fail("iam-ocsf-accounts", [{ id: job.job_id, retryCount: job.retry_count }], { message: "job heartbeat timeout" })
      await takeLease(pool, { accountId: lost, worker: "another-worker/1", jobId: job.job_id, retryCount: job.retry_count + 1 })

      await until("the refused commit", () => (/lost its job/.test(worker!.stderr()) ? true : undefined), 60_000, () => worker!.stderr())
      await until("the other account recorded", async () => {
        const rows = (await pool.query("SELECT account_id FROM iam_ocsf.accounts")).rows
        return rows.length > 0 ? rows.map((r) => r.account_id) : undefined
      }).then((recorded) => expect(recorded).toEqual([kept]))
      expect(worker!.stderr()).toMatch(new RegExp(`"level":"error".*the run of account ${lost} lost its job .*another worker \\(another-worker/1\\) took the account`))
      // That account's failure, not the run's: the other account's commit went through.
      expect(worker!.stderr()).not.toMatch(/"message":"collection (of account \d+ )?failed/)
      worker!.kill("SIGTERM")
      expect((await worker!.done).code).toBe(0)
      // Nothing of the stale run was written for the account it lost.
      expect((await pool.query("SELECT count(*)::int AS n FROM iam_ocsf.accounts WHERE account_id = $1", [lost])).rows[0].n).toBe(0)
    } finally {
      await boss.stop({ graceful: false, close: true })
      await pool.end()
    }
  }, 120_000)

  it("PostgreSQL stopped for 30 s and started again: the workers say so, /readyz turns 503 then 200, and they carry on without a restart", async () => {
    // A server of the test's own, even with DATABASE_URL given: this test stops it.
    const own = await startPostgres()
    const { org, configs, pool } = await setUp({
      databases: own,
      accounts: 4,
      usersPerAccount: 2,
      latencyMs: 10,
      workers: 2,
      interval: "2s",
      concurrency: 2,
      server: true
    })
    try {
      const started = configs.map(startWorker)
      const ids = org.accounts.map((a) => a.id)
      await until("every account collected", () => ids.every((id) => org.account(id).overlap().collections.length >= 1) || undefined)
      const url = await started[0]!.url()
      await pool.end()

      await own.stop()
      const down = await until("/readyz to say PostgreSQL is down", async () => {
        const r = await fetch(`${url}/readyz`)
        return r.status === 503 ? ((await r.json()) as { reason: string }) : undefined
      }, 30_000, () => started[0]!.stderr())
      expect(down.reason).toMatch(/PostgreSQL|connect/)
      // Down for 30 s, three times the heartbeat: the workers' loops fail, log and wait.
      await new Promise((r) => setTimeout(r, 30_000))
      const before = Object.fromEntries(ids.map((id) => [id, org.account(id).overlap().collections.length]))
      await own.start()

      await until("/readyz to say PostgreSQL answers again", async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined))
      // Every account collected again after the restart, by the same processes.
      await until(
        "every account collected after the restart",
        () => ids.every((id) => org.account(id).overlap().collections.length > before[id]!) || undefined,
        60_000,
        () => started.map((w) => w.stderr().split("\n").slice(-5).join("\n")).join("\n---\n")
      )
      // Each said what failed while the server was down, and went on.
      for (const w of started) expect(w.stderr()).toMatch(/"level":"warn".*"message":"(cannot fetch jobs|cannot schedule|job queue)/)
      for (const w of started) w.kill("SIGTERM")
      expect((await Promise.all(started.map((w) => w.done))).map((r) => r.code)).toEqual([0, 0])
      expect(org.overlappedAccounts()).toEqual([])
    } finally {
      for (const w of workers.splice(0)) w.kill("SIGKILL")
      await own.destroy()
    }
  }, 240_000)
})
