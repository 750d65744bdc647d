/**
 * What the strict profiles add to a user (`Identity` of `IamUser`), assembled the same way by both
 * strategies from what each can read, so that their events agree:
 * - the policies that apply to the user, each judged (`identity/policyDocument.ts`): the user's
 *   attached and inline ones and each group's. A group's policies and a customer managed policy's
 *   document are read once a run (`PolicySources`), not once per member: from
 *   GetAccountAuthorizationDetails in bulk (Filter=Group and Filter=LocalManagedPolicy), from
 *   ListAttachedGroupPolicies, ListGroupPolicies, GetGroupPolicy, GetPolicy and GetPolicyVersion
 *   per user otherwise; AWS managed policies are judged by their ARN, with no call;
 * - the permissions boundary (GetUser; GetAccountAuthorizationDetails), judged the same way;
 * - each access key's last use (GetAccessKeyLastUsed per key; the credential report's slots in
 *   bulk, a key the report does not place asked for with GetAccessKeyLastUsed), signing
 *   certificates, service-specific credentials and SSH public keys (when listed: no account-wide
 *   call lists them, so bulk lists them only with `collection.sshPublicKeys: "always"`);
 * - the password's last change, from the credential report only (no per-user call says it).
 * A document that cannot be read fails the user (BadData): a verdict is never guessed.
 */
import type {
  AccessKeyLastUsed,
  AttachedPolicy,
  GroupDetail,
  ManagedPolicyDetail,
  ServiceSpecificCredentialMetadata,
  SigningCertificate,
  SSHPublicKeyMetadata
} from "@aws-sdk/client-iam"
import * as Effect from "effect/Effect"
import type { IamService } from "../iam/Iam.ts"
import { BadData, IamError } from "../iam/IamError.ts"
import type { IamUserJson } from "../iam/IamUser.ts"
import { awsManagedVerdict, isAwsManaged, isProblem, judgeDocument, type PolicyVerdict } from "../identity/policyDocument.ts"
import { named, type ReportIdentity } from "./credentialReport.ts"
import { allPages } from "./paging.ts"
import { iso } from "./userJson.ts"

export type IdentityJson = NonNullable<IamUserJson["Identity"]>
export type AppliedPolicyJson = IdentityJson["Policies"][number]
type AccessKeyLastUseJson = IdentityJson["AccessKeyLastUse"][number]

const badDocument = (action: string, what: string, problem: string, userName?: string) =>
  new IamError({
    action,
    ...(userName === undefined ? {} : { userName }),
    reason: new BadData({ code: "BadPolicyDocument", message: `${what}: ${problem}` })
  })

/** Judges a document as IAM sends it; BadData names the policy when it cannot be read. */
const judged = (action: string, what: string, encoded: string | undefined, userName?: string): Effect.Effect<PolicyVerdict, IamError> => {
  if (encoded === undefined) return Effect.fail(badDocument(action, what, "no policy document", userName))
  const verdict = judgeDocument(encoded)
  return isProblem(verdict) ? Effect.fail(badDocument(action, what, verdict.problem, userName)) : Effect.succeed(verdict)
}

const applied = (
  policy: { readonly PolicyName?: string | undefined; readonly PolicyArn?: string | undefined },
  verdict: PolicyVerdict,
  group?: string
): AppliedPolicyJson => ({
  PolicyName: policy.PolicyName ?? "",
  ...(policy.PolicyArn === undefined ? {} : { PolicyArn: policy.PolicyArn }),
  ...(group === undefined ? {} : { Group: group }),
  AllowsAll: verdict.allowsAll,
  DeniesAll: verdict.deniesAll
})

/** The default version's document of a managed policy, as GetAccountAuthorizationDetails lists it. */
const defaultDocument = (p: ManagedPolicyDetail): string | undefined =>
  p.PolicyVersionList?.find((v) => v.VersionId === p.DefaultVersionId)?.Document

