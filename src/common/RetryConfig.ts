/** The settings of the project's one retry policy (`retry.ts`), for AWS calls and for sinks. */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { durationField, formatDuration } from "../config/durations.ts"
import { intBetween, withDefault } from "../config/fields.ts"

const retryDelaysInOrder = Schema.makeFilter((retry: {
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
}) =>
  Duration.toMillis(retry.baseDelay) > Duration.toMillis(retry.maxDelay)
    ? `baseDelay must not be longer than maxDelay; found baseDelay ${JSON.stringify(formatDuration(retry.baseDelay))} and maxDelay ${JSON.stringify(formatDuration(retry.maxDelay))}`
    : undefined
)

export const RetryConfig = Schema.Struct({
  /** Attempts, counting the first one; 100 at the longest delay already wait for hours. */
  maxAttempts: intBetween(1, 100).pipe(withDefault(8)),
  baseDelay: durationField({ minimum: "1ms", maximum: "1h", default: "200ms" }),
  maxDelay: durationField({ minimum: "1ms", maximum: "1h", default: "20s" })
}).check(retryDelaysInOrder)
export type RetryConfig = typeof RetryConfig.Type
