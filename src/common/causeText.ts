/**
 * A failure as one line of text for logs, dead-letter records and error answers: the words that say
 * what went wrong, not those of the wrapper around them.
 */
import * as PlatformError from "effect/PlatformError"

/**
 * The most useful one-line text of a failure: for platform errors the operating system's own
 * words ("ENOSPC: no space left on device, write") rather than Effect's wrapper ("Unknown:
 * FileSystem.writeAll (23)"), which tells an operator nothing.
 */
export const causeText = (cause: unknown): string => {
  if (cause instanceof PlatformError.PlatformError) {
    const inner = cause.reason.cause
    return inner instanceof Error ? inner.message : cause.reason.message
  }
  return cause instanceof Error ? cause.message : String(cause)
}