/** What a run reads once, however many users share it: judged managed policies and groups' policies. */
export interface PolicySources {
  /** A managed policy's verdict: AWS's by ARN, the account's by its default version's document. */
  readonly managed: (arn: string) => Effect.Effect<PolicyVerdict, IamError>
  /** The verdict known without a call, or undefined. */
  readonly managedNow: (arn: string) => PolicyVerdict | undefined
  /** A group's policies (attached and inline), judged. */
  readonly group: (groupName: string) => Effect.Effect<ReadonlyArray<AppliedPolicyJson>, IamError>
  /** The group's policies known without a call, or undefined. */
  readonly groupNow: (groupName: string) => ReadonlyArray<AppliedPolicyJson> | undefined
}

/** Each key's value computed once, by the first to ask; those asking meanwhile wait for it. */
const memo = <A>(make: (key: string) => Effect.Effect<A, IamError>) => {
  const cache = new Map<string, Effect.Effect<A, IamError>>()
  return (key: string): Effect.Effect<A, IamError> =>
    Effect.suspend(() => {
      let cached = cache.get(key)
      if (cached === undefined) {
        cached = Effect.runSync(Effect.cached(make(key)))
        cache.set(key, cached)
      }
      return cached
    })
}

/**
 * The run's policy sources. `known` is what GetAccountAuthorizationDetails gave (bulk): the
 * account's managed policies and its groups; what it does not hold (a policy or group created
 * since) is read with the per-group and per-policy calls, once.
 */
export const makePolicySources = (
  iam: IamService,
  known: {
    /** A policy whose document could not be read is kept as its error: it fails its users, not the run. */
    readonly policies: ReadonlyMap<string, PolicyVerdict | IamError>
    readonly groups: ReadonlyMap<string, ReadonlyArray<AppliedPolicyJson> | IamError>
  } = { policies: new Map(), groups: new Map() }
): PolicySources => {
  const managedNow = (arn: string): PolicyVerdict | undefined => {
    if (isAwsManaged(arn)) return awsManagedVerdict(arn)
    const k = known.policies.get(arn)
    return k instanceof IamError ? undefined : k
  }
  const fetchManaged = memo((arn) =>
    iam.getPolicyDefaultVersion(arn).pipe(
      Effect.flatMap((version) => iam.getPolicyVersion(arn, version)),
      Effect.flatMap((document) => judged("GetPolicyVersion", `the default version of ${arn}`, document))
    )
  )
  const fetchGroup = memo((groupName) =>
    Effect.all({
      attached: allPages((m) => iam.listAttachedGroupPolicies(groupName, m)),
      inline: allPages((m) => iam.listGroupPolicies(groupName, m))
    }, { concurrency: "unbounded" }).pipe(
      Effect.flatMap(({ attached, inline }) =>
        Effect.all([
          Effect.forEach(attached, (p) => Effect.map(managed(p.PolicyArn ?? ""), (v) => applied(p, v, groupName)), { concurrency: "unbounded" }),
          Effect.forEach(inline, (name) =>
            iam.getGroupPolicy(groupName, name).pipe(
              Effect.flatMap((document) => judged("GetGroupPolicy", `inline policy ${name} of group ${groupName}`, document)),
              Effect.map((v) => applied({ PolicyName: name }, v, groupName))
            ), { concurrency: "unbounded" })
        ])
      ),
      Effect.map(([attached, inline]) => [...attached, ...inline])
    )
  )
  const managed = (arn: string): Effect.Effect<PolicyVerdict, IamError> => {
    const bad = known.policies.get(arn)
    if (bad instanceof IamError) return Effect.fail(bad)
    const now = managedNow(arn)
    return now !== undefined ? Effect.succeed(now) : fetchManaged(arn)
  }
  return {
    managed,
    managedNow,
    group: (groupName) => {
      const now = known.groups.get(groupName)
      return now instanceof IamError ? Effect.fail(now) : now !== undefined ? Effect.succeed(now) : fetchGroup(groupName)
    },
    groupNow: (groupName) => {
      const now = known.groups.get(groupName)
      return now instanceof IamError ? undefined : now
    }
  }
}

/** The account's managed policies of a GetAccountAuthorizationDetails listing (Filter=LocalManagedPolicy), judged. */
export const judgeManagedPolicy = (p: ManagedPolicyDetail): Effect.Effect<readonly [string, PolicyVerdict], IamError> =>
  Effect.map(judged("GetAccountAuthorizationDetails", `the default version of ${p.Arn}`, defaultDocument(p)), (v) => [p.Arn ?? "", v] as const)

