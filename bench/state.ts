/**
 * The state stores alone, at account scale: figures, not assertions. SQLite (src/state/sqlite.ts),
 * then PostgreSQL (src/state/postgres.ts, on an embedded server started here) staging its users
 * one lookup each and then, as the pipeline stages them, a chunk of 32 read ahead at once
 * (`RunState.readAhead`). Each in a child process of its own (so that its peak RSS is the
 * store's and the users', nothing else's):
 *   1. baseline: N users staged (every one new), committed;
 *   2. a second run where 1% of the users changed (a policy attached, a tag changed or MFA
 *      switched), 0.1% were deleted and 0.1% are new: staged, diffed, the unseen (deleted) users
 *      read back, committed.
 * Reported: time in the store and the diff (the users' generation excluded), commit time, the
 * file's size, and the process's peak RSS. The users come from the emulator's generator, through
 * the `IamUser` schema and `toSnapshot`, as a collection would hand them over.
 *
 * `npm run build && npx node $(cat bin/node-flags) dist/bench/state.js [--users 100000]`
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { makeAccount, toExpectedJson, type UserRecord } from "../emulator/account.ts"
import { diffUser } from "../src/changes/diff.ts"
import { toSnapshot, type UserSnapshot } from "../src/changes/snapshot.ts"
import { IamUser } from "../src/iam/IamUser.ts"
import pg from "pg"
import { makePostgresStore, migrate } from "../src/state/postgres.ts"
import { openSqliteStore } from "../src/state/sqlite.ts"
import type { Observation, RunState, StateStoreService } from "../src/state/StateStore.ts"
import { startPostgres } from "../test/postgres.ts"

export interface StateBenchOptions {
  readonly users: number
}

/** Where a job keeps its state: a SQLite file, or a PostgreSQL database of its own. */
type StoreAt = { readonly kind: "sqlite"; readonly file: string } | { readonly kind: "postgres"; readonly url: string }

/** Users staged together, each chunk read ahead at once, as the pipeline hands them over (the bulk strategy's chunks). */
const CHUNK = 32

export interface StateFigures {
  readonly store: string
  readonly users: number
  readonly baselineStageSeconds: number
  readonly baselineCommitSeconds: number
  /** The second run: stage + diff of every user, the unseen users read back, and the commit. */
  readonly changedRunSeconds: number
  /** The same, in CPU time (user + system): the figure to trust on a busy machine. */
  readonly changedRunCpuSeconds: number
  readonly changedCommitSeconds: number
  readonly changes: number
  readonly changedUsers: number
  readonly newUsers: number
  readonly deletedUsers: number
  /** The SQLite file's size (PostgreSQL: not measured). */
  readonly fileMb: number | undefined
  readonly idleRssMb: number
  readonly peakRssMb: number
}

const decodeUser = Schema.decodeUnknownSync(IamUser)

/** User `i` as the second run sees it: 1% changed in one of three ways. */
const secondLook = (u: UserRecord, i: number): UserRecord => {
  if (i % 100 !== 7) return u
  switch (i % 3) {
    case 0:
      return { ...u, AttachedPolicies: [...u.AttachedPolicies, { PolicyName: "BenchPolicy", PolicyArn: "arn:aws:iam::aws:policy/BenchPolicy" }] }
    case 1:
      return { ...u, Tags: [...u.Tags.filter((t) => t.Key !== "Bench"), { Key: "Bench", Value: String(i) }] }
    default:
      return { ...u, MFADevices: u.MFADevices.length > 0 ? [] : [{ SerialNumber: `arn:aws:iam::123456789012:mfa/b${i}`, EnableDate: "2025-01-01T00:00:00Z" }] }
  }
}

const openStore = async (at: StoreAt): Promise<{ readonly store: StateStoreService; readonly close: () => Promise<void> }> => {
  if (at.kind === "sqlite") {
    const store = await Effect.runPromise(openSqliteStore(at.file))
    return { store, close: async () => store.close() }
  }
  const pool = new pg.Pool({ connectionString: at.url, max: 4 })
  await Effect.runPromise(migrate(pool, "bench"))
  return { store: makePostgresStore(pool, "bench"), close: () => pool.end() }
}

