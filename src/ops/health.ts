/**
 * What /readyz answers from: how the daemon's last run ended. Ready means the last run did not
 * fail and ended less than two intervals ago, so one late or slow run is tolerated but a
 * daemon whose runs stopped (stuck, or failing on every attempt) is reported. A run that
 * dead-lettered some users still counts as done: those are reported by the metrics and the
 * dead-letter file, and restarting would not fix them.
 */
import * as Duration from "effect/Duration"
import type { RunSummary } from "../run/RunStats.ts"

export interface LastRun {
  /** Epoch milliseconds. */
  readonly endedAt: number
  readonly ok: boolean
  /** The failure, or the summary line. */
  readonly message: string
  readonly summary?: RunSummary | undefined
}

export interface Readiness {
  readonly ready: boolean
  readonly reason: string
  readonly lastRun?: LastRun | undefined
}

const ago = (millis: number) => Duration.format(Duration.millis(Math.max(0, Math.round(millis))))

export const readiness = (lastRun: LastRun | undefined, now: number, interval: Duration.Duration): Readiness => {
  if (lastRun === undefined) return { ready: false, reason: "no run has ended yet" }
  if (!lastRun.ok) return { ready: false, reason: `the last run failed: ${lastRun.message}`, lastRun }
  const age = now - lastRun.endedAt
  // Run ends are a wait plus a whole run apart: a run longer than the interval must not flap readiness.
  const limit = 2 * Duration.toMillis(interval) + (lastRun.summary?.durationMs ?? 0)
  return age < limit
    ? { ready: true, reason: `the last run ended ${ago(age)} ago`, lastRun }
    : {
      ready: false,
      reason: `the last run ended ${ago(age)} ago, more than two intervals (${ago(limit)})`,
      lastRun
    }
}

/** The daemon writes it after every run; the operations endpoint reads it. */
export class DaemonHealth {
  lastRun: LastRun | undefined = undefined
  /** The interval of the config in force (SIGHUP may change it). */
  interval: Duration.Duration

  constructor(interval: Duration.Duration) {
    this.interval = interval
  }

  readiness(now: number): Readiness {
    return readiness(this.lastRun, now, this.interval)
  }
}