/** A group of a GetAccountAuthorizationDetails listing (Filter=Group), its policies judged (`known` of `makePolicySources`). */
export const judgeGroup = (
  g: GroupDetail,
  managedNow: (arn: string) => PolicyVerdict | undefined
): Effect.Effect<ReadonlyArray<AppliedPolicyJson> | undefined, IamError> =>
  Effect.gen(function*() {
    const name = g.GroupName ?? ""
    const policies: Array<AppliedPolicyJson> = []
    for (const p of g.AttachedManagedPolicies ?? []) {
      const v = managedNow(p.PolicyArn ?? "")
      // a policy the listing does not hold: the group is read with the per-group calls
      if (v === undefined) return undefined
      policies.push(applied(p, v, name))
    }
    for (const p of g.GroupPolicyList ?? []) {
      const v = yield* judged("GetAccountAuthorizationDetails", `inline policy ${p.PolicyName} of group ${name}`, p.PolicyDocument)
      policies.push(applied(p, v, name))
    }
    return policies
  })

const certificateJson = (c: SigningCertificate) => ({ CertificateId: c.CertificateId, Status: c.Status, UploadDate: iso(c.UploadDate) })

const sshKeyJson = (k: SSHPublicKeyMetadata) => ({ SSHPublicKeyId: k.SSHPublicKeyId, Status: k.Status, UploadDate: iso(k.UploadDate) })

const credentialJson = (c: ServiceSpecificCredentialMetadata) => ({
  ServiceSpecificCredentialId: c.ServiceSpecificCredentialId,
  ServiceName: c.ServiceName,
  ...(c.ServiceUserName === undefined ? {} : { ServiceUserName: c.ServiceUserName }),
  ...(c.ServiceCredentialAlias === undefined ? {} : { ServiceCredentialAlias: c.ServiceCredentialAlias }),
  Status: c.Status,
  CreateDate: iso(c.CreateDate),
  ...(c.ExpirationDate === undefined ? {} : { ExpirationDate: iso(c.ExpirationDate) })
})

// `N/A` (a key never used) is no service or region.
const lastUseJson = (accessKeyId: string, used: { readonly date: Date | undefined; readonly service?: string | undefined; readonly region?: string | undefined }): AccessKeyLastUseJson => {
  const service = named(used.service)
  const region = named(used.region)
  return {
    AccessKeyId: accessKeyId,
    LastUsedDate: iso(used.date) ?? null,
    ...(service === undefined || used.date === undefined ? {} : { ServiceName: service }),
    ...(region === undefined || used.date === undefined ? {} : { Region: region })
  }
}

const fromGetAccessKeyLastUsed = (accessKeyId: string, u: AccessKeyLastUsed) =>
  lastUseJson(accessKeyId, { date: u.LastUsedDate, service: u.ServiceName, region: u.Region })

/** What both strategies have of a user before its identity is assembled. */
export interface IdentityInput {
  readonly userName: string
  readonly accessKeys: ReadonlyArray<{ readonly AccessKeyId?: string | undefined; readonly CreateDate?: Date | undefined }>
  readonly attached: ReadonlyArray<AttachedPolicy>
  /** The user's inline policies: with their documents (bulk), or names to read with GetUserPolicy. */
  readonly inline: ReadonlyArray<{ readonly PolicyName?: string | undefined; readonly PolicyDocument?: string | undefined }>
  readonly groupNames: ReadonlyArray<string>
  readonly boundaryArn: string | undefined
  readonly certificates: ReadonlyArray<SigningCertificate>
  readonly credentials: ReadonlyArray<ServiceSpecificCredentialMetadata>
  /** undefined: not listed (`collection.sshPublicKeys`). */
  readonly sshPublicKeys: ReadonlyArray<SSHPublicKeyMetadata> | undefined
  /** The credential report's cells (bulk); absent per user. */
  readonly report: ReportIdentity | undefined
}

/**
 * The report slot of each listed key: the one created at the key's creation time. A key no slot
 * places (created since the report, or two keys created the same second) gets undefined.
 */
