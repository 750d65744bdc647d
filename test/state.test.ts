/**
 * The state store (src/state/): what a run stages is invisible until its commit, a commit writes
 * the changed users and removes the unseen ones only after a complete listing, a failed user keeps
 * its state, a process killed mid-commit leaves a store the next run opens with the previous
 * state, a store of a newer version (or not a store) is refused, and `show`/`reset`.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { snapshotHash } from "../src/changes/snapshot.ts"
import { openSqliteStore, STATE_SCHEMA_VERSION } from "../src/state/sqlite.ts"
import type { StateError, StateStoreService } from "../src/state/StateStore.ts"
import { ACCOUNT, snapshotOf, userId } from "./fixtures/state/snapshots.ts"
import { repoRoot, tempDir } from "./support.ts"

const OTHER = "210987654321"

/** A store in a new folder, closed with the test's scope. */
const freshStore = (file = path.join(tempDir(), "nested", "state.sqlite")) =>
  Effect.acquireRelease(openSqliteStore(file), (s) => Effect.sync(() => s.close())).pipe(Effect.map((store) => ({ store, file })))

/** One complete run staging `users` (snapshots), committed. */
const commitRun = (store: StateStoreService, account: string, users: ReadonlyArray<ReturnType<typeof snapshotOf>>, complete = true) =>
  Effect.scoped(Effect.gen(function*() {
    const run = yield* store.beginRun(account)
    const seen = []
    for (const u of users) seen.push((yield* run.stage(u))._tag)
    const summary = yield* run.commit({ complete, at: new Date("2026-01-02T03:04:05Z"), snapshot: false })
    return { seen, summary }
  }))

const range = (from: number, to: number, gen = 1) => Array.from({ length: to - from }, (_, k) => snapshotOf(from + k, gen))

const previousOf = (store: StateStoreService, account: string, id: string) =>
  Effect.scoped(Effect.flatMap(store.beginRun(account), (run) => run.previous(id)))

const stateError = (exit: Exit.Exit<unknown, StateError>): StateError => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : undefined
  assert.isDefined(error)
  return error as StateError
}

