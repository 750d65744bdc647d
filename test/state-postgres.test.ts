/**
 * The state store in PostgreSQL (a real server, started by the test, or `DATABASE_URL`'s): the same behaviour as the
 * SQLite store (changes, deletions after a complete listing only, nothing visible before the
 * commit, reset), and its commit fenced on the pg-boss job: a worker whose job was taken back
 * (expired and retaken by another, or its heartbeat lapsed) has its late commit refused with
 * `StateError` `Fenced`, and nothing of it is written. And the `coordination` section that turns
 * it on: a secret URL, checked, never shown.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import pg from "pg"
import { PgBoss } from "pg-boss"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { UserSnapshot } from "../src/changes/snapshot.ts"
import { QUEUE, takeLease } from "../src/coordination/leases.ts"
import { jobOptions } from "../src/coordination/Worker.ts"
import { parseConfig } from "../src/run/AppConfig.ts"
import { describeConfig } from "../src/run/describeConfig.ts"
import { BOSS_SCHEMA, type Fence, makePostgresStore, migrate } from "../src/state/postgres.ts"
import type { StateStoreService } from "../src/state/StateStore.ts"
import { type TestDatabases, testDatabases } from "./postgres.ts"

let server: TestDatabases
beforeAll(async () => {
  server = await testDatabases()
}, 120_000)
afterAll(async () => {
  await server?.destroy()
})

const user = (id: string, mfa = false): UserSnapshot => ({
  UserId: id,
  UserName: `user-${id}`,
  Path: "/",
  Arn: `arn:aws:iam::111111111111:user/user-${id}`,
  ConsoleAccess: false,
  MFA: mfa,
  AccessKeys: [],
  Groups: [],
  AttachedPolicies: [],
  InlinePolicyNames: [],
  Tags: []
})

let databases = 0
const withDatabase = async <A>(f: (pool: pg.Pool, boss: PgBoss) => Promise<A>): Promise<A> => {
  const url = await server.database(`state_${++databases}`)
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  const boss = new PgBoss({ connectionString: url, schema: BOSS_SCHEMA, supervise: false, schedule: false })
  boss.on("error", () => undefined)
  await boss.start()
  await boss.createQueue(QUEUE, { policy: "stately" })
  await Effect.runPromise(migrate(pool, "test"))
  try {
    return await f(pool, boss)
  } finally {
    await boss.stop({ graceful: false, close: true })
    await pool.end()
  }
}

/** One run of `accountId`: stages `users`, then commits (complete listing). */
const runOf = (store: StateStoreService, accountId: string, users: ReadonlyArray<UserSnapshot>) =>
  Effect.runPromiseExit(Effect.scoped(Effect.gen(function*() {
    const run = yield* store.beginRun(accountId)
    const seen = []
    for (const u of users) seen.push((yield* run.stage(u))._tag)
    const unseen = yield* Stream.runCollect(run.unseen())
    const summary = yield* run.commit({ complete: true, at: new Date(), snapshot: false })
    return { seen, unseen: unseen.map((u) => u.UserId), summary }
  })))

/** A worker takes the account's job: fetched from pg-boss, its lease's fence raised. */
const take = async (pool: pg.Pool, boss: PgBoss, accountId: string, worker: string): Promise<Fence> => {
  const [job] = await boss.fetch<{ accountId: string }>(QUEUE)
  if (job === undefined) throw new Error("no job to take")
  const token = await takeLease(pool, { accountId, worker, jobId: job.id, retryCount: job.retryCount })
  return { accountId, token, queue: QUEUE, jobId: job.id, retryCount: job.retryCount }
}

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? (exit.cause.reasons[0] as any)?.error : undefined