const reportLastUse = (key: { readonly AccessKeyId?: string | undefined; readonly CreateDate?: Date | undefined }, report: ReportIdentity) => {
  const created = key.CreateDate?.getTime()
  const slots = report.keys.filter((s) => s.created !== null && Math.floor(s.created / 1000) === Math.floor((created ?? NaN) / 1000))
  const slot = slots.length === 1 ? slots[0]! : undefined
  if (slot === undefined || slot.lastUsed === undefined) return undefined
  return lastUseJson(key.AccessKeyId ?? "", { date: slot.lastUsed === null ? undefined : new Date(slot.lastUsed), service: slot.service, region: slot.region })
}

/**
 * Whether `identity` can be assembled without a call: every key placed by the report, every
 * inline document at hand, every policy and group known.
 */
export const identityNeedsNoCall = (input: IdentityInput, sources: PolicySources): boolean =>
  input.report !== undefined &&
  input.accessKeys.every((k) => reportLastUse(k, input.report!) !== undefined) &&
  input.inline.every((p) => p.PolicyDocument !== undefined) &&
  input.attached.every((p) => sources.managedNow(p.PolicyArn ?? "") !== undefined) &&
  input.groupNames.every((g) => sources.groupNow(g) !== undefined) &&
  (input.boundaryArn === undefined || sources.managedNow(input.boundaryArn) !== undefined)

/** The user's `Identity` (encoded side), with the calls its data needs (none when `identityNeedsNoCall`). */
export const identity = (iam: IamService, sources: PolicySources, input: IdentityInput): Effect.Effect<IdentityJson, IamError> => {
  const name = input.userName
  const each = { concurrency: "unbounded" } as const
  return Effect.all({
    lastUse: Effect.forEach(input.accessKeys, (k) => {
      const fromReport = input.report === undefined ? undefined : reportLastUse(k, input.report)
      const id = k.AccessKeyId ?? ""
      return fromReport !== undefined
        ? Effect.succeed(fromReport)
        : Effect.map(iam.getAccessKeyLastUsed(name, id), (u) => fromGetAccessKeyLastUsed(id, u))
    }, each),
    attached: Effect.forEach(input.attached, (p) => Effect.map(sources.managed(p.PolicyArn ?? ""), (v) => applied(p, v)), each),
    inline: Effect.forEach(input.inline, (p) => {
      const policyName = p.PolicyName ?? ""
      const document = p.PolicyDocument !== undefined ? Effect.succeed(p.PolicyDocument) : iam.getUserPolicy(name, policyName)
      return document.pipe(
        Effect.flatMap((d) => judged("GetUserPolicy", `inline policy ${policyName} of user ${name}`, d, name)),
        Effect.map((v) => applied({ PolicyName: policyName }, v))
      )
    }, each),
    groups: Effect.forEach(input.groupNames, (g) => sources.group(g), each),
    boundary: input.boundaryArn === undefined
      ? Effect.succeed(null)
      : Effect.map(sources.managed(input.boundaryArn), (v) => ({
        PermissionsBoundaryArn: input.boundaryArn!,
        PermissionsBoundaryType: "PermissionsBoundaryPolicy" as const,
        AllowsAll: v.allowsAll
      }))
  }, each).pipe(
    Effect.map(({ attached, boundary, groups, inline, lastUse }): IdentityJson => {
      const changed = input.report?.passwordLastChanged
      return {
        AccessKeyLastUse: lastUse,
        SigningCertificates: input.certificates.map(certificateJson) as IdentityJson["SigningCertificates"],
        ServiceSpecificCredentials: input.credentials.map(credentialJson) as IdentityJson["ServiceSpecificCredentials"],
        ...(input.sshPublicKeys === undefined ? {} : { SSHPublicKeys: input.sshPublicKeys.map(sshKeyJson) as NonNullable<IdentityJson["SSHPublicKeys"]> }),
        ...(changed === undefined ? {} : { PasswordLastChanged: changed === null ? null : new Date(changed).toISOString() }),
        PermissionsBoundary: boundary,
        Policies: [...attached, ...inline, ...groups.flat()]
      }
    })
  )
}
