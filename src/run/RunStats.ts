/** Counters of one collection run: what the summary line, the exit code and tests read. */
import type { SinkCounts } from "../delivery/Delivery.ts"

/** What a run asked of AWS, and how the account answered. */
export interface AwsFigures {
  /** Attempts sent (retries included), throttled answers among them, and retries. */
  readonly calls: number
  readonly throttled: number
  readonly retries: number
  /** The learned request rate over the run, requests per second: its mean and its peak. */
  readonly rate: { readonly mean: number; readonly peak: number }
}

const noAwsCalls: AwsFigures = { calls: 0, throttled: 0, retries: 0, rate: { mean: 0, peak: 0 } }

/** One account of a run that reads several: its own counts, and whether it was read in full. */
export interface AccountCounts {
  readonly id: string
  readonly name: string | undefined
  collected: number
  failed: number
  vanished: number
  /** `reading` until its listing ends; `failed` when it could not be read (whole or in part). */
  status: "reading" | "complete" | "failed"
  /** Why it failed, as the dead-letter record says. */
  error?: string
  /** Its figures from AWS (set as it is read). */
  aws: () => AwsFigures
}

/** The figures of several accounts as one: calls, throttles and retries add up, and so do rates. */
const sumFigures = (figures: ReadonlyArray<AwsFigures>): AwsFigures =>
  figures.reduce((sum, f) => ({
    calls: sum.calls + f.calls,
    throttled: sum.throttled + f.throttled,
    retries: sum.retries + f.retries,
    rate: { mean: sum.rate.mean + f.rate.mean, peak: sum.rate.peak + f.rate.peak }
  }), noAwsCalls)

export class RunStats {
  /** Users that ListUsers returned so far. */
  seen = 0
  /** Users enriched and mapped into an event. */
  collected = 0
  /** Users whose enrichment or mapping failed after retries (dead-lettered). */
  failed = 0
  /** Users deleted while the run was looking at them. */
  vanished = 0
  /** Events made for the sinks: one per user collected, unless the run sends change events. */
  emitted = 0
  /** The run's AWS figures so far (the collection sets it; delivery alone makes no AWS call). */
  aws: () => AwsFigures = () => sumFigures([...this.accounts.values()].map((a) => a.aws()))
  /** Users the accounts said they hold (GetAccountSummary), added up as they answer: the live line's estimate. */
  estimatedUsers: number | undefined = undefined
  /** The accounts of a run that reads several (an `accounts` section), by id; empty otherwise. */
  readonly accounts = new Map<string, AccountCounts>()
  /** The collection was cut short by a stop (SIGTERM/SIGINT): the snapshot is partial. */
  stopped = false
  readonly sinks: Map<string, SinkCounts>
  readonly startedAt = Date.now()

  constructor(sinkNames: ReadonlyArray<string>) {
    this.sinks = new Map(sinkNames.map((name) => [name, { delivered: 0, retried: 0, deadLettered: 0 }]))
  }

  sink(name: string): SinkCounts {
    const counts = this.sinks.get(name)
    if (counts === undefined) throw new Error(`unknown sink ${name}`)
    return counts
  }

  /** An account starts being read. */
  account(id: string, name: string | undefined): AccountCounts {
    const counts: AccountCounts = { id, name, collected: 0, failed: 0, vanished: 0, status: "reading", aws: () => noAwsCalls }
    this.accounts.set(id, counts)
    return counts
  }

  /** Every account read in full, every user collected and every event delivered to every sink. */
  get complete(): boolean {
    return !this.stopped && this.failed === 0 && [...this.accounts.values()].every((a) => a.status === "complete") &&
      [...this.sinks.values()].every((s) => s.deadLettered === 0 && s.delivered === this.emitted)
  }

  summary(): RunSummary {
    return {
      seen: this.seen,
      collected: this.collected,
      failed: this.failed,
      vanished: this.vanished,
      stopped: this.stopped,
      sinks: Object.fromEntries([...this.sinks].map(([name, c]) => [name, { ...c }])),
      accounts: [...this.accounts.values()].map(({ aws, ...a }) => ({ ...a, aws: aws() })),
      aws: this.aws(),
      durationMs: Date.now() - this.startedAt,
      complete: this.complete
    }
  }
}