describe("state store", () => {
  it.effect("round trip: a committed snapshot is read back as staged, Unchanged next time, Changed with the previous one after a change", () =>
    Effect.gen(function*() {
      const { store, file } = yield* freshStore()
      assert.isTrue(fs.existsSync(file))
      const first = yield* commitRun(store, ACCOUNT, range(0, 3))
      assert.deepStrictEqual(first.seen, ["New", "New", "New"])
      assert.deepStrictEqual(first.summary, { written: 3, removed: 0 })
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(1)), Option.some(snapshotOf(1)))

      const second = yield* Effect.scoped(Effect.gen(function*() {
        const run = yield* store.beginRun(ACCOUNT)
        assert.deepStrictEqual(run.lastCompleteRun, new Date("2026-01-02T03:04:05Z"))
        const unchanged = yield* run.stage(snapshotOf(0))
        const changed = yield* run.stage(snapshotOf(1, 2))
        const fresh = yield* run.stage(snapshotOf(9))
        yield* run.stage(snapshotOf(2))
        const summary = yield* run.commit({ complete: true, at: new Date(), snapshot: false })
        return { unchanged, changed, fresh, summary }
      }))
      assert.deepStrictEqual(second.unchanged, { _tag: "Unchanged" })
      assert.deepStrictEqual(second.changed, { _tag: "Changed", previous: snapshotOf(1) })
      assert.deepStrictEqual(second.fresh, { _tag: "New" })
      // only the changed and the new user are written
      assert.deepStrictEqual(second.summary, { written: 2, removed: 0 })
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(1)), Option.some(snapshotOf(1, 2)))
      assert.notStrictEqual(snapshotHash(snapshotOf(1)), snapshotHash(snapshotOf(1, 2)))
    }))

  it.effect("what a run stages is not visible before its commit, to the run itself, another run or show; abandon drops it", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore()
      yield* commitRun(store, ACCOUNT, range(0, 2))
      yield* Effect.scoped(Effect.gen(function*() {
        const run = yield* store.beginRun(ACCOUNT)
        yield* run.stage(snapshotOf(0, 2))
        yield* run.stage(snapshotOf(5))
        assert.deepStrictEqual(yield* run.previous(userId(0)), Option.some(snapshotOf(0)))
        assert.deepStrictEqual(yield* run.previous(userId(5)), Option.none())
        const other = yield* store.beginRun(OTHER)
        assert.deepStrictEqual(yield* other.previous(userId(5)), Option.none())
        assert.deepStrictEqual((yield* store.show).map((a) => [a.accountId, a.users]), [[ACCOUNT, 2]])
        yield* run.abandon
        // spent: using it again is a mistake that says so
        const misuse = yield* Effect.exit(run.stage(snapshotOf(1)))
        assert.match(stateError(misuse).message, /after the run of account 123456789012 was abandoned/)
      }))
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(0)), Option.some(snapshotOf(0)))
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(5)), Option.none())
    }))

  it.effect("a run whose scope closes before its commit is abandoned: nothing of it is recorded, and the account can run again", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore()
      yield* Effect.scoped(Effect.gen(function*() {
        const run = yield* store.beginRun(ACCOUNT)
        yield* run.stage(snapshotOf(0))
      }))
      assert.deepStrictEqual(yield* store.show, [])
      const again = yield* commitRun(store, ACCOUNT, range(0, 1))
      assert.deepStrictEqual(again.seen, ["New"])
    }))

  it.effect("one run per account at a time; runs of different accounts are independent", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.beginRun(ACCOUNT)
        const twice = yield* Effect.exit(Effect.scoped(store.beginRun(ACCOUNT)))
        assert.strictEqual(stateError(twice).reason, "Misuse")
        const other = yield* store.beginRun(OTHER)
        yield* other.stage(snapshotOf(1))
        yield* other.commit({ complete: true, at: new Date(), snapshot: true })
      }))
      const shown = yield* store.show
      assert.deepStrictEqual(shown.map((a) => [a.accountId, a.users, a.lastSnapshot !== undefined]), [[OTHER, 1, true]])
    }))

  it.effect("a complete listing removes the unseen users (listed by unseen, page after page); a failed user is kept, neither changed nor removed", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore()
      yield* commitRun(store, ACCOUNT, range(0, 700))
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const run = yield* store.beginRun(ACCOUNT)
        // users 0..599 seen (0..9 changed), 600..699 gone but 650 failed (kept)
        for (let i = 0; i < 600; i++) yield* run.stage(snapshotOf(i, i < 10 ? 2 : 1))
        yield* run.keep(userId(650))
        const unseen = yield* Stream.runCollect(run.unseen())
        const summary = yield* run.commit({ complete: true, at: new Date(), snapshot: false })
        return { unseen, summary }
      }))
      // more than two pages of the unseen stream, in UserId order, without the kept user
      assert.deepStrictEqual(result.unseen.map((u) => u.UserId), range(600, 700).map((u) => u.UserId).filter((id) => id !== userId(650)))
      assert.deepStrictEqual(result.summary, { written: 10, removed: 99 })
      assert.deepStrictEqual((yield* store.show).map((a) => a.users), [601])
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(650)), Option.some(snapshotOf(650)))
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(699)), Option.none())
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(3)), Option.some(snapshotOf(3, 2)))
    }))

  it.effect("an incomplete listing removes nothing and is not a complete run: the first one leaves no baseline", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore()
      yield* commitRun(store, ACCOUNT, range(0, 5), false)
      const [afterPartial] = yield* store.show
      assert.strictEqual(afterPartial?.users, 5)
      assert.isDefined(afterPartial?.lastRun)
      assert.isUndefined(afterPartial?.lastCompleteRun)

      yield* commitRun(store, ACCOUNT, range(0, 5))
      const partial = yield* commitRun(store, ACCOUNT, range(0, 2, 2), false)
      assert.deepStrictEqual(partial.summary, { written: 2, removed: 0 })
      assert.deepStrictEqual((yield* store.show).map((a) => a.users), [5])
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(4)), Option.some(snapshotOf(4)))
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(1)), Option.some(snapshotOf(1, 2)))
    }))

  it.effect("show lists every account with its users and times; reset forgets one account or all", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore()
      yield* commitRun(store, ACCOUNT, range(0, 4))
      yield* commitRun(store, OTHER, range(0, 2))
      const shown = yield* store.show
      assert.deepStrictEqual(shown.map((a) => [a.accountId, a.users]), [[ACCOUNT, 4], [OTHER, 2]])
      assert.deepStrictEqual(shown[0]?.lastCompleteRun, new Date("2026-01-02T03:04:05Z"))
      assert.isUndefined(shown[0]?.lastSnapshot)

      const removed = yield* store.reset(OTHER)
      assert.deepStrictEqual(removed.map((a) => [a.accountId, a.users]), [[OTHER, 2]])
      assert.deepStrictEqual((yield* store.show).map((a) => a.accountId), [ACCOUNT])
      // the reset account starts again from no baseline
      const run = yield* Effect.scoped(Effect.map(store.beginRun(OTHER), (r) => r.lastCompleteRun))
      assert.isUndefined(run)

      yield* store.reset()
      assert.deepStrictEqual(yield* store.show, [])
      assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(0)), Option.none())
    }))

  it.effect("an account reset while a run goes on: that run's commit is no complete state, so the next run is a baseline", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore()
      yield* commitRun(store, ACCOUNT, range(0, 3))
      const summary = yield* Effect.scoped(Effect.gen(function*() {
        const run = yield* store.beginRun(ACCOUNT)
        for (const u of range(0, 3)) yield* run.stage(u)
        yield* store.reset(ACCOUNT)
        return yield* run.commit({ complete: true, at: new Date(), snapshot: false })
      }))
      assert.deepStrictEqual(summary, { written: 0, removed: 0 })
      const [account] = yield* store.show
      assert.isUndefined(account?.lastCompleteRun)
      assert.isDefined(account?.lastRun)
    }))

  it.effect("a store written by a newer version is refused with a message that says what to do, and left as it was", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "state.sqlite")
      yield* Effect.scoped(Effect.gen(function*() {
        const { store } = yield* freshStore(file)
        yield* commitRun(store, ACCOUNT, range(0, 1))
      }))
      const raw = new DatabaseSync(file)
      raw.exec(`PRAGMA user_version = ${STATE_SCHEMA_VERSION + 1}`)
      raw.close()
      const error = stateError(yield* Effect.exit(openSqliteStore(file)))
      assert.strictEqual(error.reason, "Newer")
      assert.match(error.message, /written by a newer iam-ocsf \(state schema version 2; this version reads up to 1\): upgrade iam-ocsf/)
      const again = new DatabaseSync(file, { readOnly: true })
      assert.strictEqual((again.prepare("PRAGMA user_version").get() as { user_version: number }).user_version, 2)
      assert.strictEqual((again.prepare("SELECT count(*) AS n FROM users").get() as { n: number }).n, 1)
      again.close()
    }))

  it.effect("a file that is not a state store is refused, never rewritten", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const text = path.join(dir, "notes.txt")
      fs.writeFileSync(text, "not a database, but long enough to have a header that is not SQLite's at all.\n".repeat(10))
      const notSqlite = stateError(yield* Effect.exit(openSqliteStore(text)))
      assert.strictEqual(notSqlite.reason, "Foreign")
      assert.match(notSqlite.message, /not an SQLite file/)
      assert.match(fs.readFileSync(text, "utf8"), /^not a database/)

      const other = path.join(dir, "other.sqlite")
      const raw = new DatabaseSync(other)
      raw.exec("CREATE TABLE things (x)")
      raw.close()
      const foreign = stateError(yield* Effect.exit(openSqliteStore(other)))
      assert.strictEqual(foreign.reason, "Foreign")
      assert.match(foreign.message, /another program/)
    }))

  it.live("a process killed (SIGKILL) in the middle of a commit leaves a store that opens, with the state before that commit", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "state.sqlite")
      yield* Effect.scoped(Effect.gen(function*() {
        const { store } = yield* freshStore(file)
        yield* commitRun(store, ACCOUNT, range(0, 1000))
      }))
      // A trigger that takes forever when the commit records the run's time, after it has written
      // and removed its users: the child is certainly killed inside its commit, with all of its
      // writes made but the transaction not finished.
      const raw = new DatabaseSync(file)
      raw.exec("CREATE TRIGGER stall AFTER UPDATE ON accounts BEGIN SELECT count(*) FROM users a, users b, users c, users d; END")
      raw.close()

      // The child: users 0..199 gone, 200..999 changed, 1000..1199 new.
      const output = yield* Effect.promise(() =>
        new Promise<{ stdout: string; signal: NodeJS.Signals | null }>((resolve, reject) => {
          const child = spawn(process.execPath, [path.join(repoRoot, "test/fixtures/state/commitChild.ts"), file, "200", "1200", "2"], {
            stdio: ["ignore", "pipe", "inherit"]
          })
          let stdout = ""
          child.stdout.on("data", (d) => {
            stdout += d
            if (stdout.includes("committing\n")) setTimeout(() => child.kill("SIGKILL"), 500)
          })
          child.on("error", reject)
          child.on("close", (_, signal) => resolve({ stdout, signal }))
        })
      )
      assert.strictEqual(output.signal, "SIGKILL")
      assert.strictEqual(output.stdout, "committing\n")

      const check = new DatabaseSync(file)
      assert.deepStrictEqual(check.prepare("PRAGMA integrity_check").all(), [{ integrity_check: "ok" }])
      check.exec("DROP TRIGGER stall")
      check.close()

      yield* Effect.scoped(Effect.gen(function*() {
        const { store } = yield* freshStore(file)
        assert.deepStrictEqual((yield* store.show).map((a) => a.users), [1000])
        for (const i of [0, 199, 200, 599, 600, 601, 999]) {
          assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(i)), Option.some(snapshotOf(i, 1)), `user ${i}`)
        }
        assert.deepStrictEqual(yield* previousOf(store, ACCOUNT, userId(1000)), Option.none())
        // and the next run works on it: the same changes are found again
        const next = yield* commitRun(store, ACCOUNT, range(200, 1200, 2))
        assert.deepStrictEqual(next.summary, { written: 1000, removed: 200 })
        assert.deepStrictEqual((yield* store.show).map((a) => a.users), [1000])
      }))
    }), 60_000)
})
