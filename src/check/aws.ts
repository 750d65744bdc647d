/**
 * The AWS side of a check, in the order a run needs it: the base credentials (who they are,
 * `sts:GetCallerIdentity`), the organization's discovery, then each account: its role (AssumeRole)
 * and the IAM actions of the strategy (`iamActions.ts`). Every call goes through a door
 * (`iam/door.ts`) with the run's settings; the accounts come from the run's own `Accounts`
 * service, so that what is checked is what the run will read, the way it will read it. When the
 * credentials do not work, nothing else on the AWS side can, and it is not tried.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { Accounts } from "../accounts/Accounts.ts"
import type { AccountTarget } from "../accounts/discover.ts"
import { makeDoor } from "../iam/door.ts"
import type { IamError } from "../iam/IamError.ts"
import { callerIdentity, type CallerIdentity } from "../iam/Sts.ts"
import { needsAccessKeyIds, needsIdentity } from "../ocsf/index.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import { connectionOf } from "../run/Runner.ts"
import { type CheckResult, fail, ok, warn } from "./CheckResult.ts"
import { iamChecks, reasonText } from "./iamActions.ts"

/** The Organizations actions discovery calls with this config. */
const organizationActions = (config: AppConfig): ReadonlyArray<string> => {
  const organization = config.accounts?.organization
  const namesOu = (ids: ReadonlyArray<string> | undefined) => (ids ?? []).some((id) => !/^\d{12}$/.test(id))
  const walks = organization !== undefined &&
    (organization.parents !== undefined || namesOu(organization.include) || namesOu(organization.exclude))
  return walks
    ? ["DescribeOrganization", "ListRoots", "ListAccountsForParent", "ListOrganizationalUnitsForParent"]
    : ["DescribeOrganization", "ListAccounts"]
}

const credentialsLine = (error: IamError): CheckResult =>
  fail(
    "credentials",
    `sts:GetCallerIdentity failed: ${reasonText(error)}; nothing else on the AWS side can work, so it was not tried`,
    error.reason._tag === "Unavailable"
      ? "AWS (or aws.endpoint) could not be reached: check aws.endpoint, aws.region and the network or proxy"
      : "give working credentials: aws.accessKeyId and aws.secretAccessKey (and aws.sessionToken for temporary ones), " +
        "or leave them out for the SDK's chain (AWS_* variables, AWS_PROFILE, SSO, an instance or container role)"
  )

const listOf = (ids: ReadonlyArray<string>) => ids.length <= 12 ? ids.join(", ") : `${ids.slice(0, 12).join(", ")}, … (${ids.length - 12} more)`

/** AssumeRole's fix: the role, its trust policy, and the base principal's own permission. */
const assumeFix = (target: AccountTarget, caller: CallerIdentity) => {
  if (target.access._tag !== "AssumeRole") return ""
  return `make sure ${target.access.roleArn} exists in account ${target.id} and its trust policy lets ${caller.arn} ` +
    `assume it (sts:AssumeRole${target.access.externalId === undefined ? "" : ", with the sts:ExternalId the config gives"}), ` +
    `and that ${caller.arn} is allowed sts:AssumeRole on it; or leave the account out (accounts.organization.exclude)`
}

/** One account: its role, then its IAM actions. */
const accountChecks = (config: AppConfig, target: AccountTarget, caller: CallerIdentity) =>
  Effect.gen(function*() {
    const accounts = yield* Accounts
    const account = target.id ?? caller.account
    const results: Array<CheckResult> = []
    const opened = yield* Effect.result(accounts.open(target))
    if (target.access._tag === "AssumeRole") {
      results.push(
        Result.isSuccess(opened)
          ? ok("sts:AssumeRole", `assumed ${target.access.roleArn}`, account)
          : fail(
            "sts:AssumeRole",
            `${target.access.roleArn} could not be assumed: ${reasonText(opened.failure)}; the account's IAM actions were not tried`,
            assumeFix(target, caller),
            account
          )
      )
    } else if (Result.isFailure(opened)) {
      results.push(fail("account", `could not be opened: ${reasonText(opened.failure)}`, "see the reason", account))
    }
    if (Result.isFailure(opened)) return results
    const iamResults = yield* iamChecks(opened.success, {
      account,
      principal: target.access._tag === "AssumeRole" ? target.access.roleArn : caller.arn,
      strategy: config.collection.strategy,
      accessKeyIds: needsAccessKeyIds(config.ocsf.profile),
      identity: needsIdentity(config.ocsf.profile),
      sshPublicKeys: config.collection.sshPublicKeys,
      maxCredentialReportAge: config.collection.maxCredentialReportAge
    })
    return [...results, ...iamResults]
  }).pipe(Effect.withSpan("check account", { attributes: target.id === undefined ? {} : { "aws.account.id": target.id } }))

export const awsChecks = (config: AppConfig, perAccount = true): Effect.Effect<ReadonlyArray<CheckResult>, never, Accounts> =>
  Effect.gen(function*() {
    const accounts = yield* Accounts
    const connection = connectionOf(config)
    const sts = yield* makeDoor({
      service: "STS",
      callTimeout: config.collection.callTimeout,
      retry: config.collection.retry,
      maxInFlight: 1
    })
    const caller = yield* Effect.result(callerIdentity(connection, sts))
    if (Result.isFailure(caller)) return [credentialsLine(caller.failure)]
    const results: Array<CheckResult> = [
      ok("credentials", `${caller.success.arn} (account ${caller.success.account})`)
    ]

    const found = yield* Effect.result(accounts.discover)
    const organization = config.accounts?.organization
    if (Result.isFailure(found)) {
      const error = found.failure
      results.push(fail(
        organization === undefined ? "accounts" : "organization",
        `discovery failed: ${reasonText(error)}`,
        error.reason._tag === "AccessDenied"
          ? `allow ${organizationActions(config).map((a) => `organizations:${a}`).join(", ")} to ${caller.success.arn} ` +
            "(they answer in the management account or a delegated administrator account)"
          : "see the reason",
        undefined
      ))
      return results
    }
    const targets = found.success
    if (organization !== undefined && targets.length === 0) {
      results.push(warn(
        "organization",
        "no account to read: discovery found none that is ACTIVE and passes parents, include and exclude",
        "check accounts.organization.parents, include and exclude"
      ))
    } else if (organization !== undefined) {
      const organizationId = targets.find((t) => t.organizationId !== undefined)?.organizationId
      results.push(ok(
        "organization",
        `${targets.length} account${targets.length === 1 ? "" : "s"} to read` +
          `${organizationId === undefined ? "" : ` in ${organizationId}`}: ${listOf(targets.map((t) => t.id ?? caller.success.account))}`
      ))
    }
    // A coordinated worker's start-up leaves the accounts to their jobs: probing every account from
    // every worker would read accounts other workers are collecting (and spend their budgets).
    if (!perAccount) return results
    const each = yield* Effect.forEach(targets, (target) => accountChecks(config, target, caller.success), {
      concurrency: accounts.concurrency
    })
    return [...results, ...each.flat()]
  }).pipe(Effect.scoped)
