/**
 * How `run --once` shows its progress: a live line on a terminal (a pseudo-terminal from `script`),
 * with GetAccountSummary's estimate of the total; otherwise the log alone.
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { renderProgress } from "../src/cli/progress.ts"
import { configFor, readLines, repoRoot, runCli, tempDir, writeJson } from "./support.ts"

const run = promisify(execFile)
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
const clearLine = "\r\x1b[2K"

describe("progress for people", () => {
  it("the live line: counts, rate, the estimate of the total and the time left", () => {
    const sinks = { a: { delivered: 180, retried: 0, deadLettered: 0 }, b: { delivered: 150, retried: 1, deadLettered: 0 } }
    const summary = { seen: 210, collected: 200, failed: 3, vanished: 0, sinks, durationMs: 4_000, complete: false }
    expect(renderProgress(summary, 5_000)).toBe(
      "200 of ~5,000 users collected, 150 delivered, 3 failed, 50 users/s, ~1m 36s left"
    )
    expect(renderProgress({ ...summary, durationMs: 0 }, undefined)).toBe(
      "200 users collected, 150 delivered, 3 failed, 0 users/s"
    )
  })

  describe("iam-ocsf run --once", () => {
    let emulator: Emulator
    beforeAll(async () => {
      emulator = await startEmulator({ users: 60, faults: { "*": { latencyMs: 10 } } })
    })
    afterAll(() => emulator.close())

    const config = () => {
      const dir = tempDir()
      return {
        dir,
        file: writeJson(
          path.join(dir, "config.json"),
          configFor(emulator, dir, { collection: { strategy: "per-user", concurrency: 4 } })
        )
      }
    }

    it("on a terminal: a line redrawn in place, with GetAccountSummary's estimate of the total", async () => {
      const { dir, file } = config()
      emulator.resetCounters()
      // `script` gives the command a pseudo-terminal, as an operator's shell would.
      const command = [process.execPath, path.join(repoRoot, "src/main.ts"), "run", "--config", file, "--once"]
        .map(shellQuote).join(" ")
      const { stdout } = await run("script", ["-qefc", command, "/dev/null"], { cwd: repoRoot, env: process.env })
      const redraws = stdout.split(clearLine).slice(1).map((s) => s.split(/\r?\n/)[0]!)
      expect(redraws.length).toBeGreaterThan(1)
      expect(redraws.some((line) => /^\d+ of ~62 users collected, \d+ delivered, 0 failed, \d+ users\/s/.test(line)))
        .toBe(true)
      expect(stdout).toMatch(/collection finished: 62 users collected/)
      // Once for the listings' bounds, once for the estimate.
      expect(emulator.counters().byAction["GetAccountSummary"]?.ok).toBe(2)
      expect(readLines(path.join(dir, "events.ndjson"))).toHaveLength(62)
    })

    it("not a terminal: no live line, the run's summary line in the log", async () => {
      const { file } = config()
      emulator.resetCounters()
      const result = await runCli(["run", "--config", file, "--once"])
      expect(result.code).toBe(0)
      expect(result.stderr).not.toContain(clearLine)
      expect(result.stderr).toMatch(/"message":"collection finished: 62 users collected, 0 failed/)
      // Only for the listings' bounds.
      expect(emulator.counters().byAction["GetAccountSummary"]?.ok).toBe(1)
    })
  })
})
