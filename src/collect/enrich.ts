/**
 * What both strategies share to complete and check a user: the per-user calls that describe one
 * user, and the decoding of the assembled JSON through the `IamUser` schema, so that a user is
 * emitted whole or fails.
 */
import { accessKeyJson, groupJson, iso, policyJson, tagJson } from "./userJson.ts"
import type { User } from "@aws-sdk/client-iam"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import { Iam, type Page } from "../iam/Iam.ts"
import { BadData, IamError } from "../iam/IamError.ts"
import { IamUser, type IamUserJson } from "../iam/IamUser.ts"
import { identity, type PolicySources } from "./identity.ts"
import { allPages } from "./paging.ts"



const decodeUser = Schema.decodeUnknownExit(IamUser)

/**
 * The spec-shaped JSON a strategy assembled for one user, decoded; a mismatch is AWS's data
 * at fault. Synchronous, for the bulk strategy's pages of a thousand users.
 */
export const decodeCollectedNow = (userName: string, json: unknown): IamUser | IamError => {
  const exit = decodeUser(json)
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
  return new IamError({
    // Not an AWS action: the step that found AWS's answers unusable.
    action: "DecodeUser",
    userName,
    reason: new BadData({ code: "SchemaMismatch", message: String(failure ?? exit.cause) })
  })
}

export const decodeCollected = (userName: string, json: unknown): Effect.Effect<IamUser, IamError> =>
  Effect.suspend(() => {
    const user = decodeCollectedNow(userName, json)
    return user instanceof IamError ? Effect.fail(user) : Effect.succeed(user)
  })

/**
 * Everything IAM knows about one user, from its ListUsers entry plus one call per aspect
 * (each followed to its last page), decoded through the `IamUser` schema. Any call that still
 * fails after the retry policy fails the whole user: a user is emitted complete or not at all.
 * With `sources` (the strict profiles), its `Identity` too (`identity.ts`): GetUser for the
 * permissions boundary, its signing certificates, service-specific credentials and (unless
 * `sshPublicKeys` is false) SSH public keys, then a call
 * per access key and per inline policy, and the groups' and managed policies' once a run.
 */
export const enrichUser = Effect.fn("enrichUser")(function*(summary: User, sources?: PolicySources, sshPublicKeys = true) {
  const iam = yield* Iam
  const name = summary.UserName ?? ""
  yield* Effect.annotateCurrentSpan("aws.iam.user", name)
  const aspects = yield* Effect.all({
    keys: allPages((m) => iam.listAccessKeys(name, m)),
    mfa: allPages((m) => iam.listMfaDevices(name, m)),
    console: iam.hasLoginProfile(name),
    tags: allPages((m) => iam.listUserTags(name, m)),
    groups: allPages((m) => iam.listGroupsForUser(name, m)),
    attached: allPages((m) => iam.listAttachedUserPolicies(name, m)),
    inline: allPages((m) => iam.listUserPolicies(name, m)),
    more: sources === undefined ? Effect.succeed(undefined) : Effect.all({
      // ListUsers leaves the boundary out (as it leaves out tags)
      user: iam.getUser(name),
      certificates: allPages((m) => iam.listSigningCertificates(name, m)),
      credentials: allPages((m) => iam.listServiceSpecificCredentials(name, m)),
      ssh: sshPublicKeys ? allPages((m) => iam.listSshPublicKeys(name, m)) : Effect.succeed(undefined)
    }, { concurrency: "unbounded" })
  }, { concurrency: "unbounded" })

  const more = aspects.more
  const Identity = more === undefined || sources === undefined ? undefined : yield* identity(iam, sources, {
    userName: name,
    accessKeys: aspects.keys,
    attached: aspects.attached,
    inline: aspects.inline.map((PolicyName) => ({ PolicyName })),
    groupNames: aspects.groups.map((g) => g.GroupName ?? ""),
    boundaryArn: more.user.PermissionsBoundary?.PermissionsBoundaryArn,
    certificates: more.certificates,
    credentials: more.credentials,
    sshPublicKeys: more.ssh,
    report: undefined
  })

  const json = {
    UserId: summary.UserId,
    UserName: summary.UserName,
    Arn: summary.Arn,
    Path: summary.Path,
    CreateDate: iso(summary.CreateDate),
    PasswordLastUsed: iso(summary.PasswordLastUsed) ?? null,
    AccessKeys: aspects.keys.map(accessKeyJson),
    MFADevices: aspects.mfa.map((d) => ({ SerialNumber: d.SerialNumber, EnableDate: iso(d.EnableDate) })),
    ConsoleAccessEnabled: aspects.console,
    Tags: aspects.tags.map(tagJson),
    Groups: aspects.groups.map(groupJson),
    AttachedPolicies: aspects.attached.map(policyJson),
    InlinePolicyNames: aspects.inline,
    Identity
    // Every list is made here, so the credential report's stand-ins for them do not apply.
  } satisfies Record<Exclude<keyof IamUserJson, "ActiveAccessKeyCount" | "MFAActive">, unknown>

  return yield* decodeCollected(name, Identity === undefined ? withoutIdentity(json) : json)
})

const withoutIdentity = <J extends { readonly Identity: unknown }>({ Identity: _, ...json }: J) => json
