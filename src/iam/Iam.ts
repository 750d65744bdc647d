/**
 * The IAM actions the collection needs, each through the account's door to AWS (`door.ts`: its
 * place among the calls in flight, its turn in the account's learned request rate, a deadline,
 * one classification, the one retry policy, spans and counts), each answer checked before the
 * SDK reads it (`checkedAnswer`, `largeAnswers.ts`), the large ones read as they stream in.
 */
import {
  type AccessKeyLastUsed,
  type AccessKeyMetadata,
  type AttachedPolicy,
  GenerateCredentialReportCommand,
  GetAccessKeyLastUsedCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserPolicyCommand,
  ListAttachedGroupPoliciesCommand,
  ListGroupPoliciesCommand,
  ListServiceSpecificCredentialsCommand,
  ListSigningCertificatesCommand,
  ListSSHPublicKeysCommand,
  type ManagedPolicyDetail,
  type ServiceSpecificCredentialMetadata,
  type SigningCertificate,
  type SSHPublicKeyMetadata,
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
import * as Layer from "effect/Layer"
import type { RetrySettings } from "../common/retry.ts"
import type { AdaptiveRateOptions } from "./AdaptiveRate.ts"
import { BadData, IamError } from "./IamError.ts"
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
import type { RateReading } from "./RequestPacer.ts"
import { type Connection, clientConfig, scopedClient } from "./sdkClient.ts"
import { type IamCallCounts, makeDoor } from "./door.ts"

export type { IamCallCounts } from "./door.ts"

export interface IamSettings extends Connection {
  /** The account the calls go to, for spans, logs and metrics; absent: the credentials' own. */
  readonly account?: string | undefined
  /** Renews session credentials that AWS says have expired (`door.ts`). */
  readonly renewCredentials?: Effect.Effect<void> | undefined
  readonly callTimeout: Duration.Duration
  readonly retry: RetrySettings
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


export interface IamService {
  readonly listUsers: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<User>, IamError>
  /** ListUsers, each user reduced to when its password was last used (the bulk strategy's need). */
  readonly listLastPasswordUse: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<LastPasswordUse>, IamError>
  /** The per-user list calls: one page; `maxItems` (absent: `perUserPageSize`) is what `iam-ocsf check` asks for, 1. */
  readonly listAccessKeys: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<AccessKeyMetadata>, IamError>
  readonly listMfaDevices: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<MFADevice>, IamError>
  readonly listUserTags: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<Tag>, IamError>
  readonly listGroupsForUser: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<Group>, IamError>
  readonly listAttachedUserPolicies: (
    userName: string,
    marker?: string,
    maxItems?: number
  ) => Effect.Effect<Page<AttachedPolicy>, IamError>
  readonly listUserPolicies: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<string>, IamError>
  readonly listSshPublicKeys: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<SSHPublicKeyMetadata>, IamError>
  readonly listSigningCertificates: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<SigningCertificate>, IamError>
  readonly listServiceSpecificCredentials: (userName: string, marker?: string, maxItems?: number) => Effect.Effect<Page<ServiceSpecificCredentialMetadata>, IamError>
  /** ListServiceSpecificCredentials with AllUsers: every user's, a page at a time (the bulk strategy's). */
  readonly listAllServiceSpecificCredentials: (
    marker: string | undefined,
    pageSize: number
  ) => Effect.Effect<Page<ServiceSpecificCredentialMetadata>, IamError>
  /** When an access key was last used (the key's user is named for logs and errors only: the call takes the key). */
  readonly getAccessKeyLastUsed: (userName: string, accessKeyId: string) => Effect.Effect<AccessKeyLastUsed, IamError>
  /** The document of one of the user's inline policies, as IAM sends it (URL-encoded JSON). */
  readonly getUserPolicy: (userName: string, policyName: string) => Effect.Effect<string, IamError>
  readonly listGroupPolicies: (groupName: string, marker?: string) => Effect.Effect<Page<string>, IamError>
  readonly listAttachedGroupPolicies: (groupName: string, marker?: string) => Effect.Effect<Page<AttachedPolicy>, IamError>
  /** The document of one of the group's inline policies (URL-encoded JSON). */
  readonly getGroupPolicy: (groupName: string, policyName: string) => Effect.Effect<string, IamError>
  /** A managed policy's default version id. */
  readonly getPolicyDefaultVersion: (policyArn: string) => Effect.Effect<string, IamError>
  /** The document of one version of a managed policy (URL-encoded JSON). */
  readonly getPolicyVersion: (policyArn: string, versionId: string) => Effect.Effect<string, IamError>
  /** One page of GetAccountAuthorizationDetails with Filter=LocalManagedPolicy (the account's own policies, every version). */
  readonly policyDetails: (marker: string | undefined, pageSize: number) => Effect.Effect<Page<ManagedPolicyDetail>, IamError>
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
  static readonly layer = (settings: IamSettings) => Layer.effect(Iam, makeIam(settings))
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
  ListSSHPublicKeys: shape("ListSSHPublicKeys", "SSHPublicKeys"),
  ListSigningCertificates: shape("ListSigningCertificates", "Certificates"),
  ListServiceSpecificCredentials: shape("ListServiceSpecificCredentials", "ServiceSpecificCredentials"),
  GetAccessKeyLastUsed: shape("GetAccessKeyLastUsed", "AccessKeyLastUsed"),
  GetUserPolicy: shape("GetUserPolicy", "UserName", "PolicyName", "PolicyDocument"),
  ListGroupPolicies: shape("ListGroupPolicies", "PolicyNames"),
  ListAttachedGroupPolicies: shape("ListAttachedGroupPolicies", "AttachedPolicies"),
  GetGroupPolicy: shape("GetGroupPolicy", "GroupName", "PolicyName", "PolicyDocument"),
  GetPolicy: shape("GetPolicy", "Policy"),
  GetPolicyVersion: shape("GetPolicyVersion", "PolicyVersion"),
  PolicyDetails: shape("GetAccountAuthorizationDetails", "Policies"),
  GetUser: shape("GetUser", "User"),
  GetLoginProfile: shape("GetLoginProfile", "LoginProfile"),
  GetAccountSummary: shape("GetAccountSummary", "SummaryMap"),
  UserDetails: shape("GetAccountAuthorizationDetails", "UserDetailList"),
  GroupDetails: shape("GetAccountAuthorizationDetails", "GroupDetailList"),
  GenerateCredentialReport: shape("GenerateCredentialReport", "State"),
  GetCredentialReport: shape("GetCredentialReport", "Content", "GeneratedTime")
} as const


/** The pages of account-wide listings and the credential report: the run waits for each, and fails with it (`door.ts`). */
const LISTING = { listing: true } as const

const badAnswer = (action: string, message: string) =>
  new IamError({ action, reason: new BadData({ code: "UnexpectedAnswer", message }) })

export const makeIam = Effect.fnUntraced(function*(settings: IamSettings) {
  const client = yield* scopedClient(() => new IAMClient(clientConfig(settings)))

  const door = yield* makeDoor({
    service: "IAM",
    account: settings.account,
    callTimeout: settings.callTimeout,
    retry: settings.retry,
    maxInFlight: settings.maxInFlight ?? settings.maxSockets,
    requestRate: settings.requestRate,
    renewCredentials: settings.renewCredentials
  })
  const call = door.call

  // The deadline covers the whole answer, and the report of a large account is tens of MB.
  const reportTimeout = Duration.max(settings.callTimeout, Duration.minutes(5))

  /** One page of a per-user list call: they all take UserName and Marker and page the same way. */
  const userListPage = <O extends { readonly IsTruncated?: boolean | undefined; readonly Marker?: string | undefined }, A>(
    action: keyof typeof SHAPES,
    send: (
      input: { readonly UserName: string; readonly Marker: string | undefined; readonly MaxItems: number | undefined },
      abortSignal: AbortSignal
    ) => Promise<O>,
    items: (output: O) => ReadonlyArray<A> | undefined
  ) =>
  (userName: string, marker?: string, maxItems?: number): Effect.Effect<Page<A>, IamError> =>
    call(action, userName, (abortSignal) =>
      send({ UserName: userName, Marker: marker, MaxItems: maxItems ?? settings.perUserPageSize }, abortSignal)).pipe(
        Effect.map((o) => page(action, userName, items(o), o.IsTruncated, o.Marker))
      )

  /** A page of ListUsers, each `<member>` read by `read`. */
  const usersPage = <A>(read: (member: string) => A) => (marker: string | undefined, pageSize: number) =>
    call("ListUsers", undefined, (abortSignal) => {
      // The users are read here, not by the SDK (`largeAnswers.ts`).
      const users = listReader("Users", read)
      return client.send(checkedAnswer(new ListUsersCommand({ Marker: marker, MaxItems: pageSize }), SHAPES.ListUsers, users.reader), { abortSignal })
        .then((o) => page("ListUsers", undefined, users.items(), o.IsTruncated, o.Marker))
    }, LISTING).pipe(
      // One span per page, over its attempts: a throttled page shows its retries together.
      Effect.tap((p) => Effect.annotateCurrentSpan({ "page.users": p.items.length, "page.last": p.marker === undefined })),
      Effect.withSpan("ListUsers page", { attributes: { "page.first": marker === undefined, "page.size": pageSize } })
    )

  /** One page of a per-group list call: they take GroupName and Marker and page as the per-user ones do. */
  const groupListPage = <O extends { readonly IsTruncated?: boolean | undefined; readonly Marker?: string | undefined }, A>(
    action: keyof typeof SHAPES,
    send: (
      input: { readonly GroupName: string; readonly Marker: string | undefined; readonly MaxItems: number | undefined },
      abortSignal: AbortSignal
    ) => Promise<O>,
    items: (output: O) => ReadonlyArray<A> | undefined
  ) =>
  (groupName: string, marker?: string): Effect.Effect<Page<A>, IamError> =>
    call(action, undefined, (abortSignal) =>
      send({ GroupName: groupName, Marker: marker, MaxItems: settings.perUserPageSize }, abortSignal)).pipe(
        Effect.map((o) => page(action, undefined, items(o), o.IsTruncated, o.Marker))
      )

  /** A document IAM must have sent: the shape check made sure of it, so absent here is an SDK surprise. */
  const documentOf = (action: string) => (document: string | undefined) =>
    document === undefined ? Effect.fail(badAnswer(action, "no policy document")) : Effect.succeed(document)

  return Iam.of({
    listUsers: usersPage(readUser),
    listLastPasswordUse: usersPage(readLastPasswordUse),
    listAccessKeys: userListPage("ListAccessKeys", (input, abortSignal) => client.send(checkedAnswer(new ListAccessKeysCommand(input), SHAPES.ListAccessKeys), { abortSignal }), (o) => o.AccessKeyMetadata),
    listMfaDevices: userListPage("ListMFADevices", (input, abortSignal) => client.send(checkedAnswer(new ListMFADevicesCommand(input), SHAPES.ListMFADevices), { abortSignal }), (o) => o.MFADevices),
    listUserTags: userListPage("ListUserTags", (input, abortSignal) => client.send(checkedAnswer(new ListUserTagsCommand(input), SHAPES.ListUserTags), { abortSignal }), (o) => o.Tags),
    listGroupsForUser: userListPage("ListGroupsForUser", (input, abortSignal) => client.send(checkedAnswer(new ListGroupsForUserCommand(input), SHAPES.ListGroupsForUser), { abortSignal }), (o) => o.Groups),
    listAttachedUserPolicies: userListPage("ListAttachedUserPolicies", (input, abortSignal) => client.send(checkedAnswer(new ListAttachedUserPoliciesCommand(input), SHAPES.ListAttachedUserPolicies), { abortSignal }), (o) => o.AttachedPolicies),
    listUserPolicies: userListPage("ListUserPolicies", (input, abortSignal) => client.send(checkedAnswer(new ListUserPoliciesCommand(input), SHAPES.ListUserPolicies), { abortSignal }), (o) => o.PolicyNames),
    listSshPublicKeys: userListPage("ListSSHPublicKeys", (input, abortSignal) => client.send(checkedAnswer(new ListSSHPublicKeysCommand(input), SHAPES.ListSSHPublicKeys), { abortSignal }), (o) => o.SSHPublicKeys),
    listSigningCertificates: userListPage("ListSigningCertificates", (input, abortSignal) => client.send(checkedAnswer(new ListSigningCertificatesCommand(input), SHAPES.ListSigningCertificates), { abortSignal }), (o) => o.Certificates),
    listServiceSpecificCredentials: userListPage("ListServiceSpecificCredentials", (input, abortSignal) => client.send(checkedAnswer(new ListServiceSpecificCredentialsCommand(input), SHAPES.ListServiceSpecificCredentials), { abortSignal }), (o) => o.ServiceSpecificCredentials),
    listAllServiceSpecificCredentials: (marker, pageSize) =>
      call("ListServiceSpecificCredentials", undefined, (abortSignal) =>
        client.send(
          checkedAnswer(new ListServiceSpecificCredentialsCommand({ AllUsers: true, Marker: marker, MaxItems: pageSize }), SHAPES.ListServiceSpecificCredentials),
          { abortSignal }
        ), LISTING).pipe(Effect.map((o) => page("ListServiceSpecificCredentials", undefined, o.ServiceSpecificCredentials, o.IsTruncated, o.Marker))),
    getAccessKeyLastUsed: (userName, accessKeyId) =>
      call("GetAccessKeyLastUsed", userName, (abortSignal) =>
        client.send(checkedAnswer(new GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId }), SHAPES.GetAccessKeyLastUsed), { abortSignal })).pipe(
          Effect.flatMap((o) =>
            o.AccessKeyLastUsed === undefined ? Effect.fail(badAnswer("GetAccessKeyLastUsed", "no AccessKeyLastUsed")) : Effect.succeed(o.AccessKeyLastUsed)
          )
        ),
    getUserPolicy: (userName, policyName) =>
      call("GetUserPolicy", userName, (abortSignal) =>
        client.send(checkedAnswer(new GetUserPolicyCommand({ UserName: userName, PolicyName: policyName }), SHAPES.GetUserPolicy), { abortSignal })).pipe(
          Effect.flatMap((o) => documentOf("GetUserPolicy")(o.PolicyDocument))
        ),
    listGroupPolicies: groupListPage("ListGroupPolicies", (input, abortSignal) => client.send(checkedAnswer(new ListGroupPoliciesCommand(input), SHAPES.ListGroupPolicies), { abortSignal }), (o) => o.PolicyNames),
    listAttachedGroupPolicies: groupListPage("ListAttachedGroupPolicies", (input, abortSignal) => client.send(checkedAnswer(new ListAttachedGroupPoliciesCommand(input), SHAPES.ListAttachedGroupPolicies), { abortSignal }), (o) => o.AttachedPolicies),
    getGroupPolicy: (groupName, policyName) =>
      call("GetGroupPolicy", undefined, (abortSignal) =>
        client.send(checkedAnswer(new GetGroupPolicyCommand({ GroupName: groupName, PolicyName: policyName }), SHAPES.GetGroupPolicy), { abortSignal })).pipe(
          Effect.flatMap((o) => documentOf("GetGroupPolicy")(o.PolicyDocument))
        ),
    getPolicyDefaultVersion: (policyArn) =>
      call("GetPolicy", undefined, (abortSignal) =>
        client.send(checkedAnswer(new GetPolicyCommand({ PolicyArn: policyArn }), SHAPES.GetPolicy), { abortSignal })).pipe(
          Effect.flatMap((o) =>
            o.Policy?.DefaultVersionId === undefined
              ? Effect.fail(badAnswer("GetPolicy", `no DefaultVersionId for ${policyArn}`))
              : Effect.succeed(o.Policy.DefaultVersionId)
          )
        ),
    getPolicyVersion: (policyArn, versionId) =>
      call("GetPolicyVersion", undefined, (abortSignal) =>
        client.send(checkedAnswer(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: versionId }), SHAPES.GetPolicyVersion), { abortSignal })).pipe(
          Effect.flatMap((o) => documentOf("GetPolicyVersion")(o.PolicyVersion?.Document))
        ),
    policyDetails: (marker, pageSize) =>
      call("GetAccountAuthorizationDetails", undefined, (abortSignal) =>
        client.send(
          checkedAnswer(new GetAccountAuthorizationDetailsCommand({ Filter: ["LocalManagedPolicy"], Marker: marker, MaxItems: pageSize }), SHAPES.PolicyDetails),
          { abortSignal }
        ), LISTING).pipe(Effect.map((o) => page("GetAccountAuthorizationDetails", undefined, o.Policies, o.IsTruncated, o.Marker))),
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
      }, LISTING),
    groupDetails: (marker, pageSize) =>
      call("GetAccountAuthorizationDetails", undefined, (abortSignal) =>
        client.send(
          checkedAnswer(new GetAccountAuthorizationDetailsCommand({ Filter: ["Group"], Marker: marker, MaxItems: pageSize }), SHAPES.GroupDetails),
          { abortSignal }
        ), LISTING).pipe(Effect.map((o) => page("GetAccountAuthorizationDetails", undefined, o.GroupDetailList, o.IsTruncated, o.Marker))),
    // Suspended: each use is a call of its own, with its own attempt count.
    generateCredentialReport: Effect.suspend(() =>
      call("GenerateCredentialReport", undefined, (abortSignal) =>
        client.send(checkedAnswer(new GenerateCredentialReportCommand({}), SHAPES.GenerateCredentialReport), { abortSignal }), LISTING)
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
        }), { ...LISTING, timeout: reportTimeout }).pipe(
        Effect.flatMap((o) =>
          o.GeneratedTime === undefined
            ? Effect.fail(badAnswer("GetCredentialReport", "no GeneratedTime"))
            : o.ReportFormat !== undefined && o.ReportFormat !== "text/csv"
            ? Effect.fail(badAnswer("GetCredentialReport", `ReportFormat ${o.ReportFormat}, expected text/csv`))
            : Effect.succeed({ generatedAt: o.GeneratedTime })
        )
      ),
    counts: door.counts,
    room: door.room,
    requestRate: door.requestRate
  })
})
