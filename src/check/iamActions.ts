/**
 * The IAM actions one account's collection calls, each tried once with the smallest read there
 * is (`MaxItems=1`; the per-user actions on the first user ListUsers gives), through the
 * account's door like every AWS call: paced, classified, retried (never an AccessDenied),
 * traced. Which actions, and how red a failure is, follows the strategy the run would use there:
 *
 * - `per-user`: ListUsers and the seven per-user calls; each is needed.
 * - `bulk`: ListUsers, GetAccountAuthorizationDetails and the credential report are needed; the
 *   per-user calls are made only for users the bulk sources do not fully describe (a warning
 *   when denied: those users would be dead-lettered), except ListAccessKeys when the profile's
 *   events carry key ids (needed).
 * - `auto`: both; it collects in bulk unless a bulk action is denied (then a warning, and the
 *   per-user calls are needed), as the run decides.
 * - the strict profiles' identity: per user, GetUser (per-user only), ListSigningCertificates and
 *   ListServiceSpecificCredentials; bulk lists every user's service-specific credentials (needed)
 *   and the certificates of the users the report shows with one (a warning when denied);
 *   ListSSHPublicKeys wherever `collection.sshPublicKeys` has it called (needed). The calls
 *   on a particular key, policy or group (GetAccessKeyLastUsed, GetUserPolicy, the group and
 *   managed policy calls) are not tried: the first user may have none to try them on.
 *
 * GenerateCredentialReport is never called: it would start the generation of a report, and a
 * check changes nothing. GetCredentialReport's answer (a report, none yet, or one being
 * generated) proves the read permission; the two are granted together by AWS's managed policies
 * (IAMReadOnlyAccess, SecurityAudit), but a custom policy may split them, so when the next run
 * will have to generate a report (none younger than `collection.maxCredentialReportAge`) the
 * line is a warning saying that it was not verified. GetAccountSummary only bounds the listings
 * and feeds the progress estimate: denied, it is a warning.
 */
import type { User } from "@aws-sdk/client-iam"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { CollectionStrategy, SshPublicKeysListing } from "../collect/CollectionConfig.ts"
import type { IamService } from "../iam/Iam.ts"
import type { IamError } from "../iam/IamError.ts"
import { type CheckResult, fail, ok, warn } from "./CheckResult.ts"

export interface IamCheckOptions {
  /** The account, as the results name it. */
  readonly account: string
  /** Who calls: the assumed role's ARN, or the base credentials' (what a policy must allow). */
  readonly principal: string
  readonly strategy: CollectionStrategy
  /** The profile's events carry access key ids (strict profiles): bulk lists the keys of every user that has one. */
  readonly accessKeyIds: boolean
  /** The profile's events carry the whole identity (strict profiles): the identity calls are made too. */
  readonly identity: boolean
  /** With `identity`: where SSH public keys are listed (`collection.sshPublicKeys`). */
  readonly sshPublicKeys: SshPublicKeysListing
  readonly maxCredentialReportAge: Duration.Duration
}

/** The per-user calls, in the order the README lists them (GetLoginProfile answers whether the user has a console password). */
const PER_USER = [
  "ListAccessKeys",
  "ListMFADevices",
  "GetLoginProfile",
  "ListUserTags",
  "ListGroupsForUser",
  "ListAttachedUserPolicies",
  "ListUserPolicies"
] as const
/**
 * The strict profiles' per-user identity calls (GetUser: per-user only, bulk has the boundary from
 * its pages; ListSSHPublicKeys: as `collection.sshPublicKeys` says).
 */
const IDENTITY = ["GetUser", "ListSigningCertificates", "ListServiceSpecificCredentials", "ListSSHPublicKeys"] as const
type PerUserAction = typeof PER_USER[number] | typeof IDENTITY[number]

const perUserCall = (iam: IamService, action: PerUserAction, user: string): Effect.Effect<string, IamError> => {
  switch (action) {
    case "ListAccessKeys":
      return Effect.map(iam.listAccessKeys(user, undefined, 1), () => `allowed (user ${user})`)
    case "ListMFADevices":
      return Effect.map(iam.listMfaDevices(user, undefined, 1), () => `allowed (user ${user})`)
    case "GetLoginProfile":
      // NoSuchEntity (no console password) is an answer: the call was allowed.
      return Effect.map(
        iam.hasLoginProfile(user),
        (has) => `allowed (user ${user}${has ? "" : ": no console password, NoSuchEntity"})`
      )
    case "ListUserTags":
      return Effect.map(iam.listUserTags(user, undefined, 1), () => `allowed (user ${user})`)
    case "ListGroupsForUser":
      return Effect.map(iam.listGroupsForUser(user, undefined, 1), () => `allowed (user ${user})`)
    case "ListAttachedUserPolicies":
      return Effect.map(iam.listAttachedUserPolicies(user, undefined, 1), () => `allowed (user ${user})`)
    case "ListUserPolicies":
      return Effect.map(iam.listUserPolicies(user, undefined, 1), () => `allowed (user ${user})`)
    case "GetUser":
      return Effect.map(iam.getUser(user), () => `allowed (user ${user})`)
    case "ListSigningCertificates":
      return Effect.map(iam.listSigningCertificates(user, undefined, 1), () => `allowed (user ${user})`)
    case "ListServiceSpecificCredentials":
      return Effect.map(iam.listServiceSpecificCredentials(user, undefined, 1), () => `allowed (user ${user})`)
    case "ListSSHPublicKeys":
      return Effect.map(iam.listSshPublicKeys(user, undefined, 1), () => `allowed (user ${user})`)
  }
}

