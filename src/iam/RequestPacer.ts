/**
 * The account's one token bucket: every request to AWS waits here for its turn, first come
 * first served, at the rate `AdaptiveRate` allows at that moment. Turns are handed out one by
 * one by a single fiber rather than booked ahead, so that a rate cut applies to the very next
 * request instead of after the backlog booked at the old rate.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { AdaptiveRate, type AdaptiveRateOptions } from "./AdaptiveRate.ts"

export interface RequestPacer {
  /** Waits for this request's turn; the result tags the request for `throttled`. */
  readonly turn: Effect.Effect<number>
  /** AWS answered the request (anything but a throttle). */
  readonly admitted: Effect.Effect<void>
  /** AWS answered `Throttling` to the request sent with `epoch`. */
  readonly throttled: (epoch: number) => Effect.Effect<void>
}

/** After a pause the next turns come at once, up to this much sending time's worth. */
const BURST_MS = 20

export const makeRequestPacer = Effect.fnUntraced(function*(options: AdaptiveRateOptions) {
  const control = new AdaptiveRate(yield* Clock.currentTimeMillis, options)
  const waiting = yield* Queue.unbounded<Deferred.Deferred<number>>()
  let nextAt = 0

  yield* Effect.gen(function*() {
    const next = yield* Queue.take(waiting)
    const now = yield* Clock.currentTimeMillis
    // An idle bucket lends no more than a short burst: it must not release a flood after a pause.
    nextAt = Math.max(nextAt, now - BURST_MS)
    if (nextAt > now) yield* Effect.sleep(nextAt - now)
    nextAt += 1000 / control.rate
    // Tagged with when it goes out: throttles are judged against the rate it was sent at.
    yield* Deferred.succeed(next, control.epoch(Math.max(now, nextAt - 1000 / control.rate)))
  }).pipe(Effect.forever, Effect.forkScoped)

  const pacer: RequestPacer = {
    turn: Effect.flatMap(Deferred.make<number>(), (ticket) =>
      Queue.offer(waiting, ticket).pipe(Effect.andThen(Deferred.await(ticket)))),
    admitted: Effect.map(Clock.currentTimeMillis, (now) => control.admitted(now)),
    throttled: (epoch) => Effect.map(Clock.currentTimeMillis, (now) => control.throttled(now, epoch))
  }
  return pacer
}) satisfies (options: AdaptiveRateOptions) => Effect.Effect<RequestPacer, never, Scope.Scope>
