/** Counters of one collection run: what the summary line, the exit code and tests read. */
import type { SinkCounts } from "../delivery/Delivery.ts"

export class RunStats {
  /** Users that ListUsers returned so far. */
  seen = 0
  /** Users enriched and mapped into an event. */
  collected = 0
  /** Users whose enrichment or mapping failed after retries (dead-lettered). */
  failed = 0
  /** Users deleted while the run was looking at them. */
  vanished = 0
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

  /** Every user collected and every event delivered to every sink. */
  get complete(): boolean {
    return !this.stopped && this.failed === 0 && [...this.sinks.values()].every((s) => s.deadLettered === 0 && s.delivered === this.collected)
  }

  summary(): RunSummary {
    return {
      seen: this.seen,
      collected: this.collected,
      failed: this.failed,
      vanished: this.vanished,
      stopped: this.stopped,
      sinks: Object.fromEntries([...this.sinks].map(([name, c]) => [name, { ...c }])),
      durationMs: Date.now() - this.startedAt,
      complete: this.complete
    }
  }
}

export interface RunSummary {
  readonly seen: number
  readonly collected: number
  readonly failed: number
  readonly vanished: number
  /** Cut short by SIGTERM/SIGINT: not every user was collected. */
  readonly stopped?: boolean
  readonly sinks: Readonly<Record<string, SinkCounts>>
  readonly durationMs: number
  readonly complete: boolean
}

export const formatSummary = (s: RunSummary): string => {
  const rate = s.durationMs > 0 ? Math.round((s.collected * 1000) / s.durationMs) : s.collected
  const sinks = Object.entries(s.sinks)
    .map(([name, c]) =>
      `${name}: ${c.delivered} delivered${c.retried > 0 ? `, ${c.retried} retries` : ""}${
        c.deadLettered > 0 ? `, ${c.deadLettered} dead-lettered` : ""
      }`
    )
    .join("; ")
  return `${s.collected} users collected, ${s.failed} failed, ${s.vanished} vanished in ${(s.durationMs / 1000).toFixed(1)}s (${rate} users/s) | ${sinks}`
}
