/**
 * The one module that talks to AWS. Every call goes through `call`: each attempt waits for its
 * place among the calls in flight and its turn in the account's request rate (`RequestPacer.ts`,
 * which learns what the account admits from its answers), then sends one SDK request with a
 * deadline, its answer checked before the SDK reads it (`checkedAnswer`, `largeAnswers.ts`), its
 * failure classified once (`classify.ts`), retried by the project's one policy (the SDK's own
 * retries are off so that attempts, delays and spans are all ours), traced and counted
 * (`telemetry/iamCalls.ts`).
 */
import {
  type AccessKeyMetadata,
  type AttachedPolicy,
  GenerateCredentialReportCommand,
  GetAccountAuthorizationDetailsCommand,
  GetAccountSummaryCommand,
  GetCredentialReportCommand,
  GetUserCommand,
  GetLoginProfileCommand,
  type Group,
  type GroupDetail,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListMFADevicesCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  ListUserTagsCommand,
  type MFADevice,
  type Tag,
  type User
} from "@aws-sdk/client-iam"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { retryPolicy, type RetrySettings } from "../common/retry.ts"
import type { AdaptiveRateOptions } from "./AdaptiveRate.ts"
import { classify } from "./classify.ts"
import { BadData, IamError, Unavailable } from "./IamError.ts"
import { ReportLines } from "./credentialReportBody.ts"
import {
  type AnswerShape,
  checkedAnswer,
  type LastPasswordUse,
  listReader,
  PackedUserDetail,
  readLastPasswordUse,
  readUser
} from "./largeAnswers.ts"
import { type Answer, makeRequestPacer, type RateReading } from "./RequestPacer.ts"
import { Sha256 } from "./sha256.ts"
import { CallTally, iamErrorOf, observeAttempt } from "../telemetry/iamCalls.ts"

export interface IamSettings {
  readonly region: string
  /** An IAM-compatible endpoint (the emulator); absent = AWS. */
  readonly endpoint?: string | undefined
  /** Absent = the SDK's standard credential chain (env, profile, SSO, instance role...). */
  readonly credentials?: {
    readonly accessKeyId: string
    readonly secretAccessKey: Redacted.Redacted<string>
    readonly sessionToken?: Redacted.Redacted<string> | undefined
  } | undefined
  readonly callTimeout: Duration.Duration
  readonly retry: RetrySettings
  /** Sockets kept open to IAM; at least the number of calls in flight at once. */
  readonly maxSockets: number
  /** Calls in flight at once (a call waiting out a retry's backoff is not in flight); absent = `maxSockets`. */
  readonly maxInFlight?: number | undefined
  /** MaxItems of the per-user list calls; absent = AWS's default (100). Tests lower it to exercise paging. */
  readonly perUserPageSize?: number | undefined
  /** Bounds of the learned request rate (one pacer per service, i.e. per account); absent = defaults. */
  readonly requestRate?: AdaptiveRateOptions | undefined
}

/** GenerateCredentialReport's answer: `STARTED`, `INPROGRESS` or `COMPLETE`. */
export type ReportState = "STARTED" | "INPROGRESS" | "COMPLETE"

export interface CredentialReport {
  readonly generatedAt: Date
}

/** One page of a paginated IAM list call, as it came: `collect/paging.ts` checks the pages of a listing together. */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  /** The Marker of the next page: absent on the last page (and on a truncated page that gave none). */
  readonly marker: string | undefined
  /** IsTruncated: more pages follow. */
  readonly truncated: boolean
  /** The call that answered, and the user it was about: what a listing that fails its checks names. */
  readonly action: string
  readonly userName?: string | undefined
}

export interface IamCallCounts {
  /** Attempts sent, by action. */
  readonly calls: Readonly<Record<string, number>>
  readonly throttled: number
  readonly retries: number
}