export interface AccountSummary {
  readonly id: string
  readonly name: string | undefined
  readonly collected: number
  readonly failed: number
  readonly vanished: number
  readonly status: "reading" | "complete" | "failed"
  readonly error?: string
  readonly aws: AwsFigures
}

export interface RunSummary {
  readonly seen: number
  readonly collected: number
  readonly failed: number
  readonly vanished: number
  /** Cut short by SIGTERM/SIGINT: not every user was collected. */
  readonly stopped?: boolean
  readonly sinks: Readonly<Record<string, SinkCounts>>
  /** Per account, when the run reads several (an `accounts` section); empty otherwise. */
  readonly accounts: ReadonlyArray<AccountSummary>
  readonly aws: AwsFigures
  readonly durationMs: number
  readonly complete: boolean
}

/** A rate per second with a decimal, never rounded to 0: `806.5`, `0.25`, `0.0031`. */
export const formatRate = (perSecond: number): string =>
  perSecond >= 1 || perSecond <= 0 ? perSecond.toFixed(1) : String(Number(perSecond.toPrecision(2)))

/** A run whose throttled share is at least this... */
const THROTTLED_SHARE = 0.1
/** ...or whose learned rate averaged less than this fraction of its peak, over this long, was slowed down by the account. */
const BELOW_PEAK = 0.25
const BELOW_PEAK_AFTER_MS = 10_000

/**
 * Why the account made the run slow, when it did: many throttled answers, or a learned rate that
 * stayed far below its peak. Undefined when it did not.
 */
export const pushback = (s: RunSummary): string | undefined => {
  const { calls, throttled, rate } = s.aws
  const reasons: Array<string> = []
  if (calls > 0 && throttled >= 10 && throttled / calls >= THROTTLED_SHARE) {
    reasons.push(`${percent(throttled / calls)} of ${calls} AWS calls were throttled`)
  }
  if (s.durationMs >= BELOW_PEAK_AFTER_MS && rate.peak > 0 && rate.mean < BELOW_PEAK * rate.peak) {
    reasons.push(`the request rate it admits averaged ${formatRate(rate.mean)}/s, far below its peak of ${formatRate(rate.peak)}/s`)
  }
  return reasons.length === 0 ? undefined : `the account pushed back: ${reasons.join("; ")}`
}

const percent = (fraction: number) => `${(100 * fraction).toFixed(1)}%`

export const formatSummary = (s: RunSummary): string => {
  const seconds = s.durationMs / 1000
  const rate = seconds > 0 ? s.collected / seconds : s.collected
  const { calls, throttled, retries } = s.aws
  const aws = `AWS: ${calls} calls, ${throttled} throttled${calls > 0 ? ` (${percent(throttled / calls)})` : ""}, ${retries} retries` +
    (pushback(s) === undefined ? "" : ", the account pushed back")
  const sinks = Object.entries(s.sinks)
    .map(([name, c]) =>
      `${name}: ${c.delivered} delivered${c.retried > 0 ? `, ${c.retried} retries` : ""}${
        c.deadLettered > 0 ? `, ${c.deadLettered} dead-lettered` : ""
      }`
    )
    .join("; ")
  const failedAccounts = s.accounts.filter((a) => a.status !== "complete").length
  const accounts = s.accounts.length === 0
    ? ""
    : ` | accounts: ${s.accounts.length - failedAccounts} read${failedAccounts > 0 ? `, ${failedAccounts} failed` : ""}`
  return `${s.collected} users collected, ${s.failed} failed, ${s.vanished} vanished in ${seconds.toFixed(1)}s (${formatRate(rate)} users/s)${accounts} | ${aws} | ${sinks}`
}

/** One account's line, for a run that reads several. */
export const formatAccount = (a: AccountSummary): string => {
  const who = a.name === undefined ? a.id : `${a.id} (${a.name})`
  const state = a.status === "complete" ? "read" : a.status === "failed" ? `failed: ${a.error ?? "unknown"}` : "not finished"
  const { calls, throttled, retries } = a.aws
  return `account ${who}: ${state}; ${a.collected} users collected, ${a.failed} failed, ${a.vanished} vanished | ` +
    `AWS: ${calls} calls, ${throttled} throttled, ${retries} retries`
}
