/**
 * `iam-ocsf replay`: sends the events of dead-lettered batches again, to the sink named in each
 * record or to one chosen sink, then rewrites the dead-letter file without the records that
 * were delivered. User records stay: they are users that could not be collected, not events;
 * the next run collects them once their cause is fixed. A record is removed only when all of
 * its events were delivered; one that fails again stays as it was.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import { causeText } from "../common/causeText.ts"
import { type DeliveryTarget, inBatches, writeWithRetry } from "./Delivery.ts"
import { acquireSinks, type SinksSettings } from "../sinks/acquire.ts"
import type { Envelope } from "./Sink.ts"
import { ExitCode } from "../common/exit.ts"

/** The dead-letter file cannot be read or rewritten, or `--sink` names no sink of the config. */
export class ReplayError extends Schema.TaggedError<ReplayError>()("ReplayError", {
  message: Schema.String
}) {}

/** Some batches could not be delivered again: they are still in the file; exit code 3. */
export class ReplayIncomplete extends Schema.TaggedError<ReplayIncomplete>()("ReplayIncomplete", {
  kept: Schema.Int,
  path: Schema.String
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.incomplete
  override readonly [Runtime.errorReported] = false
  override get message(): string {
    return `replay incomplete: ${this.kept} batch records could not be delivered and stay in ${this.path}`
  }
}

export interface ReplayCounts {
  /** Records delivered (and removed from the file), and their events. */
  records: number
  events: number
  /** Records that failed again (kept). */
  failed: number
}

export interface ReplaySummary {
  readonly sinks: Readonly<Record<string, ReplayCounts>>
  /** Batch records left in the file (failed again, or for a sink the config does not have). */
  readonly keptBatches: number
  /** User records (and unreadable lines), always kept. */
  readonly keptOther: number
}

interface BatchRecord {
  readonly kind: "batch"
  readonly sink: string
  readonly events: ReadonlyArray<unknown>
}

const isBatchRecord = (value: unknown): value is BatchRecord =>
  typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "batch" &&
  typeof (value as { sink?: unknown }).sink === "string" && Array.isArray((value as { events?: unknown }).events)

const envelope = (event: unknown): Envelope => {
  const uid = (event as { user?: { uid?: unknown } } | null)?.user?.uid
  return { key: typeof uid === "string" ? uid : "", json: JSON.stringify(event) }
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

export const replay = (config: SinksSettings, file: string, only?: string, options: { readonly mustExist?: boolean } = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const failed = (what: string) => (cause: unknown) =>
      new ReplayError({ message: `cannot ${what} ${file}: ${causeText(cause)}` })

    if (only !== undefined && !config.sinks.some((s) => s.name === only)) {
      return yield* new ReplayError({
        message: `--sink ${only}: no such sink in the config (sinks: ${config.sinks.map((s) => s.name).join(", ")})`
      })
    }
    if (!(yield* fs.exists(file).pipe(Effect.mapError(failed("read"))))) {
      if (options.mustExist === true) return yield* new ReplayError({ message: `--dead-letter ${file}: no such file` })
      yield* Effect.logInfo(`no dead-letter file at ${file}: nothing to replay`)
      return { sinks: {}, keptBatches: 0, keptOther: 0 } satisfies ReplaySummary
    }

    // Held open to the end: records appended while we work are found through it (see `rewrite`).
    const original = yield* fs.open(file, { flag: "r" }).pipe(Effect.mapError(failed("open")))
    const readFrom = (offset: number) =>
      Effect.gen(function*() {
        const size = Number((yield* original.stat).size)
        if (size <= offset) return new Uint8Array(0)
        yield* original.seek(BigInt(offset), "start")
        return Option.getOrElse(yield* original.readAlloc(size - offset), () => new Uint8Array(0))
      }).pipe(Effect.mapError(failed("read")))
    const content = yield* readFrom(0)
    const lines = decoder.decode(content).split("\n").filter((line) => line.trim() !== "")

    const parsed = lines.map((line) => {
      try {
        const value: unknown = JSON.parse(line)
        return { line, record: isBatchRecord(value) ? value : undefined }
      } catch {
        return { line, record: undefined }
      }
    })
    const wanted = new Set(only !== undefined ? [only] : parsed.flatMap((p) => (p.record ? [p.record.sink] : [])))
    const targets = new Map<string, DeliveryTarget>(
      (yield* acquireSinks(config, wanted)).map((t) => [t.sink.name, t])
    )

    const counts: Record<string, ReplayCounts> = {}
    const kept: Array<string> = []
    let keptBatches = 0
    for (const { line, record } of parsed) {
      if (record === undefined) {
        kept.push(line)
        continue
      }
      const target = targets.get(only ?? record.sink)
      if (target === undefined) {
        yield* Effect.logWarning(`a batch of ${record.events.length} events for sink ${record.sink}: no such sink in the config; kept`)
        kept.push(line)
        keptBatches += 1
        continue
      }
      const sinkCounts = (counts[target.sink.name] ??= { records: 0, events: 0, failed: 0 })
      // in batches the target sink accepts (its own count and byte limits)
      const batches = inBatches(record.events.map(envelope), target.settings)
      const result = yield* Effect.forEach(
        batches,
        (batch) => writeWithRetry(target.sink, batch, target.settings.retry),
        { discard: true }
      ).pipe(Effect.result)
      if (result._tag === "Success") {
        sinkCounts.records += 1
        sinkCounts.events += record.events.length
      } else {
        sinkCounts.failed += 1
        keptBatches += 1
        kept.push(line)
        yield* Effect.logWarning(
          `sink ${target.sink.name}: a batch of ${record.events.length} events failed again and stays in ${file}: ${result.failure.message}`
        )
      }
    }

    yield* rewrite(fs, file, kept, content.length, readFrom).pipe(Effect.mapError(failed("rewrite")))
    return { sinks: counts, keptBatches, keptOther: kept.length - keptBatches } satisfies ReplaySummary
  }))

