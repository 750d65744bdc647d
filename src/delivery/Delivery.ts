/**
 * The delivery machinery shared by every sink. The source's events are fanned out to one bounded
 * queue per sink; each sink drains its own queue into batches (by count, bytes and time), writes
 * them with the project's retry policy, and dead-letters a batch that still fails. A sink whose
 * queue is full makes the source wait (backpressure): a slow sink slows the run, it never loses
 * events, and the other sinks keep draining what they already have.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Option from "effect/Option"
import { causeText } from "../common/causeText.ts"
import type { DeliveryConfig } from "./DeliveryConfig.ts"
import { DeadLetter, type DeadLetterError } from "./DeadLetter.ts"
import { retryPolicy, type RetrySettings } from "../common/retry.ts"
import { type Envelope, type Sink, SinkError } from "./Sink.ts"
import { observeBatch } from "../telemetry/batches.ts"

/** What became of one sink's events in a run: the summary line, the exit code and metrics read these. */
export interface SinkCounts {
  delivered: number
  retried: number
  deadLettered: number
}

export interface DeliverySettings {
  readonly batchSize: number
  readonly batchBytes: number
  readonly batchWindow: Duration.Duration
  readonly queueSize: number
  readonly retry: RetrySettings
}

export interface DeliveryTarget {
  readonly sink: Sink
  readonly settings: DeliverySettings
}

type Overrides = { readonly [K in keyof DeliverySettings]?: DeliverySettings[K] | undefined }

/** A sink entry's own settings, the `delivery` section's for those it does not set. */
export const deliverySettings = (defaults: DeliveryConfig, entry: Overrides): DeliverySettings => ({
  batchSize: entry.batchSize ?? defaults.batchSize,
  batchBytes: entry.batchBytes ?? defaults.batchBytes,
  batchWindow: entry.batchWindow ?? defaults.batchWindow,
  queueSize: entry.queueSize ?? defaults.queueSize,
  retry: entry.retry ?? defaults.retry
})

/**
 * One write of `batch`, retried while the sink says the failure is retryable; each retry is
 * logged with its wait (a `Retry-After` the destination asked for included). An attempt may be
 * cancelled by the shutdown deadline (`StopSignal.ts`): a sink whose write must not stop half
 * way (the file sink) protects it itself.
 */
export const writeWithRetry = (
  sink: Sink,
  batch: ReadonlyArray<Envelope>,
  retry: RetrySettings,
  onRetry: () => void = () => {}
): Effect.Effect<void, SinkError> => {
  let attempts = 0
  const attempt = Effect.suspend(() => {
    attempts += 1
    if (attempts > 1) onRetry()
    return sink.write(batch)
  })
  const policy = retryPolicy<SinkError>(retry).pipe(
    Schedule.tap(({ duration, input }) => {
      const delay = Duration.millis(Math.round(Duration.toMillis(duration)))
      const asked = input.retryAfter === undefined ? "" : ` (the destination asked to wait ${Duration.format(input.retryAfter)})`
      return Effect.logWarning(
        `sink ${sink.name}: attempt ${attempts} of ${retry.maxAttempts} failed, next attempt in ${Duration.format(delay)}${asked}: ` +
          input.message
      ).pipe(Effect.annotateLogs({ sink: sink.name, attempt: attempts, delayMs: Duration.toMillis(delay) }))
    })
  )
  return Effect.retry(attempt, policy)
}

/**
 * Writes one batch; counts it delivered, or dead-letters it with the last error. The shutdown
 * deadline, cancelling an attempt in flight or the wait for the next one, dead-letters it too,
 * so it can be replayed.
 */
const deliverBatch = (sink: Sink, { events: batch, bytes }: Batch, retry: RetrySettings, counts: SinkCounts) =>
  Effect.uninterruptibleMask((restore) => {
    let written = false
    const write = writeWithRetry(
      { ...sink, write: (b) => sink.write(b).pipe(Effect.tap(() => Effect.sync(() => void (written = true)))) },
      batch,
      retry,
      () => void (counts.retried += 1)
    )
    return restore(write).pipe(
      Effect.exit,
      Effect.flatMap((exit) => {
        if (written || Exit.isSuccess(exit)) {
          return Effect.sync(() => void (counts.delivered += batch.length)).pipe(Effect.as("delivered" as const))
        }
        return deadLetterBatch(sink.name, failureOf(sink.name, exit.cause), batch, counts).pipe(
          Effect.as("dead_lettered" as const)
        )
      }),
      observeBatch(sink.name, batch.length, bytes)
    )
  })

