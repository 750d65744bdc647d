/**
 * `iam-ocsf state show` and `iam-ocsf state reset` as people run them (the CLI in a child
 * process): what the store holds, as a table or JSON; forgetting one account or all; the exit
 * codes of a missing store, an unknown account and a store of a newer version.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { openSqliteStore } from "../src/state/sqlite.ts"
import { ACCOUNT, snapshotOf } from "./fixtures/state/snapshots.ts"
import { runCli, tempDir, writeJson } from "./support.ts"

const OTHER = "210987654321"

/** A config whose dead-letter file is in `dir`: the state store's default place is beside it. */
const configIn = (dir: string) =>
  writeJson(path.join(dir, "config.json"), { sinks: [{ type: "stdout" }], deadLetter: { path: path.join(dir, "out", "dead-letter.ndjson") } })

const seed = (file: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const store = yield* Effect.acquireRelease(openSqliteStore(file), (s) => Effect.sync(() => s.close()))
    for (const [account, users] of [[ACCOUNT, 3], [OTHER, 2]] as const) {
      const run = yield* store.beginRun(account)
      for (let i = 0; i < users; i++) yield* run.stage(snapshotOf(i))
      yield* run.commit({ complete: true, at: new Date("2026-01-02T03:04:05Z"), snapshot: account === OTHER })
    }
  })))

describe("iam-ocsf state", () => {
  it("show: no store yet (exit 0, nothing created), then the accounts as a table and as JSON", async () => {
    const dir = tempDir()
    const config = configIn(dir)
    const file = path.join(dir, "out", "state.sqlite")
    const none = await runCli(["state", "show", "--config", config])
    expect(none.code).toBe(0)
    expect(none.stdout).toContain(`no state yet: ${file} does not exist`)
    expect(fs.existsSync(file)).toBe(false)

    await seed(file)
    const table = await runCli(["state", "show", "--config", config])
    expect(table.code).toBe(0)
    expect(table.stdout.trim().split("\n")).toEqual([
      `state store ${file}: 2 accounts`,
      "account       users  last complete run         last run                  last snapshot",
      "123456789012      3  2026-01-02T03:04:05.000Z  2026-01-02T03:04:05.000Z  never",
      "210987654321      2  2026-01-02T03:04:05.000Z  2026-01-02T03:04:05.000Z  2026-01-02T03:04:05.000Z"
    ])
    const json = await runCli(["state", "show", "--config", config, "--format", "json"])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({
      path: file,
      accounts: [
        { account: ACCOUNT, users: 3, lastCompleteRun: "2026-01-02T03:04:05.000Z", lastRun: "2026-01-02T03:04:05.000Z", lastSnapshot: null },
        { account: OTHER, users: 2, lastCompleteRun: "2026-01-02T03:04:05.000Z", lastRun: "2026-01-02T03:04:05.000Z", lastSnapshot: "2026-01-02T03:04:05.000Z" }
      ]
    })
  })

  it("reset: one account (an unknown or malformed one is exit 2), then all; state.path is honoured", async () => {
    const dir = tempDir()
    const file = path.join(dir, "elsewhere", "my-state.db")
    const config = writeJson(path.join(dir, "config.json"), { sinks: [{ type: "stdout" }], state: { path: file } })
    await seed(file)

    const unknown = await runCli(["state", "reset", "--config", config, "--account", "999999999999"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain(`account 999999999999 is not in the state store ${file} (it holds: ${ACCOUNT}, ${OTHER})`)
    const malformed = await runCli(["state", "reset", "--config", config, "--account", "12"])
    expect(malformed.code).toBe(2)
    expect(malformed.stderr).toContain(`--account: expected a 12-digit AWS account id; found "12"`)

    const one = await runCli(["state", "reset", "--config", config, "--account", OTHER])
    expect(one.code).toBe(0)
    expect(one.stdout).toContain(`reset ${OTHER} (2 users forgotten) in ${file}: the next run of this account records a new baseline`)
    expect(JSON.parse((await runCli(["state", "show", "--config", config, "--format", "json"])).stdout).accounts.map((a: any) => a.account))
      .toEqual([ACCOUNT])

    const all = await runCli(["state", "reset", "--config", config])
    expect(all.code).toBe(0)
    expect(all.stdout).toContain(`reset ${ACCOUNT} (3 users forgotten)`)
  })

  it("a store written by a newer iam-ocsf: exit 1 with what to do, the file untouched", async () => {
    const dir = tempDir()
    const config = configIn(dir)
    const file = path.join(dir, "out", "state.sqlite")
    await seed(file)
    const raw = new DatabaseSync(file)
    raw.exec("PRAGMA user_version = 7")
    raw.close()
    for (const args of [["state", "show"], ["state", "reset"]]) {
      const result = await runCli([...args, "--config", config])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`the state store ${file} was written by a newer iam-ocsf (state schema version 7; this version reads up to 1)`)
      expect(result.stdout).toBe("")
    }
    const after = new DatabaseSync(file, { readOnly: true })
    expect(after.prepare("SELECT count(*) AS n FROM users").get()).toEqual({ n: 5 })
    after.close()
  })
})