export interface IamService {
  readonly listUsers: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<User>, IamError>
  /** ListUsers, each user reduced to when its password was last used (the bulk strategy's need). */
  readonly listLastPasswordUse: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<LastPasswordUse>, IamError>
  readonly listAccessKeys: (userName: string, marker?: string) => Effect.Effect<Page<AccessKeyMetadata>, IamError>
  readonly listMfaDevices: (userName: string, marker?: string) => Effect.Effect<Page<MFADevice>, IamError>
  readonly listUserTags: (userName: string, marker?: string) => Effect.Effect<Page<Tag>, IamError>
  readonly listGroupsForUser: (userName: string, marker?: string) => Effect.Effect<Page<Group>, IamError>
  readonly listAttachedUserPolicies: (
    userName: string,
    marker?: string
  ) => Effect.Effect<Page<AttachedPolicy>, IamError>
  readonly listUserPolicies: (userName: string, marker?: string) => Effect.Effect<Page<string>, IamError>
  /** GetUser: what ListUsers says of one user (tags aside). */
  readonly getUser: (userName: string) => Effect.Effect<User, IamError>
  /** Whether the user has a console password: GetLoginProfile's NoSuchEntity means no. */
  readonly hasLoginProfile: (userName: string) => Effect.Effect<boolean, IamError>
  /** GetAccountSummary's map (`Users`, `Groups`, ...). */
  readonly accountSummary: Effect.Effect<Readonly<Record<string, number>>, IamError>
  /** One page of GetAccountAuthorizationDetails with Filter=User (tags, group names, policies). */
  readonly userDetails: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<PackedUserDetail>, IamError>
  /** One page of GetAccountAuthorizationDetails with Filter=Group (ids and ARNs of the groups). */
  readonly groupDetails: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<GroupDetail>, IamError>
  readonly generateCredentialReport: Effect.Effect<ReportState, IamError>
  /**
   * Downloads the report, handing each CSV line to `onLine` as it arrives (`credentialReportBody.ts`);
   * a retried download hands them again from the first. NotFound when there is none or it
   * expired; Pending while one is being generated.
   */
  readonly getCredentialReport: (onLine: (line: string) => void) => Effect.Effect<CredentialReport, IamError>
  readonly counts: () => IamCallCounts
  /**
   * Waits until every call waiting for its place among the calls in flight has one, and one more
   * would get one at once: a collector starts another user then, so that users in flight grow
   * while calls sleep in retry backoffs, and only then.
   */
  readonly room: Effect.Effect<void>
  /** The learned request rate at `now` (ms, the Clock's), its peak since `restartPeak` (a run's start), and its integral. */
  readonly requestRate: (now: number, restartPeak?: boolean) => RateReading
}

export class Iam extends Context.Service<Iam, IamService>()("iam-ocsf/Iam") {
  static readonly layer = (settings: IamSettings) => Layer.effect(Iam, make(settings))
}

const page = <A>(
  action: string,
  userName: string | undefined,
  items: ReadonlyArray<A> | undefined,
  truncated: boolean | undefined,
  marker: string | undefined
): Page<A> => ({
  // `checkedAnswer` made sure that the list was in the answer: absent here means empty.
  items: items ?? [],
  marker: truncated === true && marker !== "" ? marker : undefined,
  truncated: truncated === true,
  action,
  ...(userName === undefined ? {} : { userName })
})

const shape = (action: string, ...required: ReadonlyArray<string>): AnswerShape => ({ action, required })

/**
 * What each answer must be to be believed (`largeAnswers.ts`): the action's own, its Result
 * holding the members the IAM API reference marks required, and the list each call is made for
 * (ListAttachedUserPolicies' AttachedPolicies and the lists of GetAccountAuthorizationDetails
 * are optional in the API model, but AWS sends them, empty as `<AttachedPolicies/>`, and an
 * answer without them says nothing about the user). Every command goes to AWS through
 * `checkedAnswer` with its shape: `client.send` is never given a command without it.
 */
