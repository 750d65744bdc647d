/**
 * How a run shows its progress while it lasts. In logs (the daemon, or output that is not a
 * terminal): a line every few seconds, then the run's summary line. On a terminal with
 * `--once`: one live line redrawn in place, with an estimate of the total from
 * GetAccountSummary, so a person sees how far along a long run is.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { formatSummary, type RunStats, type RunSummary } from "../run/RunStats.ts"
import { statusLine, type TerminalOut } from "./statusLine.ts"

export interface ProgressReporter {
  /** Shows the run's progress until interrupted. */
  readonly report: (stats: RunStats, every: Duration.Duration) => Effect.Effect<void>
  /** Whether it shows an estimate of the total: the run then asks each account (GetAccountSummary) and adds it up in `stats`. */
  readonly estimates: boolean
}

export const logProgress: ProgressReporter = {
  report: (stats, every) =>
    Effect.suspend(() => Effect.logInfo(`in progress: ${formatSummary(stats.summary())}`)).pipe(
      Effect.delay(every),
      Effect.repeat(Schedule.spaced(every)),
      Effect.asVoid
    ),
  estimates: false
}

/** Read by the collection run; `--once` on a terminal provides `liveProgress`. */
export const Progress = Context.Reference<ProgressReporter>("iam-ocsf/Progress", { defaultValue: () => logProgress })

const count = (n: number) => n.toLocaleString("en-US")

/** `1,234 of ~5,000 users collected, 1,200 delivered, 3 failed, 250 users/s, ~15s left`. */
export const renderProgress = (summary: RunSummary, estimate: number | undefined): string => {
  const seconds = summary.durationMs / 1000
  const rate = seconds > 0 ? summary.collected / seconds : 0
  const delivered = Math.min(...Object.values(summary.sinks).map((s) => s.delivered), summary.collected)
  const parts = [
    `${count(summary.collected)}${estimate === undefined ? "" : ` of ~${count(estimate)}`} users collected`,
    `${count(delivered)} delivered`,
    `${count(summary.failed)} failed`,
    `${count(Math.round(rate))} users/s`
  ]
  const left = estimate === undefined ? 0 : estimate - summary.seen
  if (rate > 0 && left > 0) parts.push(`~${Duration.format(Duration.seconds(Math.ceil(left / rate)))} left`)
  return parts.join(", ")
}

export const liveProgress = (out: TerminalOut): ProgressReporter => ({
  report: (stats) =>
    Effect.sync(() => statusLine.draw(out, renderProgress(stats.summary(), stats.estimatedUsers))).pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(250))),
      Effect.ensuring(Effect.sync(() => statusLine.clear())),
      Effect.asVoid
    ),
  estimates: true
})

/** `--once`: the live line when stderr is a terminal; otherwise the logs say how it goes. */
export const withTerminalProgress = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  process.stderr.isTTY ? Effect.provideService(self, Progress, liveProgress(process.stderr)) : self