describe("the PostgreSQL state store", () => {
  it("changes, deletions and the baseline as the SQLite store has them", () =>
    withDatabase(async (pool) => {
      const store = makePostgresStore(pool, "test")
      const first = await runOf(store, "111111111111", [user("A"), user("B"), user("C")])
      expect(Exit.isSuccess(first) && first.value).toMatchObject({ seen: ["New", "New", "New"], unseen: [], summary: { written: 3, removed: 0 } })
      const second = await runOf(store, "111111111111", [user("A"), user("B", true)])
      expect(Exit.isSuccess(second) && second.value).toMatchObject({
        seen: ["Unchanged", "Changed"],
        unseen: ["C"],
        summary: { written: 1, removed: 1 }
      })
      const shown = await Effect.runPromise(store.show)
      expect(shown).toMatchObject([{ accountId: "111111111111", users: 2 }])
      expect((await Effect.runPromise(store.reset("111111111111"))).map((a) => a.accountId)).toEqual(["111111111111"])
      expect(await Effect.runPromise(store.show)).toEqual([])
    }))

  it("users read ahead get the same answers from stage as users looked up one at a time, previous snapshots included", () =>
    withDatabase(async (pool) => {
      const store = makePostgresStore(pool, "test")
      /** Two runs of `accountId`; `ahead` says what the second reads ahead before each stage. */
      const twoRuns = (accountId: string, ahead: (step: number) => ReadonlyArray<string> | undefined) =>
        Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const first = yield* store.beginRun(accountId)
          // The account's first run: nothing is in the state, read ahead or not.
          if (ahead(0) !== undefined) yield* first.readAhead(["A", "B", "C"])
          for (const u of [user("A"), user("B"), user("C")]) yield* first.stage(u)
          yield* first.commit({ complete: true, at: new Date(), snapshot: false })
          const second = yield* store.beginRun(accountId)
          // B changed; D and E are new; B is staged twice (as a stale report makes it); C after
          // another read ahead replaced the one that named it; E is named by none.
          const steps = [user("A"), user("B", true), user("D"), user("B", true), user("C"), user("E")]
          const seen = []
          for (const [step, u] of steps.entries()) {
            const ids = ahead(step + 1)
            if (ids !== undefined) yield* second.readAhead(ids)
            seen.push(yield* second.stage(u))
          }
          return seen
        })))
      const oneByOne = await twoRuns("333333333333", () => undefined)
      const readAhead = await twoRuns("444444444444", (step) => step === 0 ? [] : step === 1 ? ["A", "B", "C", "D"] : step === 5 ? ["X"] : undefined)
      expect(readAhead).toEqual(oneByOne)
      expect(oneByOne.map((o) => o._tag)).toEqual(["Unchanged", "Changed", "New", "Changed", "Unchanged", "New"])
      expect(oneByOne[1]).toEqual({ _tag: "Changed", previous: user("B") })
    }))

  it("a run whose job expired and was retaken by another worker: its late commit refused (Fenced), the new holder's accepted", () =>
    withDatabase(async (pool, boss) => {
      const account = "222222222222"
      await boss.send(QUEUE, { accountId: account }, { singletonKey: account, retryLimit: 2, retryDelay: 0 })
      const stale = await take(pool, boss, account, "worker-1")
      // The job lapses while worker-1 still runs (pg-boss's expiry fails it into a retry), and worker-2 takes it.
      await boss.fail(QUEUE, [{ id: stale.jobId, retryCount: stale.retryCount }], { message: "job heartbeat timeout" })
      const fresh = await take(pool, boss, account, "worker-2")
      expect(fresh.jobId).toBe(stale.jobId)
      expect(fresh.retryCount).toBe(stale.retryCount + 1)

      const staleStore = makePostgresStore(pool, "test", new Map([[account, stale]]))
      const refused = await runOf(staleStore, account, [user("A"), user("B")])
      const error = failure(refused)
      expect(error?._tag).toBe("StateError")
      expect(error?.reason).toBe("Fenced")
      expect(error?.message).toMatch(/another worker \(worker-2\) took the account/)
      // Nothing of the stale run was written.
      expect(await Effect.runPromise(makePostgresStore(pool, "test").show)).toEqual([])

      const freshStore = makePostgresStore(pool, "test", new Map([[account, fresh]]))
      const accepted = await runOf(freshStore, account, [user("A")])
      expect(Exit.isSuccess(accepted) && accepted.value.summary).toEqual({ written: 1, removed: 0 })
      expect(await Effect.runPromise(makePostgresStore(pool, "test").show)).toMatchObject([{ accountId: account, users: 1 }])
    }))

  it("a run whose heartbeat lapsed, before pg-boss noticed and before anyone retook it: its commit refused", () =>
    withDatabase(async (pool, boss) => {
      const account = "333333333333"
      await boss.send(QUEUE, { accountId: account }, { singletonKey: account, heartbeatSeconds: 10 })
      const fence = await take(pool, boss, account, "worker-1")
      // The worker was cut off for longer than the heartbeat: its last heartbeat is 11 s old.
      await pool.query(`UPDATE ${BOSS_SCHEMA}.job SET heartbeat_on = now() - interval '11 seconds' WHERE id = $1`, [fence.jobId])
      const refused = await runOf(makePostgresStore(pool, "test", new Map([[account, fence]])), account, [user("A")])
      expect(failure(refused)?.reason).toBe("Fenced")
      expect(failure(refused)?.message).toMatch(/expired/)
      expect(await Effect.runPromise(makePostgresStore(pool, "test").show)).toEqual([])
    }))

  it("a run of an account no job of this worker holds is refused before it starts", () =>
    withDatabase(async (pool) => {
      const exit = await runOf(makePostgresStore(pool, "test", new Map()), "444444444444", [user("A")])
      expect(failure(exit)?.reason).toBe("Misuse")
    }))
})