const isDenied = (e: IamError) => e.reason._tag === "AccessDenied"

/** What went wrong, as a line can show it: the class, the code and AWS's message, cut short. */
export const reasonText = (e: IamError): string => {
  const message = e.reason.message.length > 240 ? `${e.reason.message.slice(0, 240)}…` : e.reason.message
  return `${e.reason._tag} (${e.reason.code}): ${message}`
}

const age = (ms: number) => Duration.format(Duration.seconds(Math.max(0, Math.round(ms / 60_000) * 60)))

export const iamChecks = (iam: IamService, options: IamCheckOptions): Effect.Effect<ReadonlyArray<CheckResult>> =>
  Effect.gen(function*() {
    const { account, principal, strategy } = options
    const allow = (action: string) =>
      `allow iam:${action} to ${principal} (the README's "AWS credentials and permissions" section lists every action a strategy and profile call)`
    const failure = (action: string, e: IamError, needed: boolean, consequence: string) =>
      (needed ? fail : warn)(
        `iam:${action}`,
        `${isDenied(e) ? "denied" : "failed"}: ${reasonText(e)}${needed ? "" : `; ${consequence}`}`,
        isDenied(e) ? allow(action) : `the call failed after its retries; see the reason (collection.retry, collection.callTimeout)`,
        account
      )

    const listed = yield* Effect.result(iam.listUsers(undefined, 1))
    const bulkUsed = strategy !== "per-user"
    const [summary, details, report] = yield* Effect.all([
      Effect.result(iam.accountSummary),
      bulkUsed ? Effect.result(iam.userDetails(undefined, 1)) : Effect.succeed(undefined),
      // The report is read to its end (it cannot be asked for in part) and dropped line by line.
      bulkUsed ? Effect.result(iam.getCredentialReport(() => undefined)) : Effect.succeed(undefined)
    ], { concurrency: "unbounded" })

    /** A report read, none yet, or one being generated: each is an answer, and the permission is proved. */
    const reportAnswered = report !== undefined &&
      (Result.isSuccess(report) || report.failure.reason._tag === "NotFound" || report.failure.reason._tag === "Pending")
    const bulkDenied = [
      details !== undefined && Result.isFailure(details) && isDenied(details.failure) ? "GetAccountAuthorizationDetails" : undefined,
      report !== undefined && Result.isFailure(report) && isDenied(report.failure) ? "GetCredentialReport" : undefined
    ].filter((a): a is string => a !== undefined)
    const picks = strategy === "auto" ? (bulkDenied.length > 0 ? "per-user" : "bulk") : strategy

    const results: Array<CheckResult> = []
    results.push(ok(
      "strategy",
      strategy === "auto"
        ? picks === "bulk"
          ? "auto collects in bulk here (GetAccountAuthorizationDetails and the credential report)"
          : `auto falls back to per-user here: iam:${bulkDenied.join(" and iam:")} denied`
        : `${strategy} (collection.strategy)`,
      account
    ))

    // ListUsers: every strategy lists the users; its failure fails the account.
    let firstUser: User | undefined
    if (Result.isSuccess(listed)) {
      firstUser = listed.success.items[0]
      results.push(ok("iam:ListUsers", firstUser === undefined ? "allowed (no user in this account)" : `allowed (first user: ${firstUser.UserName})`, account))
    } else {
      results.push(failure("ListUsers", listed.failure, true, ""))
    }

    if (Result.isSuccess(summary)) {
      results.push(ok("iam:GetAccountSummary", `allowed (${summary.success["Users"] ?? "?"} users)`, account))
    } else {
      results.push(warn(
        "iam:GetAccountSummary",
        `${isDenied(summary.failure) ? "denied" : "failed"}: ${reasonText(summary.failure)}; the run goes on, but its listings are ` +
          "not bounded by the account's counts (a listing that never ends is not caught) and --once shows no estimate of the total",
        isDenied(summary.failure) ? allow("GetAccountSummary") : "see the reason",
        account
      ))
    }

    if (details !== undefined) {
      results.push(
        Result.isSuccess(details)
          ? ok("iam:GetAccountAuthorizationDetails", "allowed", account)
          : failure(
            "GetAccountAuthorizationDetails",
            details.failure,
            !(strategy === "auto" && isDenied(details.failure)),
            "auto collects per user instead (7 calls a user rather than a few for the whole account)"
          )
      )
    }
    if (report !== undefined) {
      if (Result.isSuccess(report)) {
        const ms = (yield* Clock.currentTimeMillis) - report.success.generatedAt.getTime()
        results.push(ok("iam:GetCredentialReport", `allowed (a report generated ${age(ms)} ago)`, account))
      } else if (reportAnswered) {
        results.push(ok(
          "iam:GetCredentialReport",
          report.failure.reason._tag === "Pending"
            ? "allowed (a report is being generated)"
            : `allowed (no report to read: ${report.failure.reason.code}; the run generates one)`,
          account
        ))
      } else {
        results.push(failure(
          "GetCredentialReport",
          report.failure,
          !(strategy === "auto" && isDenied(report.failure)),
          "auto collects per user instead"
        ))
      }
      results.push(yield* generateLine(report, picks, options))
    }

    // The per-user calls, on the first user, a few at a time through the door.
    const sshListed = options.sshPublicKeys === "always" || (options.sshPublicKeys === "per-user" && picks === "per-user")
    const perUserNeeded = (action: PerUserAction) =>
      picks === "per-user" || (action === "ListAccessKeys" && options.accessKeyIds) || action === "ListServiceSpecificCredentials" ||
      action === "ListSSHPublicKeys"
    const identityActions = !options.identity ? [] : IDENTITY.filter((a) =>
      a === "GetUser" ? picks === "per-user" : a === "ListSSHPublicKeys" ? sshListed : true
    )
    const perUser = yield* Effect.forEach([...PER_USER, ...identityActions], (action): Effect.Effect<CheckResult> => {
      const needed = perUserNeeded(action)
      if (Result.isFailure(listed)) {
        return Effect.succeed(warn(`iam:${action}`, "not tried: ListUsers failed, so there is no user to try it on", "make ListUsers work first", account))
      }
      if (firstUser?.UserName === undefined) {
        return Effect.succeed(ok(`iam:${action}`, "not called: no user in this account, so the run makes no per-user call here", account))
      }
      const user = firstUser.UserName
      return perUserCall(iam, action, user).pipe(
        Effect.map((detail) => ok(`iam:${action}`, detail, account)),
        Effect.catch((e) =>
          Effect.succeed(
            e.reason._tag === "NotFound"
              ? warn(`iam:${action}`, `not verified: user ${user} was deleted meanwhile (${e.reason.code})`, "run the check again", account)
              : failure(
                action,
                e,
                needed,
                "bulk calls it only for users its sources do not fully describe (created after the report, a cell that says " +
                  "nothing certain), and such users would be dead-lettered"
              )
          )
        )
      )
    }, { concurrency: 4 })
    return [...results, ...perUser]
  })

