/**
 * The project's one retry policy, used for every AWS call and every sink batch: exponential
 * backoff from `baseDelay`, capped at `maxDelay`, with jitter so that concurrent callers that
 * failed together do not retry together, and at most `maxAttempts` attempts in all. Only
 * errors that say they are retryable are retried; throttling backs off twice as long,
 * because it means the whole account is over its budget, not that one request was unlucky.
 * A destination that says when to come back (HTTP `Retry-After`) is not asked sooner: its
 * delay may exceed `maxDelay`, since asking earlier would only be refused again.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

export interface RetrySettings {
  /** Attempts in all, the first included (1 = no retry). */
  readonly maxAttempts: number
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
}

export interface RetryableError {
  readonly retryable: boolean
  readonly throttled?: boolean | undefined
  /** The least wait before the next attempt, as the destination asked. */
  readonly retryAfter?: Duration.Duration | undefined
}

export const defaultRetry: RetrySettings = {
  maxAttempts: 8,
  baseDelay: Duration.millis(200),
  maxDelay: Duration.seconds(20)
}

export const retryPolicy = <E extends RetryableError>(settings: RetrySettings) =>
  Schedule.min([Schedule.exponential(settings.baseDelay), Schedule.spaced(settings.maxDelay)]).pipe(
    Schedule.jittered,
    Schedule.setInputType<E>(),
    Schedule.modifyDelay(({ duration, input }) =>
      Effect.succeed(
        Duration.max(
          input.throttled === true ? Duration.min(Duration.times(duration, 2), settings.maxDelay) : duration,
          input.retryAfter ?? Duration.zero
        )
      )
    ),
    Schedule.upTo({ times: Math.max(0, settings.maxAttempts - 1) }),
    Schedule.while(({ input }) => input.retryable)
  )
