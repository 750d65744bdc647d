/**
 * An HTTP server speaking the AWS IAM Query protocol (form-encoded POST, XML answers) well
 * enough that `@aws-sdk/client-iam` cannot tell it from AWS for the calls an inventory makes.
 * Answers are built as strings; nothing is parsed but the form body.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { type Account, ACCOUNT_ID, CALLER_USER, makeAccount, type UserRecord } from "./account.ts"
import {
  boundaryXml,
  encodedDocument,
  groupDetailXml,
  isEntityFilter,
  policyDetailXml,
  userDetailXml,
  userInlineDocument
} from "./authorizationDetails.ts"
import {
  type CredentialReportOptions,
  type CredentialReportState,
  makeCredentialReportState
} from "./credentialReport.ts"
import {
  ACCOUNT_ACTIONS,
  type Corruption,
  type CorruptionKind,
  type Counters,
  type CounterStore,
  type FaultEngine,
  type Faults,
  type IamAction,
  isAction,
  makeCounters,
  makeFaultEngine,
  type Outcome
} from "./faults.ts"
import type { OrganizationOptions } from "./organization.ts"
import { type QueryReply, queryReplies } from "./queryReply.ts"
import { type EmulatorOrganization, makeRouter, type Service } from "./routing.ts"
import { type AccountWrites, isWriteAction, makeAccountWrites } from "./writes.ts"
import type { ManagedPolicyRecord } from "./policies.ts"
import { el, list, xmlEscape } from "./xml.ts"


export interface EmulatorOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string
  /** Port; default 0 (an ephemeral port, see `Emulator.port`). */
  readonly port?: number
  /** Number of generated users (after the spec examples). Default 0. */
  readonly users?: number
  /** Whether the spec's two example users come first. Default true. */
  readonly specExamples?: boolean
  /** Seed of the user generator and of the random faults. Default 1. */
  readonly seed?: number
  /** Every other page of every list call holds about half of MaxItems while IsTruncated is true. */
  readonly shortPages?: boolean
  readonly faults?: Faults
  /** The account's credential report; default: none yet, generation takes 100 ms. */
  readonly credentialReport?: CredentialReportOptions
  /**
   * Serve an AWS Organization of several accounts (the options above describe its management
   * account, `ACCOUNT_ID`). Without it, Organizations answers AWSOrganizationsNotInUseException
   * and STS knows the one account.
   */
  readonly organization?: OrganizationOptions
  /** Told of every answer as it is sent, with the user it was about and the time (epoch ms). */
  readonly onAnswer?: (answer: { readonly action: string; readonly userName: string | undefined; readonly outcome: Outcome; readonly atMs: number }) => void
}

export interface Emulator {
  /** e.g. `http://127.0.0.1:40123`: pass as `endpoint` to `IAMClient`. */
  readonly url: string
  readonly port: number
  readonly account: Account
  counters(): Counters
  resetCounters(): void
  /** Replaces every fault setting (the `requestsPerSecond` bucket restarts full when its budget changes). */
  setFaults(faults: Faults): void
  /** Replaces the account's credential report as if the emulator had started with these options. */
  setCredentialReport(options: CredentialReportOptions): void
  /** The organization's accounts, each with its truth, counters and faults; undefined without `organization`. */
  readonly organization: EmulatorOrganization | undefined
  /** STS or Organizations calls answered, by action and outcome (every account together). */
  serviceCounters(service: Exclude<Service, "iam">): Counters
  /** Stops listening and closes every connection, keep-alive ones included. */
  close(): Promise<void>
}

const XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
const MAX_BODY = 64 * 1024

// ---------------------------------------------------------------------------------------
// Answers

type Reply = QueryReply

const { fail, ok } = queryReplies(XMLNS)

const throttled = (): Reply => fail(400, "Throttling", "Rate exceeded", "throttled")
const validation = (message: string): Reply => fail(400, "ValidationError", message, "rejected")
const noSuchUser = (name: string): Reply =>
  fail(404, "NoSuchEntity", `The user with name ${name} cannot be found.`, "notFound")

// ---------------------------------------------------------------------------------------
// Pagination: an opaque Marker carries the action, the next index and the page number.

interface Cursor {
  readonly index: number
  readonly page: number
}

const checksum = (s: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return (h >>> 0).toString(36)
}
const encodeMarker = (action: string, c: Cursor): string => {
  const text = `${action}/${c.index}/${c.page}`
  return Buffer.from(`${text}/${checksum(text)}`).toString("base64")
}
const decodeMarker = (action: string, marker: string): Cursor | undefined => {
  const m = /^([A-Za-z]+)\/(\d{1,10})\/(\d{1,10})\/([0-9a-z]+)$/.exec(Buffer.from(marker, "base64").toString("latin1"))
  if (m === null || m[1] !== action || checksum(`${m[1]}/${m[2]}/${m[3]}`) !== m[4]) return undefined
  return { index: Number(m[2]), page: Number(m[3]) }
}