/** GenerateCredentialReport, never called: whether the next run needs it, and why the check did not try it. */
const generateLine = (
  report: Result.Result<{ readonly generatedAt: Date }, IamError>,
  picks: CollectionStrategy,
  options: IamCheckOptions
): Effect.Effect<CheckResult> =>
  Effect.gen(function*() {
    const name = "iam:GenerateCredentialReport"
    const maxAge = options.maxCredentialReportAge
    if (picks === "per-user") return ok(name, "not needed: auto collects per user here", options.account)
    if (Result.isSuccess(report)) {
      const ms = (yield* Clock.currentTimeMillis) - report.success.generatedAt.getTime()
      if (ms < Duration.toMillis(maxAge)) {
        return ok(
          name,
          `not called (the check generates no report); not needed now: the report of ${age(ms)} ago is reused while ` +
            `younger than collection.maxCredentialReportAge (${Duration.format(maxAge)})`,
          options.account
        )
      }
    }
    const why = Result.isSuccess(report)
      ? `the report is older than collection.maxCredentialReportAge (${Duration.format(maxAge)})`
      : "there is no report to reuse"
    return warn(
      name,
      `not verified: the check generates no report (calling it would start one), and the next run will call it: ${why}`,
      `make sure iam:GenerateCredentialReport is allowed to ${options.principal} beside iam:GetCredentialReport ` +
        `(IAMReadOnlyAccess and SecurityAudit grant both); denied, ${
          options.strategy === "auto" ? "auto falls back to per-user" : "the bulk run fails"
        }`,
      options.account
    )
  })
