import { Duration, Effect, Schedule } from "effect"

/**
 * The project's one retry policy, used for every AWS call and every sink batch: exponential
 * backoff from `baseDelay`, capped at `maxDelay`, with jitter so that concurrent callers that
 * failed together do not retry together, and at most `maxAttempts` attempts in all. Only
 * errors that say they are retryable are retried; throttling backs off twice as long,
 * because it means the whole account is over its budget, not that one request was unlucky.
 */
export interface RetrySettings {
  /** Attempts in all, the first included (1 = no retry). */
  readonly maxAttempts: number
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
}

export interface RetryableError {
  readonly retryable: boolean
  readonly throttled?: boolean
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
        input.throttled === true ? Duration.min(Duration.times(duration, 2), settings.maxDelay) : duration
      )
    ),
    Schedule.upTo({ times: Math.max(0, settings.maxAttempts - 1) }),
    Schedule.while(({ input }) => input.retryable)
  )
