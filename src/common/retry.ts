/**
 * The project's one retry policy, used for every AWS call and every sink batch: exponential
 * backoff from `baseDelay`, capped at `maxDelay`, with jitter so that concurrent callers that
 * failed together do not retry together, and at most `maxAttempts` attempts in all. Only
 * errors that say they are retryable are retried. A destination that says when to come back
 * (HTTP `Retry-After`) is not asked sooner: its delay may exceed `maxDelay`, since asking
 * earlier would only be refused again.
 *
 * Throttling backs off per call like any other retryable error, but from a base that depends on
 * who slows the destination down as a whole:
 * - a sink's calls are not paced: its backoff is all the slowing down there is, and a throttle
 *   backs off twice as long as another error;
 * - AWS calls are paced (`paced`): each attempt waits its turn in the account's request rate,
 *   learned from its throttles (`iam/AdaptiveRate.ts`), which slows the whole account when its
 *   budget is full. The backoff of one throttled call then only spreads its attempts: it starts
 *   at a quarter of `baseDelay`, since most throttles are noise (other tools share the
 *   account-wide budget) and the call is answered at its next try, and it waits at most a
 *   second, by when the rate has judged a round of answers and, for a full budget, slowed
 *   down. Waiting longer would only make the few unlucky calls that are throttled again and
 *   again, and whatever waits for them (the next ListUsers page, the credential report, a
 *   run's last users), the run's slowest part: under random throttling a run lasts as long as
 *   its longest chain of backoffs, up to a call that gives up after `maxAttempts`. The capped
 *   delay is not jittered: the pacer hands out turns one by one.
 *
 * A call that everything after it waits for (a page of an account-wide listing: the run cannot
 * go on without it) is given more `patience` against throttling: `patience` times `maxAttempts`
 * attempts while it is throttled, still bounded, and only `maxAttempts` for any other error.
 * Under heavy random throttling (half of the calls) one call in 2^maxAttempts is throttled
 * `maxAttempts` times in a row: a user's call may fail then (its user is dead-lettered), a
 * listing's would fail the whole run.
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

export interface RetryPolicyOptions {
  /**
   * Every attempt waits its turn in a request rate that slows down when the destination
   * throttles (`iam/RequestPacer.ts`): a throttled attempt is retried sooner (see above).
   */
  readonly paced?: boolean
  /** A call may be throttled `patience` times `maxAttempts` times before it gives up (default 1, whole numbers). */
  readonly patience?: number
}

export const defaultRetry: RetrySettings = {
  maxAttempts: 8,
  baseDelay: Duration.millis(200),
  maxDelay: Duration.seconds(20)
}

/** How much longer than another error's a throttle's backoff is: unpaced, and paced (and the paced one's longest). */
const THROTTLED = 2
const THROTTLED_PACED = 0.25
const PACED_CAP = Duration.seconds(1)

export const retryPolicy = <E extends RetryableError>(settings: RetrySettings, options: RetryPolicyOptions = {}) => {
  const throttled = options.paced === true ? THROTTLED_PACED : THROTTLED
  const throttledCap = options.paced === true ? Duration.min(PACED_CAP, settings.maxDelay) : settings.maxDelay
  const patience = options.patience ?? 1
  return Schedule.min([Schedule.exponential(settings.baseDelay), Schedule.spaced(settings.maxDelay)]).pipe(
    Schedule.jittered,
    Schedule.setInputType<E>(),
    Schedule.modifyDelay(({ duration, input }) =>
      Effect.succeed(
        Duration.max(
          // In milliseconds: Duration.min may keep the first of two durations within a nanosecond (1000.0000000000002 ms).
          input.throttled === true
            ? Duration.millis(Math.min(Duration.toMillis(duration) * throttled, Duration.toMillis(throttledCap)))
            : duration,
          input.retryAfter ?? Duration.zero
        )
      )
    ),
    Schedule.upTo({ times: Math.max(0, patience * settings.maxAttempts - 1) }),
    // `attempt` is the number of the retry about to be made: beyond maxAttempts, only throttles are retried.
    Schedule.while(({ attempt, input }) => input.retryable && (attempt < settings.maxAttempts || input.throttled === true))
  )
}
