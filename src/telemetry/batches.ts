/**
 * What a sink batch leaves in traces and metrics: one span from its first attempt to its delivery
 * or dead-lettering, and its share of the delivery metrics.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { recordBatch } from "./metrics.ts"

export type BatchOutcome = "delivered" | "dead_lettered"

/**
 * The span of one sink batch, from its first attempt to its delivery or dead-lettering
 * (sink, events, bytes, outcome), and the batch's share of the delivery metrics. The sink's
 * `write` runs inside this span, so `currentTraceparent` there names it.
 */
export const observeBatch = (sink: string, events: number, bytes: number) =>
<E, R>(self: Effect.Effect<BatchOutcome, E, R>): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const outcome = yield* self
    const seconds = ((yield* Clock.currentTimeMillis) - startedAt) / 1000
    yield* Effect.annotateCurrentSpan("sink.outcome", outcome)
    yield* recordBatch(sink, events, outcome, seconds)
  }).pipe(
    Effect.withSpan("sink.batch", {
      // the batch's events as NDJSON, as the batcher measured them against `batchBytes`
      attributes: { sink, events, "sink.batch.bytes": bytes }
    })
  )
