/**
 * What an IAM attempt leaves behind, counted once: the backoff it waited for and, when it
 * failed, the AWS error code and its classification on its span; the `iam_ocsf.aws.*` metrics
 * (process-wide, for operators); and the same counts in the `Iam` service's own tally, which a
 * run's summary reads (calls, throttled, retries).
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { IamError } from "../iam/IamError.ts"
import { recordAwsAttempt } from "./metrics.ts"

/** Attempts of one `Iam` service: by action, throttled ones, and those that repeat an earlier one. */
export class CallTally {
  readonly calls: Record<string, number> = {}
  throttled = 0
  retries = 0

  count(action: string, attempt: number, outcome: string): void {
    this.calls[action] = (this.calls[action] ?? 0) + 1
    if (outcome === "Throttled") this.throttled += 1
    if (attempt > 1) this.retries += 1
  }
}

/** The IAM error an attempt failed with, if it failed with one (not interrupted, no defect). */
export const iamErrorOf = <A>(exit: Exit.Exit<A, IamError>): IamError | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined

/**
 * What one IAM attempt adds to its span, the metrics and `tally`: the backoff it waited for (the
 * retry schedule's last delay; 0 for a first attempt), and on failure the AWS error code and its
 * classification. Applied inside the attempt's span. An interrupted attempt is not counted.
 */
export const observeAttempt = (tally: CallTally, action: string, attempt: number, account?: string) =>
<A, R>(self: Effect.Effect<A, IamError, R>): Effect.Effect<A, IamError, R> =>
  Effect.flatMap(Schedule.CurrentMetadata, ({ duration }) =>
    Effect.andThen(
      Effect.annotateCurrentSpan("retry.backoff_ms", attempt > 1 ? Duration.toMillis(duration) : 0),
      self
    )).pipe(
      Effect.onExit((exit) => {
        if (Exit.isSuccess(exit)) {
          tally.count(action, attempt, "ok")
          return recordAwsAttempt(action, attempt, "ok", account)
        }
        const error = iamErrorOf(exit)
        if (error === undefined) return Effect.void
        tally.count(action, attempt, error.reason._tag)
        return Effect.annotateCurrentSpan({
          "aws.error.code": error.reason.code,
          "aws.error.reason": error.reason._tag,
          ...(error.reason.status === undefined ? {} : { "http.response.status_code": error.reason.status })
        }).pipe(Effect.andThen(recordAwsAttempt(action, attempt, error.reason._tag, account)))
      })
    )