const SHAPES = {
  ListUsers: shape("ListUsers", "Users"),
  ListAccessKeys: shape("ListAccessKeys", "AccessKeyMetadata"),
  ListMFADevices: shape("ListMFADevices", "MFADevices"),
  ListUserTags: shape("ListUserTags", "Tags"),
  ListGroupsForUser: shape("ListGroupsForUser", "Groups"),
  ListAttachedUserPolicies: shape("ListAttachedUserPolicies", "AttachedPolicies"),
  ListUserPolicies: shape("ListUserPolicies", "PolicyNames"),
  GetUser: shape("GetUser", "User"),
  GetLoginProfile: shape("GetLoginProfile", "LoginProfile"),
  GetAccountSummary: shape("GetAccountSummary", "SummaryMap"),
  UserDetails: shape("GetAccountAuthorizationDetails", "UserDetailList"),
  GroupDetails: shape("GetAccountAuthorizationDetails", "GroupDetailList"),
  GenerateCredentialReport: shape("GenerateCredentialReport", "State"),
  GetCredentialReport: shape("GetCredentialReport", "Content", "GeneratedTime")
} as const

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

const badAnswer = (action: string, message: string) =>
  new IamError({ action, reason: new BadData({ code: "UnexpectedAnswer", message }) })

const make = Effect.fnUntraced(function*(settings: IamSettings) {
  const client = yield* Effect.acquireRelease(
    Effect.sync(() =>
      new IAMClient({
        region: settings.region,
        ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
        ...(settings.credentials === undefined ? {} : {
          credentials: {
            accessKeyId: settings.credentials.accessKeyId,
            secretAccessKey: Redacted.value(settings.credentials.secretAccessKey),
            ...(settings.credentials.sessionToken === undefined
              ? {}
              : { sessionToken: Redacted.value(settings.credentials.sessionToken) })
          }
        }),
        maxAttempts: 1,
        sha256: Sha256,
        requestHandler: {
          httpAgent: { keepAlive: true, maxSockets: settings.maxSockets },
          httpsAgent: { keepAlive: true, maxSockets: settings.maxSockets }
        }
      })
    ),
    (client) => Effect.sync(() => client.destroy())
  )
  // Our retry policy is the only one (maxAttempts: 1 above), so the SDK's retry step would only
  // cost CPU on every request (a token bucket, an invocation id, two headers): it keeps its place,
  // which the signing step is placed after, and passes the request on. Without a logger, the
  // SDK's logging step logs nothing.
  client.middlewareStack.add((next) => next, {
    step: "finalizeRequest",
    name: "retryMiddleware",
    tags: ["RETRY"],
    priority: "high",
    override: true
  })
  client.middlewareStack.remove("loggerMiddleware")

  const tally = new CallTally()
  const pacer = yield* makeRequestPacer({ ...settings.requestRate, window: settings.maxInFlight ?? settings.maxSockets })

  // Paced: every attempt takes its turn from `pacer`, whose rate answers a full budget; a throttled
  // call's own backoff only spreads its attempts (`retry.ts`).
  const policy = retryPolicy<IamError>(settings.retry, { paced: true }).pipe(
    Schedule.tap(({ attempt, duration, input }) =>
      Effect.logDebug("retrying IAM call").pipe(
        Effect.annotateLogs({
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

  // The deadline covers the whole answer, and the report of a large account is tens of MB.
  const reportTimeout = Duration.max(settings.callTimeout, Duration.minutes(5))

  const call = <A>(
    action: string,
    userName: string | undefined,
    send: (signal: AbortSignal) => Promise<A>,
    timeout: Duration.Duration = settings.callTimeout
  ): Effect.Effect<A, IamError> => {
    let attempt = 0
    const timeoutMs = Duration.toMillis(timeout)
    const timedOut = () =>
      new IamError({
        action,
        ...(userName === undefined ? {} : { userName }),
        reason: new Unavailable({
          code: "Timeout",
          message: `no answer within ${Duration.format(timeout)}`
        })
      })
    const once = Effect.suspend(() => {
      attempt += 1
      return Effect.tryPromise({
        try: (signal) => withDeadline(send, signal, timeoutMs),
        catch: (e) => e === DEADLINE ? timedOut() : classify(action, userName, e)
      }).pipe(
        observeAttempt(tally, action, attempt),
        // Thousands of attempts a second: where each was made is known, and a stack trace each is not free.
        Effect.withSpan(`IAM ${action}`, {
          attributes: { "aws.iam.action": action, "aws.iam.user": userName ?? "", "retry.attempt": attempt }
        }, { captureStackTrace: false }),
        // In its turn: a place among the calls in flight, and the account's request rate.
        (attemptInTurn) => pacer.paced(attemptInTurn, answerOf)
      )
    })
    return Effect.retry(once, policy)
  }

  /** One page of a per-user list call: they all take UserName and Marker and page the same way. */
  const userListPage = <O extends { readonly IsTruncated?: boolean | undefined; readonly Marker?: string | undefined }, A>(
    action: keyof typeof SHAPES,
    send: (
      input: { readonly UserName: string; readonly Marker: string | undefined; readonly MaxItems: number | undefined },
      abortSignal: AbortSignal
    ) => Promise<O>,
    items: (output: O) => ReadonlyArray<A> | undefined
  ) =>
  (userName: string, marker?: string): Effect.Effect<Page<A>, IamError> =>
    call(action, userName, (abortSignal) =>
      send({ UserName: userName, Marker: marker, MaxItems: settings.perUserPageSize }, abortSignal)).pipe(
        Effect.map((o) => page(action, userName, items(o), o.IsTruncated, o.Marker))
      )

  /** A page of ListUsers, each `<member>` read by `read`. */
  const usersPage = <A>(read: (member: string) => A) => (marker: string | undefined, pageSize: number) =>
    call("ListUsers", undefined, (abortSignal) => {
      // The users are read here, not by the SDK (`largeAnswers.ts`).
      const users = listReader("Users", read)
      return client.send(checkedAnswer(new ListUsersCommand({ Marker: marker, MaxItems: pageSize }), SHAPES.ListUsers, users.reader), { abortSignal })
        .then((o) => page("ListUsers", undefined, users.items(), o.IsTruncated, o.Marker))
    }).pipe(
      // One span per page, over its attempts: a throttled page shows its retries together.
      Effect.tap((p) => Effect.annotateCurrentSpan({ "page.users": p.items.length, "page.last": p.marker === undefined })),
      Effect.withSpan("ListUsers page", { attributes: { "page.first": marker === undefined, "page.size": pageSize } })
    )

  return Iam.of({
    listUsers: usersPage(readUser),
    listLastPasswordUse: usersPage(readLastPasswordUse),
    listAccessKeys: userListPage("ListAccessKeys", (input, abortSignal) => client.send(checkedAnswer(new ListAccessKeysCommand(input), SHAPES.ListAccessKeys), { abortSignal }), (o) => o.AccessKeyMetadata),
    listMfaDevices: userListPage("ListMFADevices", (input, abortSignal) => client.send(checkedAnswer(new ListMFADevicesCommand(input), SHAPES.ListMFADevices), { abortSignal }), (o) => o.MFADevices),
    listUserTags: userListPage("ListUserTags", (input, abortSignal) => client.send(checkedAnswer(new ListUserTagsCommand(input), SHAPES.ListUserTags), { abortSignal }), (o) => o.Tags),
    listGroupsForUser: userListPage("ListGroupsForUser", (input, abortSignal) => client.send(checkedAnswer(new ListGroupsForUserCommand(input), SHAPES.ListGroupsForUser), { abortSignal }), (o) => o.Groups),
    listAttachedUserPolicies: userListPage("ListAttachedUserPolicies", (input, abortSignal) => client.send(checkedAnswer(new ListAttachedUserPoliciesCommand(input), SHAPES.ListAttachedUserPolicies), { abortSignal }), (o) => o.AttachedPolicies),
    listUserPolicies: userListPage("ListUserPolicies", (input, abortSignal) => client.send(checkedAnswer(new ListUserPoliciesCommand(input), SHAPES.ListUserPolicies), { abortSignal }), (o) => o.PolicyNames),
    getUser: (userName) =>
      call("GetUser", userName, (abortSignal) => client.send(checkedAnswer(new GetUserCommand({ UserName: userName }), SHAPES.GetUser), { abortSignal })).pipe(
        Effect.flatMap((o) => o.User === undefined ? Effect.fail(badAnswer("GetUser", "no User")) : Effect.succeed(o.User))
      ),
    hasLoginProfile: (userName) =>
      call("GetLoginProfile", userName, (abortSignal) =>
        client.send(checkedAnswer(new GetLoginProfileCommand({ UserName: userName }), SHAPES.GetLoginProfile), { abortSignal })).pipe(
          Effect.as(true),
          Effect.catchIf((e) => e.reason._tag === "NotFound", () => Effect.succeed(false))
        ),
    accountSummary: Effect.suspend(() =>
      call("GetAccountSummary", undefined, (abortSignal) => client.send(checkedAnswer(new GetAccountSummaryCommand({}), SHAPES.GetAccountSummary), { abortSignal }))
    ).pipe(
        Effect.map((o) => o.SummaryMap ?? {})
      ),
    userDetails: (marker, pageSize) =>
      call("GetAccountAuthorizationDetails", undefined, (abortSignal) => {
        const users = listReader("UserDetailList", (member) => new PackedUserDetail(member))
        const command = new GetAccountAuthorizationDetailsCommand({ Filter: ["User"], Marker: marker, MaxItems: pageSize })
        return client.send(checkedAnswer(command, SHAPES.UserDetails, users.reader), { abortSignal })
          .then((o) => page("GetAccountAuthorizationDetails", undefined, users.items(), o.IsTruncated, o.Marker))
      }),
    groupDetails: (marker, pageSize) =>
      call("GetAccountAuthorizationDetails", undefined, (abortSignal) =>
        client.send(
          checkedAnswer(new GetAccountAuthorizationDetailsCommand({ Filter: ["Group"], Marker: marker, MaxItems: pageSize }), SHAPES.GroupDetails),
          { abortSignal }
        )).pipe(Effect.map((o) => page("GetAccountAuthorizationDetails", undefined, o.GroupDetailList, o.IsTruncated, o.Marker))),
    // Suspended: each use is a call of its own, with its own attempt count.
    generateCredentialReport: Effect.suspend(() =>
      call("GenerateCredentialReport", undefined, (abortSignal) =>
        client.send(checkedAnswer(new GenerateCredentialReportCommand({}), SHAPES.GenerateCredentialReport), { abortSignal }))
    ).pipe(
        Effect.flatMap((o) =>
          o.State === "STARTED" || o.State === "INPROGRESS" || o.State === "COMPLETE"
            ? Effect.succeed(o.State)
            : Effect.fail(badAnswer("GenerateCredentialReport", `unknown State ${JSON.stringify(o.State)}`))
        )
      ),
    getCredentialReport: (onLine) =>
      call("GetCredentialReport", undefined, (abortSignal) =>
        // The report's lines are taken out of the answer as it streams in (`credentialReportBody.ts`).
        client.send(checkedAnswer(new GetCredentialReportCommand({}), SHAPES.GetCredentialReport, () => new ReportLines(onLine)), {
          abortSignal
        }), reportTimeout).pipe(
        Effect.flatMap((o) =>
          o.GeneratedTime === undefined
            ? Effect.fail(badAnswer("GetCredentialReport", "no GeneratedTime"))
            : o.ReportFormat !== undefined && o.ReportFormat !== "text/csv"
            ? Effect.fail(badAnswer("GetCredentialReport", `ReportFormat ${o.ReportFormat}, expected text/csv`))
            : Effect.succeed({ generatedAt: o.GeneratedTime })
        )
      ),
    counts: () => ({ calls: { ...tally.calls }, throttled: tally.throttled, retries: tally.retries }),
    room: pacer.room,
    requestRate: pacer.reading
  })
})
