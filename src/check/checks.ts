/**
 * Everything a run needs, verified without collecting: the AWS side (`aws.ts`) and where the run
 * writes (`sinks.ts`), side by side. `iam-ocsf check` prints the results (`checkCommand`); `run`
 * makes the same checks at start-up and logs what is not green (`startupChecks`), and with
 * `--require-healthy` does not start when one is red. Loaded by those commands only.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import { Accounts } from "../accounts/Accounts.ts"
import { canColor } from "../cli/versionLine.ts"
import { RunFailed } from "../common/exit.ts"
import { deadLetterWritableAtStart } from "../delivery/DeadLetter.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import { accountsSettings } from "../run/Runner.ts"
import { awsChecks } from "./aws.ts"
import { type CheckResult, describeResult, formatJson, formatTable, formatTally, tally } from "./CheckResult.ts"
import { sinkChecks } from "./sinks.ts"

export type CheckFormat = "table" | "json"

/** The accounts as the run reaches them, for the checks that do not share a run's (`check`, the daemon's start). */
export const checkLayer = (config: AppConfig) => Accounts.layer(accountsSettings(config))

/** Every check, the AWS side and the sinks at once, in a stable order: AWS first, then the sinks as configured. */
export const allChecks = (
  config: AppConfig,
  perAccount = true
): Effect.Effect<ReadonlyArray<CheckResult>, never, Accounts | FileSystem.FileSystem> =>
  Effect.all([awsChecks(config, perAccount), sinkChecks(config)], { concurrency: 2 }).pipe(
    Effect.map(([aws, sinks]) => [...aws, ...sinks]),
    Effect.withSpan("check")
  )

/** `iam-ocsf check`: the results on stdout (a table, or JSON); exit code 1 when one is red. */
export const checkCommand = (config: AppConfig, format: CheckFormat) =>
  Effect.gen(function*() {
    const results = yield* allChecks(config).pipe(Effect.provide(checkLayer(config)))
    const colors = canColor({
      noColor: process.env["NO_COLOR"],
      forceColor: process.env["FORCE_COLOR"],
      term: process.env["TERM"],
      stdoutIsTerminal: process.stdout.isTTY === true
    })
    yield* Console.log(format === "json" ? formatJson(results) : formatTable(results, colors))
    const t = tally(results)
    if (t.fail > 0) return yield* new RunFailed({ message: `${t.fail} check${t.fail === 1 ? "" : "s"} failed` })
  })

/**
 * `run`'s start-up checks: each red one logged as a warning with its fix, each yellow one as
 * information, then the counts. With `requireHealthy`, a red one stops the start: exit code 1.
 */
export const startupChecks = (config: AppConfig, requireHealthy: boolean) =>
  Effect.gen(function*() {
    // Without a dead-letter file nothing may be collected, healthy or not: it fails the start
    // before the checks' first AWS call, as it did before there were checks.
    yield* deadLetterWritableAtStart(config.deadLetter.path)
    // A coordinated worker skips the per-account probes: every worker probing every account would
    // read accounts others are collecting; an account's missing permission shows as its failed job.
    const results = yield* allChecks(config, config.coordination === undefined)
    for (const r of results) {
      if (r.status === "ok") continue
      const log = r.status === "fail" ? Effect.logWarning : Effect.logInfo
      yield* log(`start-up check ${r.status === "fail" ? "failed" : "warns"}: ${describeResult(r)}`).pipe(
        Effect.annotateLogs({ check: r.name, ...(r.account === undefined ? {} : { account: r.account }) })
      )
    }
    const t = tally(results)
    if (t.fail > 0 && requireHealthy) {
      const message = `not starting (--require-healthy): ${t.fail} start-up check${t.fail === 1 ? "" : "s"} failed; ` +
        "`iam-ocsf check --config <file>` shows every check"
      yield* Effect.logError(message)
      return yield* new RunFailed({ message })
    }
    yield* Effect.logInfo(`start-up checks: ${formatTally(t)}`)
  })