interface Paging {
  readonly cursor: Cursor
  /** How many items this page may hold. */
  readonly limit: number
}

const paging = (
  action: string,
  params: URLSearchParams,
  shortPages: boolean
): Paging | Reply => {
  const raw = params.get("MaxItems")
  let maxItems = 100
  if (raw !== null) {
    if (!/^-?\d{1,12}$/.test(raw)) return validation(`Value '${raw}' at 'maxItems' failed to satisfy constraint: Member must be an integer`)
    maxItems = Number(raw)
    if (maxItems < 1) {
      return validation(`1 validation error detected: Value '${raw}' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1`)
    }
    if (maxItems > 1000) {
      return validation(`1 validation error detected: Value '${raw}' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000`)
    }
  }
  const marker = params.get("Marker")
  let cursor: Cursor = { index: 0, page: 0 }
  if (marker !== null) {
    const c = decodeMarker(action, marker)
    if (c === undefined) return validation("Invalid Marker.")
    cursor = c
  }
  const limit = shortPages && cursor.page % 2 === 1 ? Math.max(1, Math.floor(maxItems / 2)) : maxItems
  return { cursor, limit }
}

const isReply = (x: Paging | Reply): x is Reply => "status" in x

// ---------------------------------------------------------------------------------------
// Corrupted answers (`Faults`' `corrupt`): still HTTP 200.

const PROXY_PAGE = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>" +
  "<body><h1>502 Bad Gateway</h1><p>The upstream server sent an invalid response.</p></body></html>\n"

const UNESCAPES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }
const xmlUnescape = (s: string): string => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => UNESCAPES[e]!)

/** The corruptions made to the answer's body; `marker-loop` is made to the request instead. */
const BODY_CORRUPTIONS: ReadonlySet<CorruptionKind> = new Set(["html", "empty", "cut", "truncated-without-marker", "doctype", "cdata", "inject"])
const REQUEST_CORRUPTIONS: ReadonlySet<CorruptionKind> = new Set(["marker-loop"])

const corruptBody = (body: string, c: Corruption): string => {
  switch (c.kind) {
    case "html":
      return PROXY_PAGE
    case "empty":
      return ""
    case "cut":
      return body.slice(0, Math.floor(body.length / 2))
    case "truncated-without-marker":
      return body.replace("<IsTruncated>false</IsTruncated>", "<IsTruncated>true</IsTruncated>").replace(/<Marker>[^<]*<\/Marker>/, "")
    case "doctype":
      return `<!DOCTYPE answer [<!ENTITY corrupt "corrupt">]>${body}`
    case "cdata":
      return body.replace(/<([A-Za-z]+)>([^<]+)<\/\1>/g, (_, name: string, text: string) =>
        `<${name}><![CDATA[${xmlUnescape(text).replaceAll("]]>", "]]]]><![CDATA[>")}]]><!-- corrupt: cdata --></${name}>`)
    case "inject":
      return body.replaceAll("<Value>", `<Value>${c.text ?? ""}`)
    case "marker-loop":
      return body
  }
}

const corrupted = (reply: Reply, c: Corruption): Reply => ({
  ...reply,
  body: corruptBody(reply.body, c),
  outcome: "corrupted",
  ...(c.kind === "html" ? { contentType: "text/html; charset=utf-8" } : {})
})

const truncation = (action: string, next: Cursor | undefined): string =>
  next === undefined
    ? "<IsTruncated>false</IsTruncated>"
    : `<IsTruncated>true</IsTruncated>${el("Marker", encodeMarker(action, next))}`

/** One page of a small in-memory list (the per-user List* calls). */
const pageOf = <A>(
  action: string,
  params: URLSearchParams,
  shortPages: boolean,
  items: ReadonlyArray<A>,
  render: (page: ReadonlyArray<A>) => string
): Reply => {
  const p = paging(action, params, shortPages)
  if (isReply(p)) return p
  const { cursor, limit } = p
  if (cursor.index > items.length) return validation("Invalid Marker.")
  const end = Math.min(items.length, cursor.index + limit)
  const next = end < items.length ? { index: end, page: cursor.page + 1 } : undefined
  return ok(action, render(items.slice(cursor.index, end)) + truncation(action, next))
}

// ---------------------------------------------------------------------------------------
// Rendering

const userFields = (u: UserRecord): string =>
  el("Path", u.Path) + el("UserName", u.UserName) + el("UserId", u.UserId) + el("Arn", u.Arn) +
  el("CreateDate", u.CreateDate) + (u.PasswordLastUsed === undefined ? "" : el("PasswordLastUsed", u.PasswordLastUsed))

