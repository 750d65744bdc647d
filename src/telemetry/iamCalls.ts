/**
 * What an IAM attempt leaves in traces and metrics: the backoff it waited for and, when it failed,
 * the AWS error code and its classification.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { IamError } from "../iam/IamError.ts"
import { recordAwsAttempt } from "./metrics.ts"

/**
 * What one IAM attempt adds to its span and to the metrics: the backoff it waited for (the
 * retry schedule's last delay; 0 for a first attempt), and on failure the AWS error code and
 * its classification. Applied inside the attempt's span.
 */
export const observeAttempt = (action: string, attempt: number) =>
<A, R>(self: Effect.Effect<A, IamError, R>): Effect.Effect<A, IamError, R> =>
  Effect.gen(function*() {
    const { duration } = yield* Schedule.CurrentMetadata
    yield* Effect.annotateCurrentSpan("retry.backoff_ms", attempt > 1 ? Duration.toMillis(duration) : 0)
    return yield* self
  }).pipe(
    Effect.tapError((error) =>
      Effect.annotateCurrentSpan({
        "aws.error.code": error.reason.code,
        "aws.error.reason": error.reason._tag,
        ...(error.reason.status === undefined ? {} : { "http.response.status_code": error.reason.status })
      }).pipe(Effect.andThen(recordAwsAttempt(action, attempt, error.reason._tag)))
    ),
    Effect.tap(() => recordAwsAttempt(action, attempt, "ok"))
  )
