/**
 * The account's one gate: every request to AWS waits here, first come first served, for a place
 * among the calls in flight (at most `window`; a call waiting out a retry's backoff holds none),
 * then for its turn at the rate `AdaptiveRate` allows at that moment, and reports how the
 * account answered. Turns are handed out one by one by a single fiber rather than booked ahead,
 * so that a rate cut applies to the very next request instead of after the backlog booked at
 * the old rate. `room` lets a collector start another user only when every call already
 * waiting has its place: users in flight then grow while calls sleep in backoffs, and only then.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { AdaptiveRate, type AdaptiveRateOptions } from "./AdaptiveRate.ts"

/** How the account answered a request: for the rate, a timeout or a reset is no answer. */
export type Answer = "admitted" | "throttled" | "none"

/** The learned rate, requests per second: now, and its peak; and its integral over time (requests), for means over a period. */
export interface RateReading {
  readonly now: number
  readonly peak: number
  readonly integral: number
}

export interface RequestPacer {
  /** `send` in its turn; `answer` says how the account answered, from its exit. */
  readonly paced: <A, E, R>(send: Effect.Effect<A, E, R>, answer: (exit: Exit.Exit<A, E>) => Answer) => Effect.Effect<A, E, R>
  /** Waits until every call waiting has its place and one more would get one at once. */
  readonly room: Effect.Effect<void>
  /** The rate at `now` (ms, the Clock's), its peak since it was last restarted, and its integral up to `now`. */
  readonly reading: (now: number, restartPeak?: boolean) => RateReading
}

/** After a pause the next turns come at once, up to this much sending time's worth. */
const BURST_MS = 20

/** The calls in flight: places handed out in order, and the collectors waiting for room. */
class Window {
  private active = 0
  private readonly calls: Array<{ granted: boolean; readonly grant: () => void }> = []
  private readonly starts: Array<() => void> = []
  private readonly size: number

  constructor(size: number) {
    this.size = size
  }

  /** A place, at once when one is free and nobody waits (most of the time: no allocation then). */
  readonly acquire: Effect.Effect<void> = Effect.suspend(() => {
    if (!this.hasRoom()) return this.waitForPlace
    this.active += 1
    return Effect.void
  })

  private readonly waitForPlace: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.hasRoom()) {
      this.active += 1
      return resume(Effect.void)
    }
    const waiter = {
      granted: false,
      grant: () => {
        waiter.granted = true
        this.active += 1
        resume(Effect.void)
      }
    }
    this.calls.push(waiter)
    // Interrupted while waiting: leave the line, or give back a place granted meanwhile.
    return Effect.sync(() => {
      if (waiter.granted) return this.release()
      this.calls.splice(this.calls.indexOf(waiter), 1)
      this.wake()
    })
  })

  readonly room: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.hasRoom()) return resume(Effect.void)
    const start = () => resume(Effect.void)
    this.starts.push(start)
    return Effect.sync(() => {
      const i = this.starts.indexOf(start)
      if (i >= 0) this.starts.splice(i, 1)
    })
  })

  release(): void {
    this.active -= 1
    this.wake()
  }

  private wake(): void {
    while (this.active < this.size && this.calls.length > 0) this.calls.shift()!.grant()
    // One collector at a time: the calls of the one let in take the room before the next looks.
    if (this.hasRoom()) this.starts.shift()?.()
  }

  private hasRoom(): boolean {
    return this.active < this.size && this.calls.length === 0
  }
}

export const makeRequestPacer = Effect.fnUntraced(function*(options: AdaptiveRateOptions & { readonly window: number }) {
  const clock = yield* Clock.Clock
  const control = new AdaptiveRate(clock.currentTimeMillisUnsafe(), options)
  const window = new Window(Math.max(1, options.window))
  const waiting = yield* Queue.unbounded<Deferred.Deferred<number>>()
  /** When the next turn is due, and how many turns are waiting for the fiber that hands them out. */
  let nextAt = 0
  let pending = 0

  /** The turn going out at `now`, or at `nextAt` when that is later: its tag for `answered`. */
  const take = (now: number): number => {
    // An idle bucket lends no more than a short burst: it must not release a flood after a pause.
    nextAt = Math.max(nextAt, now - BURST_MS)
    // Tagged with when it goes out: throttles are judged against the rate it was sent at.
    const tag = control.sent(Math.max(now, nextAt))
    nextAt += 1000 / control.rate
    return tag
  }

  yield* Effect.gen(function*() {
    const next = yield* Queue.take(waiting)
    const now = clock.currentTimeMillisUnsafe()
    const due = Math.max(nextAt, now - BURST_MS)
    if (due > now) yield* Effect.sleep(due - now)
    pending -= 1
    yield* Deferred.succeed(next, take(now))
  }).pipe(Effect.forever, Effect.forkScoped)

  const turn = Effect.suspend(() => {
    const now = clock.currentTimeMillisUnsafe()
    // Due now and nobody ahead: taken at once, without the fiber (most turns when the rate is not what holds a run back).
    if (pending === 0 && nextAt <= now) return Effect.succeed(take(now))
    pending += 1
    return Effect.flatMap(Deferred.make<number>(), (ticket) =>
      Queue.offer(waiting, ticket).pipe(Effect.andThen(Deferred.await(ticket))))
  })

  const pacer: RequestPacer = {
    paced: (send, answer) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.andThen(
          restore(window.acquire),
          Effect.flatMap(restore(turn), (tag) =>
            restore(send).pipe(
              Effect.onExit((exit) =>
                Effect.sync(() => {
                  const how = answer(exit)
                  if (how !== "none") control.answered(clock.currentTimeMillisUnsafe(), tag, how === "throttled")
                })
              )
            )).pipe(Effect.ensuring(Effect.sync(() => window.release())))
        )
      ),
    room: window.room,
    reading: (now, restartPeak = false) => ({
      now: control.rate,
      peak: restartPeak ? control.takePeak() : control.peak,
      integral: control.integral(now)
    })
  }
  return pacer
}) satisfies (options: AdaptiveRateOptions & { readonly window: number }) => Effect.Effect<RequestPacer, never, Scope.Scope>