const runJob = async (options: StateBenchOptions, at: StoreAt, readAhead: boolean): Promise<StateFigures> => {
  const account = makeAccount({ users: options.users, specExamples: false })
  const idleRssMb = Math.round(process.memoryUsage().rss / 1e6)
  const { close, store } = await openStore(at)
  const snapshotOf = (u: UserRecord) => toSnapshot(decodeUser(toExpectedJson(u)))

  /** Stages a chunk as the pipeline does: read ahead at once (when asked to), then each user. */
  const stageChunk = (run: RunState, chunk: ReadonlyArray<UserSnapshot>) =>
    Effect.gen(function*() {
      if (readAhead) yield* run.readAhead(chunk.map((s) => s.UserId))
      const seen: Array<Observation> = []
      for (const snapshot of chunk) seen.push(yield* run.stage(snapshot))
      return seen
    })

  // 1. baseline
  let t = performance.now()
  let inStore = 0
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const run = yield* store.beginRun("123456789012")
    let chunk: Array<UserSnapshot> = []
    const flush = Effect.suspend(() => {
      const t0 = performance.now()
      return stageChunk(run, chunk).pipe(Effect.tap(() => Effect.sync(() => {
        inStore += performance.now() - t0
        chunk = []
      })))
    })
    for (const u of account.users()) {
      chunk.push(snapshotOf(u))
      if (chunk.length >= CHUNK) yield* flush
    }
    yield* flush
    const c = performance.now()
    yield* run.commit({ complete: true, at: new Date(), snapshot: true })
    t = performance.now() - c
  })))
  const baselineStageSeconds = inStore / 1000
  const baselineCommitSeconds = t / 1000

  // 2. 1% changed, 0.1% deleted (users i % 1000 === 3 are not seen), 0.1% new (copies with new ids)
  let inRun = 0
  let cpuMicros = 0
  const cpu = () => {
    const u = process.cpuUsage()
    return u.user + u.system
  }
  let commitMs = 0
  let changes = 0
  let changedUsers = 0
  let newUsers = 0
  let deletedUsers = 0
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const run = yield* store.beginRun("123456789012")
    let chunk: Array<UserSnapshot> = []
    const flush = Effect.suspend(() => {
      const t0 = performance.now()
      const c0 = cpu()
      return stageChunk(run, chunk).pipe(Effect.tap((seen) => Effect.sync(() => {
        seen.forEach((observation, i) => {
          const snapshot = chunk[i]!
          const found = observation._tag === "Unchanged"
            ? []
            : diffUser(observation._tag === "Changed" ? observation.previous : undefined, snapshot)
          if (observation._tag === "New") newUsers++
          if (observation._tag === "Changed") changedUsers++
          changes += found.length
        })
        inRun += performance.now() - t0
        cpuMicros += cpu() - c0
        chunk = []
      })))
    })
    let i = 0
    for (const u of account.users()) {
      const index = i++
      if (index % 1000 === 3) continue
      chunk.push(snapshotOf(secondLook(u, index)))
      if (index % 1000 === 5) chunk.push(snapshotOf({ ...u, UserId: `${u.UserId}NEW`, UserName: `${u.UserName}-new` }))
      if (chunk.length >= CHUNK) yield* flush
    }
    yield* flush
    const t1 = performance.now()
    const c1 = cpu()
    deletedUsers = yield* run.unseen().pipe(Stream.runFold(() => 0, (n) => n + 1))
    changes += deletedUsers
    const c = performance.now()
    yield* run.commit({ complete: true, at: new Date(), snapshot: false })
    commitMs = performance.now() - c
    inRun += performance.now() - t1
    cpuMicros += cpu() - c1
  })))
  await close()
  const size = at.kind === "sqlite"
    ? ["", "-wal"].map((s) => fs.statSync(at.file + s, { throwIfNoEntry: false })?.size ?? 0).reduce((a, b) => a + b, 0)
    : undefined
  return {
    store: at.kind === "sqlite" ? "sqlite" : readAhead ? `postgres, ${CHUNK} read ahead` : "postgres, one lookup a user",
    users: options.users,
    baselineStageSeconds: round(baselineStageSeconds),
    baselineCommitSeconds: round(baselineCommitSeconds),
    changedRunSeconds: round(inRun / 1000),
    changedRunCpuSeconds: round(cpuMicros / 1e6),
    changedCommitSeconds: round(commitMs / 1000),
    changes,
    changedUsers,
    newUsers,
    deletedUsers,
    fileMb: size === undefined ? undefined : round(size / 1e6),
    idleRssMb,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024)
  }
}

const round = (n: number) => Math.round(n * 100) / 100

/** One job in a child process with this process's Node flags; its figures. */
const inChild = (options: StateBenchOptions, at: StoreAt, readAhead: boolean): Promise<StateFigures> =>
  new Promise((resolve, reject) => {
    const job = JSON.stringify({ options, at, readAhead })
    const child = spawn(process.execPath, [...process.execArgv, import.meta.filename, "--job", job], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.on("error", reject)
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`state bench job exited with ${code}`))
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as StateFigures)
    })
  })

/** SQLite, then PostgreSQL one lookup a user and read ahead: each job on a store of its own. */
export const stateBench = async (options: StateBenchOptions): Promise<ReadonlyArray<StateFigures>> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-state-bench-"))
  const server = await startPostgres()
  try {
    return [
      await inChild(options, { kind: "sqlite", file: path.join(dir, "state.sqlite") }, true),
      await inChild(options, { kind: "postgres", url: await server.database("one_by_one") }, false),
      await inChild(options, { kind: "postgres", url: await server.database("read_ahead") }, true)
    ]
  } finally {
    await server.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const jobAt = process.argv.indexOf("--job")
  if (jobAt >= 0) {
    const { at, options, readAhead } = JSON.parse(process.argv[jobAt + 1]!) as { options: StateBenchOptions; at: StoreAt; readAhead: boolean }
    console.log(JSON.stringify(await runJob(options, at, readAhead)))
  } else {
    const at = process.argv.indexOf("--users")
    console.table(await stateBench({ users: at < 0 ? 100_000 : Number(process.argv[at + 1]) }))
  }
}
