import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { byteLength } from "../Delivery.ts"
import type { Envelope } from "../Sink.ts"
import { recordBatch } from "./metrics.ts"

export type BatchOutcome = "delivered" | "dead_lettered"

/** Bytes of the batch's events as NDJSON: what most sinks send, give or take framing. */
const ndjsonBytes = (batch: ReadonlyArray<Envelope>): number => {
  let bytes = 0
  for (const event of batch) bytes += byteLength(event)
  return bytes
}

/**
 * The span of one sink batch, from its first attempt to its delivery or dead-lettering
 * (sink, events, bytes, outcome), and the batch's share of the delivery metrics. The sink's
 * `write` runs inside this span, so `currentTraceparent` there names it.
 */
export const observeBatch = (sink: string, batch: ReadonlyArray<Envelope>) =>
<E, R>(self: Effect.Effect<BatchOutcome, E, R>): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const outcome = yield* self
    const seconds = ((yield* Clock.currentTimeMillis) - startedAt) / 1000
    yield* Effect.annotateCurrentSpan("sink.outcome", outcome)
    yield* recordBatch(sink, batch.length, outcome, seconds)
  }).pipe(
    Effect.withSpan("sink.batch", {
      attributes: { sink, events: batch.length, "sink.batch.bytes": ndjsonBytes(batch) }
    })
  )