const failureOf = (sink: string, cause: Cause.Cause<SinkError>): SinkError => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) return failure.value
  if (Cause.hasInterruptsOnly(cause)) return notSentByDeadline(sink, "cancelled at the shutdown deadline")
  // A defect in a sink is a bug, but its batch must still not vanish.
  return new SinkError({ sink, message: `unexpected failure: ${causeText(Cause.squash(cause))}`, retryable: false })
}

/** Why a batch the shutdown deadline caught was not delivered (it may be replayed). */
const notSentByDeadline = (sink: string, what: string) =>
  new SinkError({ sink, message: `${what} (schedule.shutdownTimeout after SIGTERM/SIGINT)`, retryable: true })

const deadLetterBatch = (sink: string, error: SinkError, batch: ReadonlyArray<Envelope>, counts: SinkCounts) =>
  Effect.gen(function*() {
    counts.deadLettered += batch.length
    const deadLetter = yield* DeadLetter
    yield* Effect.logError(`sink ${sink}: batch of ${batch.length} dead-lettered to ${deadLetter.path}: ${error.message}`)
      .pipe(Effect.annotateLogs({ sink, retryable: error.retryable }))
    yield* deadLetter.batch(sink, error, batch)
  })

/** Bytes of one event as an NDJSON line: what `batchBytes` limits, here and in replay. */
export const byteLength = (e: Envelope): number => Buffer.byteLength(e.json, "utf8") + 1

/**
 * Takes the next batch from a sink's queue: it closes at `batchSize` events, before the event that
 * would take it past `batchBytes` (one larger event goes alone), or `batchWindow` after its first
 * event. `undefined` once the queue has ended and is empty. Events taken from the queue but not
 * yet in a batch are `held`, so a shutdown can say how many were not delivered.
 */
/**
 * Whether an event of `size` bytes must start a new batch after `count` events of `bytes`: a
 * batch holds at most `batchSize` events and, unless it is a single larger event, `batchBytes`.
 * The one rule for batches here and in replay.
 */
export const closesBatch = (count: number, bytes: number, size: number, settings: DeliverySettings): boolean =>
  count > 0 && (count >= settings.batchSize || bytes + size > settings.batchBytes)

/** One batch, with its size as `batchBytes` counts it. */
interface Batch {
  readonly events: ReadonlyArray<Envelope>
  readonly bytes: number
}

const batcher = (queue: Queue.Dequeue<Envelope, Cause.Done>, settings: DeliverySettings) => {
  const window = Duration.toMillis(settings.batchWindow)
  let pending: ReadonlyArray<Envelope> = []
  let next = 0
  let ended = false
  // The batch being made: taken from the queue, in no batch yet.
  let building: Array<Envelope> = []

  const take = (max: number) =>
    Queue.takeBetween(queue, 1, max).pipe(
      Effect.catch(() => Effect.sync(() => void (ended = true)).pipe(Effect.as(undefined)))
    )

  const nextBatch: Effect.Effect<Batch | undefined> = Effect.gen(function*() {
    const batch: Array<Envelope> = []
    building = batch
    let bytes = 0
    let deadline = 0
    for (;;) {
      while (next < pending.length && batch.length < settings.batchSize) {
        const event = pending[next]!
        const size = byteLength(event)
        if (closesBatch(batch.length, bytes, size, settings)) {
          building = []
          return { events: batch, bytes }
        }
        batch.push(event)
        bytes += size
        next += 1
      }
      if (batch.length >= settings.batchSize || (ended && batch.length > 0)) break
      if (ended) return undefined
      // The window opens with the batch's first event.
      if (batch.length > 0 && deadline === 0) deadline = (yield* Clock.currentTimeMillis) + window
      let taken: ReadonlyArray<Envelope> | undefined
      if (batch.length === 0) {
        taken = yield* take(settings.batchSize)
      } else {
        const remaining = deadline - (yield* Clock.currentTimeMillis)
        if (remaining <= 0) break
        const result = yield* take(settings.batchSize - batch.length).pipe(Effect.timeoutOption(remaining))
        if (result._tag === "None") break
        taken = result.value
      }
      if (taken !== undefined) {
        pending = taken
        next = 0
      }
    }
    building = []
    return { events: batch, bytes }
  })

  /** The events taken from the queue but in no batch yet; they are the caller's from now on. */
  const takeHeld = (): Array<Envelope> => {
    const held = [...building, ...pending.slice(next)]
    building = []
    pending = []
    next = 0
    return held
  }

  return { nextBatch, takeHeld }
}

