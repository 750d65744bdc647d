import {
  type AccessKeyMetadata,
  type AttachedPolicy,
  GetAccountSummaryCommand,
  GetLoginProfileCommand,
  type Group,
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
import { Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { retryPolicy, type RetrySettings } from "../retry.ts"
import { classify } from "./classify.ts"
import { IamError, Unavailable } from "./IamError.ts"

/**
 * The one module that talks to AWS. Every call goes through `call`: one SDK request with a
 * deadline, its failure classified once (`classify.ts`), retried by the project's one policy
 * (the SDK's own retries are off so that attempts, delays and spans are all ours), traced
 * and counted.
 */
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
  /** MaxItems of the per-user list calls; absent = AWS's default (100). Tests lower it to exercise paging. */
  readonly perUserPageSize?: number | undefined
}

/** One page of a paginated IAM list call; `marker` is absent on the last page. */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly marker: string | undefined
}

export interface IamCallCounts {
  /** Attempts sent, by action. */
  readonly calls: Readonly<Record<string, number>>
  readonly throttled: number
  readonly retries: number
}

export interface IamService {
  readonly listUsers: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<User>, IamError>
  readonly listAccessKeys: (userName: string, marker?: string) => Effect.Effect<Page<AccessKeyMetadata>, IamError>
  readonly listMfaDevices: (userName: string, marker?: string) => Effect.Effect<Page<MFADevice>, IamError>
  readonly listUserTags: (userName: string, marker?: string) => Effect.Effect<Page<Tag>, IamError>
  readonly listGroupsForUser: (userName: string, marker?: string) => Effect.Effect<Page<Group>, IamError>
  readonly listAttachedUserPolicies: (
    userName: string,
    marker?: string
  ) => Effect.Effect<Page<AttachedPolicy>, IamError>
  readonly listUserPolicies: (userName: string, marker?: string) => Effect.Effect<Page<string>, IamError>
  /** Whether the user has a console password: GetLoginProfile's NoSuchEntity means no. */
  readonly hasLoginProfile: (userName: string) => Effect.Effect<boolean, IamError>
  /** GetAccountSummary's map (`Users`, `Groups`, ...). */
  readonly accountSummary: Effect.Effect<Readonly<Record<string, number>>, IamError>
  readonly counts: () => IamCallCounts
}

export class Iam extends Context.Service<Iam, IamService>()("iam-ocsf/Iam") {
  static readonly layer = (settings: IamSettings) => Layer.effect(Iam, make(settings))
}

const page = <A>(items: ReadonlyArray<A> | undefined, truncated: boolean | undefined, marker: string | undefined) => ({
  items: items ?? [],
  // A truncated page without a marker would loop forever; AWS never sends one, so treat it as the end.
  marker: truncated === true ? marker : undefined
})

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
        requestHandler: {
          httpAgent: { keepAlive: true, maxSockets: settings.maxSockets },
          httpsAgent: { keepAlive: true, maxSockets: settings.maxSockets }
        }
      })
    ),
    (client) => Effect.sync(() => client.destroy())
  )

  const calls: Record<string, number> = {}
  let throttled = 0
  let retries = 0

  const policy = retryPolicy<IamError>(settings.retry).pipe(
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

  const call = <A>(
    action: string,
    userName: string | undefined,
    send: (signal: AbortSignal) => Promise<A>
  ): Effect.Effect<A, IamError> => {
    let attempt = 0
    const once = Effect.suspend(() => {
      attempt += 1
      calls[action] = (calls[action] ?? 0) + 1
      if (attempt > 1) retries += 1
      return Effect.tryPromise({ try: send, catch: (e) => classify(action, userName, e) }).pipe(
        Effect.timeoutOrElse({
          duration: settings.callTimeout,
          orElse: () =>
            Effect.fail(
              new IamError({
                action,
                ...(userName === undefined ? {} : { userName }),
                reason: new Unavailable({
                  code: "Timeout",
                  message: `no answer within ${Duration.format(settings.callTimeout)}`
                })
              })
            )
        }),
        Effect.tapError((e) =>
          Effect.sync(() => {
            if (e.throttled) throttled += 1
          })
        ),
        Effect.withSpan(`IAM ${action}`, {
          attributes: { "aws.iam.action": action, "aws.iam.user": userName ?? "", "retry.attempt": attempt }
        })
      )
    })
    return Effect.retry(once, policy)
  }

  return Iam.of({
    listUsers: (marker, pageSize) =>
      call("ListUsers", undefined, (abortSignal) =>
        client.send(new ListUsersCommand({ Marker: marker, MaxItems: pageSize }), { abortSignal })).pipe(
          Effect.map((o) => page(o.Users, o.IsTruncated, o.Marker))
        ),
    listAccessKeys: (userName, marker) =>
      call("ListAccessKeys", userName, (abortSignal) =>
        client.send(new ListAccessKeysCommand({ UserName: userName, Marker: marker, MaxItems: settings.perUserPageSize }), { abortSignal })).pipe(
          Effect.map((o) => page(o.AccessKeyMetadata, o.IsTruncated, o.Marker))
        ),
    listMfaDevices: (userName, marker) =>
      call("ListMFADevices", userName, (abortSignal) =>
        client.send(new ListMFADevicesCommand({ UserName: userName, Marker: marker, MaxItems: settings.perUserPageSize }), { abortSignal })).pipe(
          Effect.map((o) => page(o.MFADevices, o.IsTruncated, o.Marker))
        ),
    listUserTags: (userName, marker) =>
      call("ListUserTags", userName, (abortSignal) =>
        client.send(new ListUserTagsCommand({ UserName: userName, Marker: marker, MaxItems: settings.perUserPageSize }), { abortSignal })).pipe(
          Effect.map((o) => page(o.Tags, o.IsTruncated, o.Marker))
        ),
    listGroupsForUser: (userName, marker) =>
      call("ListGroupsForUser", userName, (abortSignal) =>
        client.send(new ListGroupsForUserCommand({ UserName: userName, Marker: marker, MaxItems: settings.perUserPageSize }), { abortSignal })).pipe(
          Effect.map((o) => page(o.Groups, o.IsTruncated, o.Marker))
        ),
    listAttachedUserPolicies: (userName, marker) =>
      call("ListAttachedUserPolicies", userName, (abortSignal) =>
        client.send(new ListAttachedUserPoliciesCommand({ UserName: userName, Marker: marker, MaxItems: settings.perUserPageSize }), {
          abortSignal
        })).pipe(Effect.map((o) => page(o.AttachedPolicies, o.IsTruncated, o.Marker))),
    listUserPolicies: (userName, marker) =>
      call("ListUserPolicies", userName, (abortSignal) =>
        client.send(new ListUserPoliciesCommand({ UserName: userName, Marker: marker, MaxItems: settings.perUserPageSize }), { abortSignal })).pipe(
          Effect.map((o) => page(o.PolicyNames, o.IsTruncated, o.Marker))
        ),
    hasLoginProfile: (userName) =>
      call("GetLoginProfile", userName, (abortSignal) =>
        client.send(new GetLoginProfileCommand({ UserName: userName }), { abortSignal })).pipe(
          Effect.as(true),
          Effect.catchIf((e) => e.reason._tag === "NotFound", () => Effect.succeed(false))
        ),
    accountSummary: call("GetAccountSummary", undefined, (abortSignal) =>
      client.send(new GetAccountSummaryCommand({}), { abortSignal })).pipe(
        Effect.map((o) => o.SummaryMap ?? {})
      ),
    counts: () => ({ calls: { ...calls }, throttled, retries })
  })
})
