/**
 * The one door to AWS, whatever the service: every request to IAM, STS or Organizations goes
 * through `call`, which waits for its place among the calls in flight and its turn in the
 * account's learned request rate (`RequestPacer.ts`), sends one SDK request with a deadline,
 * classifies its failure once (`classify.ts`), retries with the project's one policy (the SDK's
 * own retries are off), renews expired session credentials before the next attempt, and traces
 * and counts each attempt (`telemetry/iamCalls.ts`). A door belongs to one service of one
 * account: each account has its own budget, so its own rate, counts and failures.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { retryPolicy, type RetrySettings } from "../common/retry.ts"
import type { AdaptiveRateOptions } from "./AdaptiveRate.ts"
import { classify } from "./classify.ts"
import { IamError, Unavailable } from "./IamError.ts"
import { type Answer, makeRequestPacer, type RateReading } from "./RequestPacer.ts"
import { CallTally, iamErrorOf, observeAttempt } from "../telemetry/iamCalls.ts"

export type AwsService = "IAM" | "STS" | "Organizations"

export interface DoorSettings {
  readonly service: AwsService
  /** The account the calls go to, for spans, logs and metrics; absent: the credentials' own. */
  readonly account?: string | undefined
  readonly callTimeout: Duration.Duration
  readonly retry: RetrySettings
  /** Calls in flight at once (a call waiting out a retry's backoff is not in flight). */
  readonly maxInFlight: number
  /** Bounds of the learned request rate; absent = defaults. */
  readonly requestRate?: AdaptiveRateOptions | undefined
  /**
   * Renews the session credentials the requests are signed with: run before the attempt that
   * follows an `ExpiredToken` answer (a session can end before its announced expiry).
   */
  readonly renewCredentials?: Effect.Effect<void> | undefined
}

export interface IamCallCounts {
  /** Attempts sent, by action. */
  readonly calls: Readonly<Record<string, number>>
  readonly throttled: number
  readonly retries: number
}

export interface CallOptions {
  /** The attempt's deadline; absent: the door's `callTimeout`. */
  readonly timeout?: Duration.Duration | undefined
  /**
   * A page of an account-wide listing (ListUsers, GetAccountAuthorizationDetails, the
   * organization's accounts...) or the credential report: everything after it waits for it, and
   * the run fails when it fails, so it is retried `LISTING_PATIENCE` times longer against
   * throttling (`retry.ts`).
   */
  readonly listing?: boolean | undefined
}

export interface Door {
  readonly call: <A>(
    action: string,
    subject: string | undefined,
    send: (signal: AbortSignal) => Promise<A>,
    options?: CallOptions
  ) => Effect.Effect<A, IamError>
  readonly counts: () => IamCallCounts
  /** Waits until the calls in flight leave room for another call. */
  readonly room: Effect.Effect<void>
  /** The learned request rate, for the run's summary. */
  readonly requestRate: (now: number, restartPeak?: boolean) => RateReading
}

/** How many times `maxAttempts` a listing page may be throttled before it gives up: 32 attempts, about 30 s of backoff, with the defaults. */
export const LISTING_PATIENCE = 4

/** Why `withDeadline` aborted a request: its deadline passed. */
const DEADLINE = Symbol("deadline")

/**
 * `send` with a deadline of `ms`, aborted when it passes (rejecting with `DEADLINE`) or when
 * `outer` aborts (the attempt was interrupted). A timer of its own, rather than a race of two
 * fibers: an attempt costs less CPU, and the deadline still covers the whole answer.
 */
const withDeadline = <A>(send: (signal: AbortSignal) => Promise<A>, outer: AbortSignal, ms: number): Promise<A> => {
  const controller = new AbortController()
  const interrupted = () => controller.abort(outer.reason)
  outer.addEventListener("abort", interrupted)
  let passed = false
  const timer = setTimeout(() => {
    passed = true
    controller.abort(DEADLINE)
  }, ms)
  const settled = () => {
    clearTimeout(timer)
    outer.removeEventListener("abort", interrupted)
  }
  return send(controller.signal).then(
    (a) => {
      settled()
      return a
    },
    (e: unknown) => {
      settled()
      throw passed ? DEADLINE : e
    }
  )
}