/**
 * Replaces the file by the kept records, atomically (a temporary file renamed over it), plus
 * whatever a run appended since we read it. A writer that opened the file just before the
 * rename writes into the replaced file; what it wrote right after is copied over too.
 */
const rewrite = (
  fs: FileSystem.FileSystem,
  file: string,
  kept: ReadonlyArray<string>,
  readUpTo: number,
  readFrom: (offset: number) => Effect.Effect<Uint8Array, ReplayError>
) =>
  Effect.gen(function*() {
    const temporary = `${file}.replay-${process.pid}.tmp`
    const appended = yield* readFrom(readUpTo)
    const head = encoder.encode(kept.map((line) => line + "\n").join(""))
    const text = new Uint8Array(head.length + appended.length)
    text.set(head)
    text.set(appended, head.length)
    yield* Effect.scoped(Effect.gen(function*() {
      const out = yield* fs.open(temporary, { flag: "w" })
      yield* out.writeAll(text)
      yield* out.sync
    }))
    yield* fs.rename(temporary, file)
    yield* Effect.sleep(Duration.millis(50))
    const late = yield* readFrom(readUpTo + appended.length)
    if (late.length > 0) {
      yield* Effect.scoped(Effect.gen(function*() {
        const out = yield* fs.open(file, { flag: "a" })
        yield* out.writeAll(late)
        yield* out.sync
      }))
    }
  })

export const formatReplay = (summary: ReplaySummary): string => {
  const sinks = Object.entries(summary.sinks).map(([name, c]) =>
    `${name}: ${c.records} batches (${c.events} events) delivered${c.failed > 0 ? `, ${c.failed} failed again` : ""}`
  )
  return [
    sinks.length === 0 ? "no batches to replay" : sinks.join("; "),
    `${summary.keptBatches} batch records and ${summary.keptOther} other records kept`
  ].join(" | ")
}
