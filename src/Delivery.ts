import { Effect } from "effect"
import { DeadLetter } from "./DeadLetter.ts"
import { retryPolicy, type RetrySettings } from "./retry.ts"
import type { RunStats } from "./RunStats.ts"
import type { Envelope, Sink } from "./Sink.ts"

/**
 * Hands one batch to every sink at once. Each sink retries with the project's retry policy;
 * a batch that still fails goes to the dead-letter file with the sink's name and the error,
 * so one broken sink neither stops the others nor loses events. A batch in flight is not
 * interrupted (a shutdown waits for it), so a destination never sees a half-written batch
 * from us.
 */
export const deliverBatch = (
  sinks: ReadonlyArray<Sink>,
  batch: ReadonlyArray<Envelope>,
  stats: RunStats,
  retry: RetrySettings
) =>
  Effect.forEach(sinks, (sink) => deliverTo(sink, batch, stats, retry), { concurrency: "unbounded", discard: true })
    .pipe(Effect.uninterruptible)

const deliverTo = (sink: Sink, batch: ReadonlyArray<Envelope>, stats: RunStats, retry: RetrySettings) => {
  const counts = stats.sink(sink.name)
  let attempts = 0
  const attempt = Effect.suspend(() => {
    attempts += 1
    if (attempts > 1) counts.retried += 1
    return sink.write(batch)
  })
  return Effect.retry(attempt, retryPolicy(retry)).pipe(
    Effect.matchEffect({
      onSuccess: () => Effect.sync(() => void (counts.delivered += batch.length)),
      onFailure: (error) =>
        Effect.gen(function*() {
          counts.deadLettered += batch.length
          const deadLetter = yield* DeadLetter
          yield* Effect.logError(`sink ${sink.name}: batch of ${batch.length} dead-lettered to ${deadLetter.path}`)
            .pipe(Effect.annotateLogs({ sink: sink.name, error: error.message, attempts }))
          yield* deadLetter.batch(sink.name, error, batch)
        })
    }),
    Effect.withSpan("sink.batch", { attributes: { sink: sink.name, events: batch.length } })
  )
}