/** For the request rate: any answer from AWS but a throttle is admitted; a timeout or a reset is no answer. */
const answerOf = <A>(exit: Exit.Exit<A, IamError>): Answer => {
  if (exit._tag === "Success") return "admitted"
  const error = iamErrorOf(exit)
  return error === undefined || error.reason.status === undefined ? "none" : error.throttled ? "throttled" : "admitted"
}

/** A session that AWS says has ended: new credentials, then the same request again. */
const expiredCodes = new Set(["ExpiredToken", "ExpiredTokenException", "RequestExpired"])
export const sessionExpired = (e: IamError): boolean => expiredCodes.has(e.reason.code)

export const makeDoor = Effect.fnUntraced(function*(settings: DoorSettings) {
  const tally = new CallTally()
  const pacer = yield* makeRequestPacer({ ...settings.requestRate, window: settings.maxInFlight })
  const spanPrefix = `${settings.service} `
  const accountAttribute = settings.account === undefined ? {} : { "aws.account.id": settings.account }

  // Paced: every attempt takes its turn from `pacer`, whose rate answers a full budget; a throttled
  // call's own backoff only spreads its attempts (`retry.ts`).
  const policyOf = (patience: number) =>
    retryPolicy<IamError>(settings.retry, { paced: true, patience }).pipe(
      Schedule.tap(({ attempt, duration, input }) =>
        Effect.logDebug(`retrying ${settings.service} call`).pipe(
          Effect.annotateLogs({
            ...accountAttribute,
            action: input.action,
            user: input.userName ?? "",
            reason: input.reason._tag,
            code: input.reason.code,
            attempt,
            delayMs: Duration.toMillis(duration)
          })
        )
      )
    )
  const policy = policyOf(1)
  const listingPolicy = policyOf(LISTING_PATIENCE)
  const renew = settings.renewCredentials

  const call = <A>(
    action: string,
    subject: string | undefined,
    send: (signal: AbortSignal) => Promise<A>,
    options: CallOptions = {}
  ): Effect.Effect<A, IamError> => {
    const timeout = options.timeout ?? settings.callTimeout
    let attempt = 0
    const timeoutMs = Duration.toMillis(timeout)
    const timedOut = () =>
      new IamError({
        action,
        ...(subject === undefined ? {} : { userName: subject }),
        reason: new Unavailable({
          code: "Timeout",
          message: `no answer within ${Duration.format(timeout)}`
        })
      })
    const once = Effect.suspend(() => {
      attempt += 1
      return Effect.tryPromise({
        try: (signal) => withDeadline(send, signal, timeoutMs),
        catch: (e) => e === DEADLINE ? timedOut() : classify(action, subject, e)
      }).pipe(
        observeAttempt(tally, action, attempt, settings.account),
        // Thousands of attempts a second: where each was made is known, and a stack trace each is not free.
        Effect.withSpan(spanPrefix + action, {
          attributes: {
            ...accountAttribute,
            "aws.service": settings.service,
            "aws.iam.action": action,
            "aws.iam.user": subject ?? "",
            "retry.attempt": attempt
          }
        }, { captureStackTrace: false }),
        // In its turn: a place among the calls in flight, and the account's request rate.
        (attemptInTurn) => pacer.paced(attemptInTurn, answerOf),
        (attemptDone) =>
          renew === undefined
            ? attemptDone
            : Effect.tapError(attemptDone, (e) => sessionExpired(e) ? renew : Effect.void)
      )
    })
    return Effect.retry(once, options.listing === true ? listingPolicy : policy)
  }

  const door: Door = {
    call,
    counts: () => ({ calls: { ...tally.calls }, throttled: tally.throttled, retries: tally.retries }),
    room: pacer.room,
    requestRate: pacer.reading
  }
  return door
}) satisfies (settings: DoorSettings) => Effect.Effect<Door, never, Scope.Scope>