const tags = (u: UserRecord, items = u.Tags): string =>
  list("Tags", items, (t) => el("Key", t.Key) + el("Value", t.Value))

// ---------------------------------------------------------------------------------------
// The server

interface Context {
  readonly account: Account
  readonly shortPages: boolean
  readonly report: CredentialReportState
  readonly faults: FaultEngine
  /** Users deleted since the emulator started (`Faults.deletedAfterListing`). */
  readonly deleted: Set<string>
}

/** Who signed an IAM call, as `routing.ts` decided from its credentials. */
export interface Caller {
  readonly arn: string
  /** The user GetUser and the like describe without UserName; undefined for a role session. */
  readonly user: UserRecord | undefined
  /** Credentials refused before any IAM logic (an expired or unknown session). */
  readonly refused?: { readonly status: number; readonly code: string; readonly message: string }
}

/** Actions about one user: `UserName` is optional for some (then the caller is meant). */
const CALLER_DEFAULT: ReadonlySet<IamAction> = new Set([
  "GetUser",
  "ListAccessKeys",
  "ListMFADevices",
  "GetLoginProfile",
  "ListSSHPublicKeys",
  "ListSigningCertificates",
  "ListServiceSpecificCredentials"
])

const resolveUser = (ctx: Context, action: IamAction, params: URLSearchParams, caller: Caller): UserRecord | Reply => {
  const name = params.get("UserName")
  if (name === null || name === "") {
    if (CALLER_DEFAULT.has(action)) return caller.user ?? validation("Must specify userName when calling with non-User credentials")
    return validation("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
  }
  if (ctx.deleted.has(name)) return noSuchUser(name)
  return ctx.account.user(name) ?? noSuchUser(name)
}

const listUsers = (ctx: Context, params: URLSearchParams): Reply => {
  const action = "ListUsers"
  const prefix = params.get("PathPrefix") ?? ""
  if (prefix !== "" && !prefix.startsWith("/")) {
    return validation(`1 validation error detected: Value '${prefix}' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*`)
  }
  const p = paging(action, params, ctx.shortPages)
  if (isReply(p)) return p
  const { account } = ctx
  const listed = (u: UserRecord | undefined): u is UserRecord =>
    u !== undefined && (prefix === "" || u.Path.startsWith(prefix)) && !ctx.deleted.has(u.UserName)
  const slots = account.slots
  let i = p.cursor.index
  if (i > slots) return validation("Invalid Marker.")
  let members = ""
  let n = 0
  while (i < slots && n < p.limit) {
    const u = account.at(i++)
    if (listed(u)) {
      members += `<member>${userFields(u)}</member>`
      n++
      if (ctx.faults.deletedAfterListing(u.UserName)) ctx.deleted.add(u.UserName)
    }
  }
  // Is there one more user to list? (Positions of deleted users are skipped.)
  while (i < slots && !listed(account.at(i))) i++
  const next = i < slots ? { index: i, page: p.cursor.page + 1 } : undefined
  const users = n === 0 ? "<Users/>" : `<Users>${members}</Users>`
  return ok(action, users + truncation(action, next))
}

/**
 * Users first, then groups, then managed policies (the account's own for `LocalManagedPolicy`,
 * AWS's for `AWSManagedPolicy`), each included when `Filter` names it (no `Filter`: every type).
 */
const authorizationDetails = (ctx: Context, params: URLSearchParams): Reply => {
  const action = "GetAccountAuthorizationDetails"
  const filters = new Set<string>()
  for (const [k, v] of params) if (/^Filter\.member\.\d+$/.test(k)) filters.add(v)
  for (const f of filters) {
    if (!isEntityFilter(f)) {
      return validation(`1 validation error detected: Value '[${f}]' at 'filter' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [LocalManagedPolicy, Group, AWSManagedPolicy, User, Role]]`)
    }
  }
  const all = filters.size === 0
  const users = all || filters.has("User") ? ctx.account.slots : 0
  const groups = all || filters.has("Group") ? ctx.account.groups : []
  const policies = ctx.account.managedPolicies.filter((policy) =>
    all || filters.has(policy.AwsManaged ? "AWSManagedPolicy" : "LocalManagedPolicy")
  )
  const total = users + groups.length + policies.length
  const p = paging(action, params, ctx.shortPages)
  if (isReply(p)) return p
  if (p.cursor.index > total) return validation("Invalid Marker.")
  const end = Math.min(total, p.cursor.index + p.limit)
  let userXml = ""
  let groupXml = ""
  let policyXml = ""
  const none = { attachments: 0, boundaries: 0 }
  for (let i = p.cursor.index; i < end; i++) {
    if (i < users) {
      const u = ctx.account.at(i)
      if (u !== undefined && !ctx.deleted.has(u.UserName)) userXml += `<member>${userDetailXml(u)}</member>`
    } else if (i < users + groups.length) groupXml += `<member>${groupDetailXml(groups[i - users]!)}</member>`
    else {
      const policy = policies[i - users - groups.length]!
      policyXml += `<member>${policyDetailXml(policy, ctx.account.policyUsage().get(policy.PolicyArn) ?? none)}</member>`
    }
  }
  const next = end < total ? { index: end, page: p.cursor.page + 1 } : undefined
  const wrap = (name: string, xml: string) => xml === "" ? `<${name}/>` : `<${name}>${xml}</${name}>`
  return ok(
    action,
    wrap("UserDetailList", userXml) + wrap("GroupDetailList", groupXml) + "<RoleDetailList/>" + wrap("Policies", policyXml) +
      truncation(action, next)
  )
}

/** Credentials of one service-specific credential listing (a user's, or with AllUsers every user's). */
const serviceCredentialXml = (u: UserRecord, c: UserRecord["ServiceSpecificCredentials"][number]): string =>
  el("UserName", u.UserName) + el("Status", c.Status) +
  (c.ServiceUserName === undefined ? "" : el("ServiceUserName", c.ServiceUserName)) +
  (c.ServiceCredentialAlias === undefined ? "" : el("ServiceCredentialAlias", c.ServiceCredentialAlias)) +
  el("CreateDate", c.CreateDate) + (c.ExpirationDate === undefined ? "" : el("ExpirationDate", c.ExpirationDate)) +
  el("ServiceSpecificCredentialId", c.ServiceSpecificCredentialId) + el("ServiceName", c.ServiceName)

/** Per user, at most this many service-specific credentials (two per service, three services): a cursor counts in these. */
const CREDENTIALS_PER_USER = 8

/** ListServiceSpecificCredentials with AllUsers: every user's credentials (of one service, with ServiceName), paged. */
const allServiceCredentials = (ctx: Context, params: URLSearchParams): Reply => {
  const action = "ListServiceSpecificCredentials"
  const service = params.get("ServiceName")
  const p = paging(action, params, ctx.shortPages)
  if (isReply(p)) return p
  const { account } = ctx
  const end = account.slots * CREDENTIALS_PER_USER
  if (p.cursor.index > end) return validation("Invalid Marker.")
  let members = ""
  let n = 0
  let i = p.cursor.index
  while (i < end && n < p.limit) {
    const u = account.at(Math.floor(i / CREDENTIALS_PER_USER))
    const credentials = u === undefined || ctx.deleted.has(u.UserName)
      ? []
      : u.ServiceSpecificCredentials.filter((c) => service === null || c.ServiceName === service)
    const k = i % CREDENTIALS_PER_USER
    if (k < credentials.length) {
      members += `<member>${serviceCredentialXml(u!, credentials[k]!)}</member>`
      n += 1
      i += 1
    } else i = (Math.floor(i / CREDENTIALS_PER_USER) + 1) * CREDENTIALS_PER_USER
  }
  // Is there one more credential to list?
  let more = false
  for (let slot = Math.floor(i / CREDENTIALS_PER_USER); slot < account.slots && !more; slot++) {
    const u = account.at(slot)
    if (u === undefined || ctx.deleted.has(u.UserName)) continue
    const count = u.ServiceSpecificCredentials.filter((c) => service === null || c.ServiceName === service).length
    if (slot * CREDENTIALS_PER_USER + count > i) more = true
    else i = (slot + 1) * CREDENTIALS_PER_USER
  }
  const next = more ? { index: i, page: p.cursor.page + 1 } : undefined
  return ok(action, (n === 0 ? "<ServiceSpecificCredentials/>" : `<ServiceSpecificCredentials>${members}</ServiceSpecificCredentials>`) + truncation(action, next))
}

const noSuchGroup = (name: string): Reply => fail(404, "NoSuchEntity", `The group with name ${name} cannot be found.`, "notFound")
const noSuchPolicy = (arn: string): Reply => fail(404, "NoSuchEntity", `Policy ${arn} does not exist or is not attachable.`, "notFound")

/** The group an action names (`GroupName`), or the error answer. */
const namedGroup = (ctx: Context, params: URLSearchParams) => {
  const name = params.get("GroupName")
  if (name === null || name === "") {
    return validation("1 validation error detected: Value null at 'groupName' failed to satisfy constraint: Member must not be null")
  }
  return ctx.account.group(name) ?? noSuchGroup(name)
}

/** The managed policy an action names (`PolicyArn`), or the error answer. */
const namedPolicy = (ctx: Context, params: URLSearchParams): ManagedPolicyRecord | Reply => {
  const arn = params.get("PolicyArn")
  if (arn === null || arn === "") {
    return validation("1 validation error detected: Value null at 'policyArn' failed to satisfy constraint: Member must not be null")
  }
  if (!/^arn:[\w-]+:iam::(aws|\d{12}):policy\//.test(arn)) return validation(`ARN ${arn} is not valid.`)
  return ctx.account.managedPolicy(arn) ?? noSuchPolicy(arn)
}

const policyXml = (ctx: Context, policy: ManagedPolicyRecord): string => {
  const usage = ctx.account.policyUsage().get(policy.PolicyArn) ?? { attachments: 0, boundaries: 0 }
  return el("PolicyName", policy.PolicyName) + el("PolicyId", policy.PolicyId) + el("Arn", policy.PolicyArn) +
    el("Path", policy.Path) + el("DefaultVersionId", policy.DefaultVersionId) +
    `<AttachmentCount>${usage.attachments}</AttachmentCount><PermissionsBoundaryUsageCount>${usage.boundaries}</PermissionsBoundaryUsageCount>` +
    `<IsAttachable>${policy.IsAttachable}</IsAttachable>` + el("CreateDate", policy.CreateDate) +
    el("UpdateDate", policy.Versions[policy.Versions.length - 1]!.CreateDate)
}

/** GetAccessKeyLastUsed: names the key only; a key never used has no date and N/A for service and region. */
const accessKeyLastUsed = (ctx: Context, params: URLSearchParams): Reply => {
  const id = params.get("AccessKeyId")
  if (id === null || id === "") {
    return validation("1 validation error detected: Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null")
  }
  const owner = ctx.account.accessKeyOwner(id)
  if (owner === undefined || ctx.deleted.has(owner.user.UserName)) {
    return fail(404, "NoSuchEntity", `The Access Key with id ${id} cannot be found.`, "notFound")
  }
  const used = owner.key.LastUsed
  return ok(
    "GetAccessKeyLastUsed",
    el("UserName", owner.user.UserName) + "<AccessKeyLastUsed>" +
      (used === undefined
        ? el("ServiceName", "N/A") + el("Region", "N/A")
        : el("LastUsedDate", used.Date) + el("ServiceName", used.ServiceName) + el("Region", used.Region)) +
      "</AccessKeyLastUsed>"
  )
}

/** Account, group, policy and key actions (`ACCOUNT_ACTIONS` but the listings above). */
const groupOrPolicy = (ctx: Context, action: IamAction, params: URLSearchParams): Reply | undefined => {
  const sp = ctx.shortPages
  switch (action) {
    case "GetAccessKeyLastUsed":
      return accessKeyLastUsed(ctx, params)
    case "ListGroupPolicies": {
      const g = namedGroup(ctx, params)
      if ("status" in g) return g
      return pageOf(action, params, sp, g.InlinePolicies.map((p) => p.PolicyName), (page) => list("PolicyNames", page, (n) => xmlEscape(n)))
    }
    case "ListAttachedGroupPolicies": {
      const g = namedGroup(ctx, params)
      if ("status" in g) return g
      return pageOf(action, params, sp, g.AttachedPolicies, (page) =>
        list("AttachedPolicies", page, (p) => el("PolicyName", p.PolicyName) + el("PolicyArn", p.PolicyArn)))
    }
    case "GetGroupPolicy": {
      const g = namedGroup(ctx, params)
      if ("status" in g) return g
      const name = params.get("PolicyName") ?? ""
      const policy = g.InlinePolicies.find((p) => p.PolicyName === name)
      if (policy === undefined) return fail(404, "NoSuchEntity", `The group policy with name ${name} cannot be found.`, "notFound")
      return ok(action, el("GroupName", g.GroupName) + el("PolicyName", name) + el("PolicyDocument", encodedDocument(policy.PolicyDocument)))
    }
    case "GetPolicy": {
      const policy = namedPolicy(ctx, params)
      if ("status" in policy) return policy
      return ok(action, `<Policy>${policyXml(ctx, policy)}</Policy>`)
    }
    case "GetPolicyVersion": {
      const policy = namedPolicy(ctx, params)
      if ("status" in policy) return policy
      const id = params.get("VersionId") ?? ""
      const version = policy.Versions.find((v) => v.VersionId === id)
      if (version === undefined) {
        return fail(404, "NoSuchEntity", `Policy ${policy.PolicyArn} version ${id} does not exist or is not attachable.`, "notFound")
      }
      return ok(
        action,
        `<PolicyVersion>${el("Document", encodedDocument(version.Document))}${el("VersionId", version.VersionId)}` +
          `<IsDefaultVersion>${version.VersionId === policy.DefaultVersionId}</IsDefaultVersion>${el("CreateDate", version.CreateDate)}</PolicyVersion>`
      )
    }
    default:
      return undefined
  }
}

const generateCredentialReport = (ctx: Context): Reply => {
  const answer = ctx.report.generate(Date.now())
  if (answer._tag === "LimitExceeded") {
    return fail(409, "LimitExceeded", "Credential report generation is already at its limit; try again later.", "rejected")
  }
  return ok("GenerateCredentialReport", el("State", answer.state) + el("Description", answer.description))
}

const getCredentialReport = (ctx: Context): Reply => {
  const answer = ctx.report.get(Date.now())
  switch (answer._tag) {
    case "ReportInProgress":
      return fail(404, "ReportInProgress", "Credential report is being generated.", "notFound")
    case "ReportNotPresent":
      return fail(410, "ReportNotPresent", "Credential report not present.", "notFound")
    case "ReportExpired":
      return fail(410, "ReportExpired", "Credential report has expired.", "notFound")
    case "Report":
      return ok(
        "GetCredentialReport",
        `<Content>${answer.content}</Content><ReportFormat>text/csv</ReportFormat>` +
          el("GeneratedTime", new Date(answer.generatedAt).toISOString().replace(/\.\d+Z$/, "Z"))
      )
  }
}

const handle = (ctx: Context, action: IamAction, params: URLSearchParams, user: UserRecord | undefined): Reply => {
  if (action === "ListUsers") return listUsers(ctx, params)
  if (action === "GetAccountAuthorizationDetails") return authorizationDetails(ctx, params)
  if (action === "GenerateCredentialReport") return generateCredentialReport(ctx)
  if (action === "GetCredentialReport") return getCredentialReport(ctx)
  if (action === "ListServiceSpecificCredentials" && params.get("AllUsers") === "true") return allServiceCredentials(ctx, params)
  const other = groupOrPolicy(ctx, action, params)
  if (other !== undefined) return other
  if (action === "GetAccountSummary") {
    let entries = ""
    for (const [k, v] of ctx.account.summary()) entries += `<entry>${el("key", k)}<value>${v}</value></entry>`
    return ok(action, `<SummaryMap>${entries}</SummaryMap>`)
  }
  const u = user as UserRecord
  const sp = ctx.shortPages
  switch (action) {
    case "GetUser":
      return ok(action, `<User>${userFields(u)}${boundaryXml(u)}${u.Tags.length > 0 ? tags(u) : ""}</User>`)
    case "GetLoginProfile":
      if (u.LoginProfile === undefined) {
        return fail(404, "NoSuchEntity", `Login Profile for User ${u.UserName} cannot be found.`, "notFound")
      }
      return ok(
        action,
        `<LoginProfile>${el("UserName", u.UserName)}${el("CreateDate", u.LoginProfile.CreateDate)}` +
          `<PasswordResetRequired>${u.LoginProfile.PasswordResetRequired}</PasswordResetRequired></LoginProfile>`
      )
    case "ListAccessKeys":
      return pageOf(action, params, sp, u.AccessKeys, (page) =>
        list("AccessKeyMetadata", page, (k) =>
          el("UserName", u.UserName) + el("AccessKeyId", k.AccessKeyId) + el("Status", k.Status) +
          el("CreateDate", k.CreateDate)))
    case "ListMFADevices":
      return pageOf(action, params, sp, u.MFADevices, (page) =>
        list("MFADevices", page, (d) =>
          el("UserName", u.UserName) + el("SerialNumber", d.SerialNumber) + el("EnableDate", d.EnableDate)))
    case "ListUserTags":
      return pageOf(action, params, sp, u.Tags, (page) => tags(u, page))
    case "ListGroupsForUser":
      return pageOf(action, params, sp, u.Groups, (page) =>
        list("Groups", page, (g) =>
          el("Path", g.Path) + el("GroupName", g.GroupName) + el("GroupId", g.GroupId) + el("Arn", g.Arn) +
          el("CreateDate", g.CreateDate)))
    case "ListAttachedUserPolicies":
      return pageOf(action, params, sp, u.AttachedPolicies, (page) =>
        list("AttachedPolicies", page, (p) => el("PolicyName", p.PolicyName) + el("PolicyArn", p.PolicyArn)))
    case "ListUserPolicies":
      return pageOf(action, params, sp, u.InlinePolicyNames, (page) => list("PolicyNames", page, (n) => xmlEscape(n)))
    case "GetUserPolicy": {
      const name = params.get("PolicyName") ?? ""
      if (!u.InlinePolicyNames.includes(name)) {
        return fail(404, "NoSuchEntity", `The user policy with name ${name} cannot be found.`, "notFound")
      }
      return ok(action, el("UserName", u.UserName) + el("PolicyName", name) + el("PolicyDocument", encodedDocument(userInlineDocument(u, name))))
    }
    case "ListSSHPublicKeys":
      return pageOf(action, params, sp, u.SSHPublicKeys, (page) =>
        list("SSHPublicKeys", page, (k) =>
          el("UserName", u.UserName) + el("SSHPublicKeyId", k.SSHPublicKeyId) + el("Status", k.Status) + el("UploadDate", k.UploadDate)))
    case "ListSigningCertificates":
      return pageOf(action, params, sp, u.SigningCertificates, (page) =>
        list("Certificates", page, (c) =>
          el("UserName", u.UserName) + el("CertificateId", c.CertificateId) + el("CertificateBody", certificateBody(c.CertificateId)) +
          el("Status", c.Status) + el("UploadDate", c.UploadDate)))
    case "ListServiceSpecificCredentials": {
      const service = params.get("ServiceName")
      const credentials = u.ServiceSpecificCredentials.filter((c) => service === null || c.ServiceName === service)
      return pageOf(action, params, sp, credentials, (page) => list("ServiceSpecificCredentials", page, (c) => serviceCredentialXml(u, c)))
    }
    default:
      return fail(500, "ServiceFailure", `Emulator bug: no handler for ${action}`, "error")
  }
}

/** A certificate's PEM body: not a real certificate, but of its form (ListSigningCertificates must return one). */
const certificateBody = (id: string): string =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(`emulated signing certificate ${id}`).toString("base64")}\n-----END CERTIFICATE-----`

const deniedMessage = (caller: Caller, account: Account, action: IamAction, user: UserRecord | undefined, name: string | null): string => {
  const resource = action === "GetAccountSummary" || action === "GetAccountAuthorizationDetails" ||
      action === "GenerateCredentialReport" || action === "GetCredentialReport"
    ? "*"
    : action === "ListUsers"
    ? `arn:aws:iam::${account.accountId}:user/`
    : user?.Arn ?? `arn:aws:iam::${account.accountId}:user/${name ?? ""}`
  return `User: ${caller.arn} is not authorized to perform: iam:${action} on resource: ${resource} ` +
    `because no identity-based policy allows the iam:${action} action`
}

/** One account's IAM: its users, faults, counters and credential report, and how it answers. */
export interface IamHandler {
  readonly account: Account
  readonly counters: CounterStore
  readonly faults: FaultEngine
  readonly report: CredentialReportState
  /** The caller the account's own base credentials stand for (`GetUser` without `UserName` describes it). */
  readonly baseCaller: Caller
  respond(req: IncomingMessage, res: ServerResponse, body: string, caller: Caller): void
  send(res: ServerResponse, counterKey: string, reply: Reply): void
}

export interface IamHandlerOptions {
  readonly account: Account
  readonly seed: number
  readonly shortPages?: boolean
  readonly faults?: Faults
  readonly credentialReport?: CredentialReportOptions
  readonly onAnswer?: EmulatorOptions["onAnswer"]
}

/** Delays `f` by `ms`, with a timer the emulator clears when it closes. */
export type Later = (ms: number, f: () => void) => void

export const makeIamHandler = (options: IamHandlerOptions, later: Later): IamHandler => {
  const { account, seed } = options
  const faults = makeFaultEngine(options.faults ?? {}, seed)
  const ctx: Context = {
    account,
    shortPages: options.shortPages ?? false,
    report: makeCredentialReportState(account, options.credentialReport ?? {}, Date.now()),
    faults,
    deleted: new Set()
  }
  const counters = makeCounters()
  const writes: AccountWrites = makeAccountWrites(account)
  const baseCaller: Caller = { arn: account.callerArn, user: account.accountId === ACCOUNT_ID ? CALLER_USER : undefined }

  const send = (res: ServerResponse, counterKey: string, reply: Reply, userName?: string | null): void => {
    counters.count(counterKey, reply.outcome)
    options.onAnswer?.({ action: counterKey, userName: userName ?? undefined, outcome: reply.outcome, atMs: Date.now() })
    if (res.destroyed || res.writableEnded) return
    res.writeHead(reply.status, {
      "Content-Type": reply.contentType ?? "text/xml",
      "Content-Length": Buffer.byteLength(reply.body),
      "x-amzn-RequestId": reply.requestId
    })
    res.end(reply.body)
  }

  const respond = (req: IncomingMessage, res: ServerResponse, body: string, caller: Caller): void => {
    const params = new URLSearchParams(body)
    const query = (req.url ?? "/").split("?")[1]
    if (query !== undefined) for (const [k, v] of new URLSearchParams(query)) if (!params.has(k)) params.set(k, v)
    const actionName = params.get("Action")
    if (req.headers.authorization === undefined && !params.has("X-Amz-Signature")) {
      return send(res, actionName ?? "(none)", fail(403, "MissingAuthenticationToken", "Request is missing Authentication Token", "rejected"))
    }
    if (caller.refused !== undefined) {
      return send(res, actionName ?? "(none)", fail(caller.refused.status, caller.refused.code, caller.refused.message, "rejected"))
    }
    if (actionName !== null && isWriteAction(actionName)) {
      // the report generated before this write keeps the account as it was then
      ctx.report.freeze(Date.now())
      const answer = writes.apply(actionName, params, new Date())
      return send(res, actionName, answer._tag === "Ok" ? ok(actionName, answer.result) : fail(answer.status, answer.code, answer.message, answer.outcome))
    }
    if (actionName === null || actionName === "") {
      return send(res, "(none)", fail(400, "MissingAction", "Missing Action", "rejected"))
    }
    if (!isAction(actionName)) {
      return send(res, "(unknown)", fail(400, "InvalidAction", `Could not find operation ${actionName} for version ${params.get("Version") ?? "2010-05-08"}`, "rejected"))
    }
    const action = actionName
    if (!faults.admit(performance.now())) return send(res, action, throttled())
    later(faults.latencyMs(action), () => {
      const allUsers = action === "ListServiceSpecificCredentials" && params.get("AllUsers") === "true"
      const needsUser = !ACCOUNT_ACTIONS.has(action) && !allUsers
      const userName = params.get("UserName")
      if (allUsers && userName !== null) {
        return send(res, action, validation("AllUsers cannot be specified together with UserName."), userName)
      }
      const decision = faults.decide(action, userName ?? undefined)
      if (decision._tag === "throttle") return send(res, action, throttled(), userName)
      const resolved = needsUser ? resolveUser(ctx, action, params, caller) : undefined
      const user = resolved !== undefined && !("status" in resolved) ? resolved : undefined
      if (decision._tag === "denied") {
        return send(res, action, fail(403, "AccessDenied", deniedMessage(caller, account, action, user, userName), "denied"), userName)
      }
      if (decision._tag === "error") {
        return send(res, action, fail(500, "ServiceFailure", "The request processing has failed because of an unknown error, exception or failure.", "error"), userName)
      }
      if (resolved !== undefined && "status" in resolved) return send(res, action, resolved, userName)
      const loop = params.has("Marker") ? faults.corruption(action, userName ?? undefined, REQUEST_CORRUPTIONS) : undefined
      if (loop !== undefined) params.delete("Marker")
      let reply: Reply
      try {
        reply = handle(ctx, action, params, user)
      } catch (e) {
        reply = fail(500, "ServiceFailure", `Emulator bug: ${e instanceof Error ? e.message : String(e)}`, "error")
      }
      if (reply.status === 200) {
        const c = loop ?? faults.corruption(action, userName ?? undefined, BODY_CORRUPTIONS)
        if (c !== undefined) reply = corrupted(reply, c)
      }
      send(res, action, reply, userName)
    })
  }

  return { account, counters, faults, report: ctx.report, baseCaller, respond, send }
}

export const startEmulator = (options: EmulatorOptions = {}): Promise<Emulator> => {
  const seed = options.seed ?? 1
  const timers = new Set<NodeJS.Timeout>()
  const later: Later = (ms, f) => {
    if (ms <= 0) return f()
    const t = setTimeout(() => {
      timers.delete(t)
      f()
    }, ms)
    timers.add(t)
  }
  const management = makeIamHandler({
    account: makeAccount({
      ...(options.users === undefined ? {} : { users: options.users }),
      ...(options.specExamples === undefined ? {} : { specExamples: options.specExamples }),
      seed
    }),
    seed,
    ...(options.shortPages === undefined ? {} : { shortPages: options.shortPages }),
    faults: options.organization?.perAccount?.[ACCOUNT_ID]?.faults ?? options.faults ?? {},
    ...(options.credentialReport === undefined ? {} : { credentialReport: options.credentialReport }),
    ...(options.onAnswer === undefined ? {} : { onAnswer: options.onAnswer })
  }, later)
  const { account, counters, faults, report } = management
  const router = makeRouter({ options, seed, management, makeIamHandler, later })

  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Array<Buffer> = []
    let size = 0
    let tooLarge = false
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) tooLarge = true
      else chunks.push(chunk)
    })
    req.on("end", () => {
      if (tooLarge) return management.send(res, "(none)", fail(400, "ValidationError", "Request body too large", "rejected"))
      router.dispatch(req, res, Buffer.concat(chunks).toString("utf8"))
    })
    req.on("error", () => res.destroy())
  })

  return new Promise<Emulator>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject)
      const address = server.address() as AddressInfo
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address
      let closing: Promise<void> | undefined
      resolve({
        url: `http://${host}:${address.port}`,
        port: address.port,
        account,
        counters: () => counters.snapshot(),
        resetCounters: () => counters.reset(),
        setFaults: (f) => faults.set(f),
        setCredentialReport: (o) => report.set(o, Date.now()),
        organization: router.organization,
        serviceCounters: (service) => router.serviceCounters(service),
        close: () => {
          closing ??= new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t)
            timers.clear()
            server.close(() => done())
            server.closeAllConnections()
          })
          return closing
        }
      })
    })
  })
}