describe("the coordination section", () => {
  const parse = (coordination: unknown) =>
    Effect.runPromise(
      parseConfig(JSON.stringify({ sinks: [{ type: "stdout" }], coordination }), "config.json", { DATABASE_URL: "postgres://u:s3cret@db:5432/iam" }).pipe(
        Effect.match({ onFailure: (e) => ({ problems: e.problems, config: undefined }), onSuccess: (config) => ({ problems: [], config }) })
      )
    )

  it("the URL from the environment, kept Redacted, the defaults filled in; described without the password", async () => {
    const { config } = await parse({ postgres: "${DATABASE_URL}" })
    expect(Redacted.value(config!.coordination!.postgres)).toBe("postgres://u:s3cret@db:5432/iam")
    const described = describeConfig(config!)
    expect(described).not.toContain("s3cret")
    expect(JSON.parse(described).coordination).toEqual({
      postgres: "<redacted>",
      heartbeat: "30s",
      jobTimeout: "6h",
      pollInterval: "2s",
      retryLimit: 2,
      retryDelay: "5s"
    })
  })

  it("a failed job tried again as often as retryLimit says, retryDelay apart, then failed for good", () =>
    withDatabase(async (pool, boss) => {
      const account = "555555555555"
      const { config } = await parse({ postgres: "${DATABASE_URL}", retryLimit: 3, retryDelay: "0s" })
      await boss.send(QUEUE, { accountId: account }, { ...jobOptions(config!.coordination!), singletonKey: account })
      const tries: Array<number> = []
      for (;;) {
        const [job] = await boss.fetch<{ accountId: string }>(QUEUE)
        if (job === undefined) break
        tries.push(job.retryCount)
        await boss.fail(QUEUE, [{ id: job.id, retryCount: job.retryCount }], { message: "not read in full" })
      }
      expect(tries).toEqual([0, 1, 2, 3])
      expect((await pool.query(`SELECT state::text FROM ${BOSS_SCHEMA}.job WHERE singleton_key = $1`, [account])).rows).toEqual([{ state: "failed" }])

      // The delay as sent: a failed attempt waits that long before the next is fetched.
      const later = "666666666666"
      const { config: slow } = await parse({ postgres: "${DATABASE_URL}", retryDelay: "2m" })
      await boss.send(QUEUE, { accountId: later }, { ...jobOptions(slow!.coordination!), singletonKey: later })
      const [job] = await boss.fetch<{ accountId: string }>(QUEUE)
      await boss.fail(QUEUE, [{ id: job!.id, retryCount: job!.retryCount }], { message: "not read in full" })
      expect(await boss.fetch(QUEUE)).toEqual([])
      const row = (await pool.query(
        `SELECT retry_limit, retry_delay, state::text, extract(epoch FROM start_after - now())::int AS wait FROM ${BOSS_SCHEMA}.job WHERE id = $1`,
        [job!.id]
      )).rows[0]
      expect(row).toMatchObject({ retry_limit: 2, retry_delay: 120, state: "retry" })
      expect(row.wait).toBeGreaterThan(100)
    }))

  it("retryLimit and retryDelay out of bounds: one line each naming the field", async () => {
    const { problems } = await parse({ postgres: "${DATABASE_URL}", retryLimit: -1, retryDelay: "2h" })
    expect(problems.join("\n")).toMatch(/coordination\.retryLimit: .*between 0 and 100/)
    expect(problems.join("\n")).toMatch(/coordination\.retryDelay: expected a duration between 0s and 1h/)
    expect((await parse({ postgres: "${DATABASE_URL}", retryLimit: 1.5 })).problems.join("\n")).toMatch(/coordination\.retryLimit/)
  })

  it("a bad URL or a heartbeat below pg-boss's minimum: one line each naming the field, never the password", async () => {
    const { problems } = await parse({ postgres: "mysql://u:s3cret@db/iam", heartbeat: "5s" })
    expect(problems.join("\n")).toMatch(/coordination\.postgres: expected a PostgreSQL URL .*found "mysql:\/\/<redacted>@db\/iam"/)
    expect(problems.join("\n")).toMatch(/coordination\.heartbeat: expected a duration between 10s and 10m/)
    expect(problems.join("\n")).not.toContain("s3cret")
    expect((await parse({})).problems.join("\n")).toMatch(/coordination\.postgres/)
  })
})
