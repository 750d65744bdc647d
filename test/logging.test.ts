/**
 * The logs of `iam-ocsf run` on stderr: JSON lines that carry their trace and span ids, `log.level`
 * and `--log-level`, the text format, and secrets never written.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { configFor, runCli, tempDir, writeJson } from "./support.ts"

const jsonLines = (stderr: string) => stderr.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))

describe("the logs of iam-ocsf run", () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ users: 10 })
  })
  afterAll(() => emulator.close())

  const configWith = (log: Record<string, string>, extra: Record<string, unknown> = {}) => {
    const dir = tempDir()
    return writeJson(
      path.join(dir, "config.json"),
      { ...configFor(emulator, dir, { collection: { strategy: "per-user" } }), log, ...extra }
    )
  }

  it("JSON by default: one object per line; entries written inside a span carry its trace and span ids", async () => {
    const denied = [...emulator.account.userNames()][3]!
    emulator.setFaults({ ListUserTags: { accessDenied: [denied] } })
    try {
      const result = await runCli(["run", "--config", configWith({}), "--once"])
      expect(result.code).toBe(3)
      const lines = jsonLines(result.stderr)
      for (const line of lines) expect(Object.keys(line).slice(0, 3)).toEqual(["time", "level", "message"])
      const warning = lines.find((l) => l.message.startsWith(`user ${denied} not collected`))
      expect(warning).toMatchObject({ level: "warn", user: denied, action: "ListUserTags", reason: "AccessDenied" })
      expect(warning.trace_id).toMatch(/^[0-9a-f]{32}$/)
      expect(warning.span_id).toMatch(/^[0-9a-f]{16}$/)
      expect(lines.at(-1)).toMatchObject({ level: "warn", message: expect.stringMatching(/^collection finished: 11 users collected, 1 failed/) })
    } finally {
      emulator.setFaults({})
    }
  })

  it("log.level keeps lower levels out; --log-level wins over it", async () => {
    const quiet = await runCli(["run", "--config", configWith({ level: "warn" }), "--once"])
    expect(quiet.code).toBe(0)
    expect(quiet.stderr).toBe("")
    const loud = await runCli(["--log-level", "info", "run", "--config", configWith({ level: "warn" }), "--once"])
    expect(loud.code).toBe(0)
    expect(jsonLines(loud.stderr).map((l) => l.message)).toContainEqual(expect.stringMatching(/^collection finished/))
  })

  it(`log.format "text" is for people; secrets of the telemetry section are never written`, async () => {
    const file = configWith({ format: "text" }, { telemetry: { headers: { "x-api-key": "never-logged-secret" } } })
    // debug: every line the run can write, so that a log of the settings would show up here
    const result = await runCli(["--log-level", "debug", "run", "--config", file, "--once"], {
      // An endpoint (where nothing listens) makes the metrics exporter really read the secret header.
      env: { OTEL_TRACES_EXPORTER: "zipkin", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1" }
    })
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/^\[[^\]]+\] WARN \(#\d+\): telemetry: OTEL_TRACES_EXPORTER: zipkin not supported/m)
    expect(result.stderr).toMatch(/INFO \(#\d+\): collection finished: 12 users collected/)
    expect(result.stderr).not.toContain("{\"time\"")
    expect(result.stderr + result.stdout).not.toContain("never-logged-secret")
  })
})
