/**
 * Every failure of an IAM call is classified exactly once, by `classify.ts` where the call is made
 * (`src/iam/Iam.ts`), into one of these reasons. Everything downstream (the retry policy,
 * dead-letter records, logs, exit codes) reads the reason and never re-inspects SDK errors.
 */
import * as Schema from "effect/Schema"

const reasonFields = {
  /** The AWS error code (`Throttling`, `AccessDenied`, ...) or a transport code (`ECONNRESET`). */
  code: Schema.String,
  message: Schema.String,
  /** HTTP status, when an answer arrived at all. */
  status: Schema.optional(Schema.Int)
}

/** AWS refused the request because the account's request rate is too high. Retried, with backoff. */
export class Throttled extends Schema.TaggedError<Throttled>()("Throttled", reasonFields) {}
/** 5xx, timeout, connection reset or refused: the request may succeed if sent again. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", reasonFields) {}
/** The credentials lack a permission. Never retried: asking again gives the same answer. */
export class AccessDenied extends Schema.TaggedError<AccessDenied>()("AccessDenied", reasonFields) {}
/** `NoSuchEntity`: the entity does not exist (a user deleted mid-run, or no login profile). */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", reasonFields) {}
/** Any other client error (validation, bad credentials, unknown action). Never retried. */
export class Rejected extends Schema.TaggedError<Rejected>()("Rejected", reasonFields) {}
/**
 * AWS answered, but the answer does not have the shape the schemas require: not the action's
 * XML answer (`queryXml.ts`), a listing whose pages do not hold together (`collect/paging.ts`),
 * or values the `IamUser` schema rejects. Retried when it is an answer (`Iam.ts`).
 */
export class BadData extends Schema.TaggedError<BadData>()("BadData", reasonFields) {}
/**
 * AWS is still preparing what was asked for (a credential report being generated) and says to
 * ask again later. Not retried by the retry policy: the caller knows how long such work takes
 * and polls.
 */
export class Pending extends Schema.TaggedError<Pending>()("Pending", reasonFields) {}

export const IamErrorReason = Schema.Union([Throttled, Unavailable, AccessDenied, NotFound, Rejected, BadData, Pending])
export type IamErrorReason = typeof IamErrorReason.Type

export class IamError extends Schema.TaggedError<IamError>()("IamError", {
  /** The IAM action, e.g. `ListMFADevices`. */
  action: Schema.String,
  /** The user the call was about, when it was about one. */
  userName: Schema.optional(Schema.String),
  reason: IamErrorReason
}) {
  /**
   * Throttling and transient failures are worth another attempt, and so is an answer that was
   * not an answer (a proxy's HTML page, a page cut short is often transient); nothing else is.
   */
  get retryable(): boolean {
    return this.reason._tag === "Throttled" || this.reason._tag === "Unavailable" || this.reason._tag === "BadData"
  }

  get throttled(): boolean {
    return this.reason._tag === "Throttled"
  }

  override get message(): string {
    const who = this.userName === undefined ? "" : ` for user ${this.userName}`
    return `${this.action}${who} failed: ${this.reason._tag} (${this.reason.code}): ${this.reason.message}`
  }
}