/** `events` cut into batches as `settings` make them (count and bytes). */
export const inBatches = (events: ReadonlyArray<Envelope>, settings: DeliverySettings): Array<Array<Envelope>> => {
  const out: Array<Array<Envelope>> = []
  let current: Array<Envelope> = []
  let bytes = 0
  for (const e of events) {
    const size = byteLength(e)
    if (closesBatch(current.length, bytes, size, settings)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(e)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
}

/**
 * Drains one sink's queue until it has ended, with at most `sink.concurrency` batches in flight
 * (a failure to dead-letter stops them all). When `deadline` fires (the shutdown's), the writes
 * in flight and the waits for a next attempt are cancelled and their batches dead-lettered, and
 * so is every event still waiting: in batches made but not started, in the batch being made and
 * in the queue, until the source (already stopped from taking users) has ended it.
 */
const drain = (
  target: DeliveryTarget,
  queue: Queue.Dequeue<Envelope, Cause.Done>,
  counts: SinkCounts,
  deadline: Effect.Effect<void>
) => {
  const { sink, settings } = target
  const batches = batcher(queue, settings)
  // Batches made but not yet started.
  const waiting = new Set<Batch>()
  const made = Stream.unfold(undefined, () =>
    batches.nextBatch.pipe(Effect.map((batch) => {
      if (batch === undefined) return undefined
      waiting.add(batch)
      return [batch, undefined] as const
    })))
  const start = (batch: Batch) =>
    Effect.suspend(() => {
      waiting.delete(batch)
      return deliverBatch(sink, batch, settings.retry, counts)
    })
  const leftovers = Effect.gen(function*() {
    const events: Array<Envelope> = [...[...waiting].flatMap((b) => b.events), ...batches.takeHeld()]
    waiting.clear()
    for (;;) {
      const taken = yield* Queue.takeAll(queue).pipe(Effect.option)
      if (taken._tag === "None") break
      events.push(...taken.value)
    }
    if (events.length === 0) return
    const error = notSentByDeadline(sink.name, "not sent before the shutdown deadline")
    for (const batch of inBatches(events, settings)) yield* deadLetterBatch(sink.name, error, batch, counts)
  })
  return made.pipe(
    Stream.mapEffect(start, { concurrency: Math.max(1, sink.concurrency ?? 1), unordered: true }),
    Stream.interruptWhen(deadline),
    Stream.runDrain,
    Effect.andThen(leftovers),
    Effect.onInterrupt(() => {
      const left = Math.max(0, Queue.sizeUnsafe(queue)) + batches.takeHeld().length +
        [...waiting].reduce((n, b) => n + b.events.length, 0)
      return left === 0 ? Effect.void : Effect.logWarning(
        `sink ${sink.name}: stopped with ${left} events not delivered (the next run collects them again)`
      )
    })
  )
}

/**
 * Runs `events` into every target and returns when each sink has delivered or dead-lettered
 * all of them. If the source fails, what it produced is still delivered before the failure is
 * returned. A dead-letter file that cannot be written stops the run (nothing may be lost
 * silently). `deadline` (the shutdown's, `run/StopSignal.ts`; default never) ends the
 * delivery early: what is not delivered by then is dead-lettered.
 */
export const deliverStream = <E, R>(
  events: Stream.Stream<Envelope, E, R>,
  targets: ReadonlyArray<DeliveryTarget>,
  stats: { readonly sink: (name: string) => SinkCounts },
  deadline: Effect.Effect<void> = Effect.never
): Effect.Effect<void, E | DeadLetterError, R | DeadLetter> =>
  Effect.gen(function*() {
    const queues = yield* Effect.forEach(targets, (t) => Queue.bounded<Envelope, Cause.Done>(t.settings.queueSize))
    // Offered at once where it fits; only a full queue makes the source wait (for that queue).
    const fanOut = (chunk: ReadonlyArray<Envelope>) =>
      Effect.suspend(() => {
        const waits: Array<Effect.Effect<unknown>> = []
        for (const queue of queues) {
          const rest = Queue.offerAllUnsafe(queue, chunk)
          if (rest.length > 0) waits.push(Queue.offerAll(queue, rest))
        }
        return waits.length === 0 ? Effect.void : Effect.all(waits, { concurrency: "unbounded", discard: true })
      })
    const source = events.pipe(
      Stream.runForEachArray(fanOut),
      Effect.exit,
      Effect.tap(() => Effect.forEach(queues, Queue.end, { discard: true }))
    )
    const sinks = Effect.forEach(
      targets,
      (target, i) => drain(target, queues[i]!, stats.sink(target.sink.name), deadline),
      { concurrency: "unbounded", discard: true }
    )
    const [sourceExit] = yield* Effect.all([source, sinks], { concurrency: "unbounded" })
    return yield* sourceExit
  })
