/**
 * AWS Organizations as the emulator answers it (JSON 1.1 protocol: POST, `X-Amz-Target:
 * AWSOrganizationsV20161128.<Action>`, JSON bodies, errors as `{"__type", "Message"}` with the
 * status the service model gives each error): ListRoots, ListAccounts, ListAccountsForParent,
 * ListOrganizationalUnitsForParent and DescribeOrganization, paged by NextToken/MaxResults as
 * AWS does (a page may be shorter than MaxResults, even empty, while NextToken is present).
 */
import { randomUUID } from "node:crypto"
import { prng } from "./account.ts"
import { makeFaultEngine, type Outcome } from "./faults.ts"
import {
  type OrgAccount,
  type OrganizationsFaults,
  type OrgStructure,
  type OrgUnit,
  validateOrganizationsFaults
} from "./organization.ts"

export const ORGANIZATIONS_TARGET_PREFIX = "AWSOrganizationsV20161128."

export const ORGANIZATIONS_ACTIONS = [
  "ListRoots",
  "ListAccounts",
  "ListAccountsForParent",
  "ListOrganizationalUnitsForParent",
  "DescribeOrganization"
] as const
export type OrganizationsAction = (typeof ORGANIZATIONS_ACTIONS)[number]

export interface JsonReply {
  readonly status: number
  readonly body: string
  readonly outcome: Outcome
  readonly requestId: string
}

const reply = (status: number, outcome: Outcome, value: unknown): JsonReply => ({
  status,
  outcome,
  requestId: randomUUID(),
  body: JSON.stringify(value)
})

export const jsonFail = (status: number, type: string, message: string, outcome: Outcome, extra: Record<string, string> = {}): JsonReply =>
  reply(status, outcome, { __type: type, Message: message, ...extra })

const invalidInput = (reason: string, message: string): JsonReply =>
  jsonFail(400, "InvalidInputException", message, "rejected", { Reason: reason })

const DENIED = "You don't have permissions to access this resource."

/** Who calls: Organizations answers its list calls to the management account only. */
export interface OrganizationsCaller {
  readonly accountId: string
}

export interface OrganizationsService {
  /** The delay before answering (the faults' `latencyMs`). */
  latencyMs(): number
  handle(target: string | undefined, caller: OrganizationsCaller, body: string): { readonly action: string; readonly reply: JsonReply }
  setFaults(faults: OrganizationsFaults): void
}

// ---------------------------------------------------------------------------------------
// Paging: an opaque NextToken names the action, the parent, the next index and the page number.

const checksum = (s: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return (h >>> 0).toString(36)
}

interface Cursor {
  readonly index: number
  readonly page: number
}

const encodeToken = (scope: string, c: Cursor): string => {
  const text = `${scope}|${c.index}|${c.page}`
  return Buffer.from(`${text}|${checksum(text)}`).toString("base64")
}

const decodeToken = (scope: string, token: string): Cursor | undefined => {
  const parts = Buffer.from(token, "base64").toString("latin1").split("|")
  if (parts.length !== 4) return undefined
  const [s, index, page, sum] = parts as [string, string, string, string]
  if (s !== scope || !/^\d{1,9}$/.test(index) || !/^\d{1,9}$/.test(page) || checksum(`${s}|${index}|${page}`) !== sum) return undefined
  return { index: Number(index), page: Number(page) }
}

const rootJson = (org: OrgStructure) => ({ Id: org.rootId, Arn: org.rootArn, Name: "Root", PolicyTypes: [] })
const accountJson = (a: OrgAccount) => ({
  Id: a.id,
  Arn: a.arn,
  Email: a.email,
  Name: a.name,
  Status: a.status,
  State: a.status,
  JoinedMethod: a.joinedMethod,
  JoinedTimestamp: a.joinedTimestamp
})
const unitJson = (u: OrgUnit) => ({ Id: u.id, Arn: u.arn, Name: u.name })

const PARENT_ID = /^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/

/**
 * `org` undefined: the emulator has no organization (every call answers
 * AWSOrganizationsNotInUseException).
 */
export const makeOrganizationsService = (
  org: OrgStructure | undefined,
  options: { readonly faults: OrganizationsFaults; readonly shortPages: boolean; readonly seed: number }
): OrganizationsService => {
  const random = prng(options.seed ^ 0x0a9)
  let faults: OrganizationsFaults = {}
  let bucket = makeFaultEngine({}, options.seed)
  const setFaults = (f: OrganizationsFaults): void => {
    validateOrganizationsFaults(f)
    if (f.requestsPerSecond !== faults.requestsPerSecond) {
      bucket = makeFaultEngine(f.requestsPerSecond === undefined ? {} : { requestsPerSecond: f.requestsPerSecond }, options.seed)
    }
    faults = f
  }
  setFaults(options.faults)

  const page = <A>(
    scope: string,
    input: Record<string, unknown>,
    items: ReadonlyArray<A>,
    key: string,
    render: (a: A) => unknown
  ): JsonReply => {
    const raw = input["MaxResults"]
    let max = 20
    if (raw !== undefined && raw !== null) {
      if (typeof raw !== "number" || !Number.isInteger(raw)) return invalidInput("INVALID_INPUT", "MaxResults must be an integer.")
      if (raw < 1) return invalidInput("MIN_VALUE_EXCEEDED", "You provided a value that is lower than the minimum allowed value: MaxResults must be at least 1.")
      if (raw > 20) return invalidInput("MAX_VALUE_EXCEEDED", "You provided a value that exceeds the maximum allowed value: MaxResults must be at most 20.")
      max = raw
    }
    const token = input["NextToken"]
    let cursor: Cursor = { index: 0, page: 0 }
    if (token !== undefined && token !== null) {
      const c = typeof token === "string" ? decodeToken(scope, token) : undefined
      if (c === undefined || c.index > items.length) return invalidInput("INVALID_NEXT_TOKEN", "The specified NextToken is not valid.")
      cursor = c
    }
    const limit = options.shortPages && cursor.page % 2 === 1 ? Math.floor(max / 2) : max
    const end = Math.min(items.length, cursor.index + limit)
    const out: Record<string, unknown> = { [key]: items.slice(cursor.index, end).map(render) }
    if (end < items.length) out["NextToken"] = encodeToken(scope, { index: end, page: cursor.page + 1 })
    return reply(200, "ok", out)
  }

  const parentOf = (action: string, input: Record<string, unknown>, org: OrgStructure): string | JsonReply => {
    const parentId = input["ParentId"]
    if (parentId === undefined || parentId === null) return invalidInput("INPUT_REQUIRED", "You must specify a value for ParentId.")
    if (typeof parentId !== "string" || !PARENT_ID.test(parentId)) {
      return invalidInput("INVALID_PATTERN", `The ParentId '${String(parentId)}' does not match the pattern of a root or OU id.`)
    }
    if (!org.isParent(parentId)) return jsonFail(404, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.", "notFound")
    if (faults.deniedParents?.includes(parentId)) return jsonFail(403, "AccessDeniedException", `${DENIED} (${action} on ${parentId})`, "denied")
    return parentId
  }

  const answer = (action: OrganizationsAction, input: Record<string, unknown>, org: OrgStructure): JsonReply => {
    switch (action) {
      case "DescribeOrganization":
        return reply(200, "ok", {
          Organization: {
            Id: org.id,
            Arn: org.arn,
            FeatureSet: "ALL",
            MasterAccountArn: org.accounts[0]!.arn,
            MasterAccountId: org.managementAccountId,
            MasterAccountEmail: org.managementEmail,
            AvailablePolicyTypes: []
          }
        })
      case "ListRoots":
        return page(action, input, [org], "Roots", rootJson)
      case "ListAccounts":
        return page(action, input, org.accounts, "Accounts", accountJson)
      case "ListAccountsForParent": {
        const parent = parentOf(action, input, org)
        if (typeof parent !== "string") return parent
        return page(`${action}/${parent}`, input, org.accountsIn(parent), "Accounts", accountJson)
      }
      case "ListOrganizationalUnitsForParent": {
        const parent = parentOf(action, input, org)
        if (typeof parent !== "string") return parent
        return page(`${action}/${parent}`, input, org.unitsIn(parent), "OrganizationalUnits", unitJson)
      }
    }
  }

  return {
    setFaults,
    latencyMs: () => faults.latencyMs ?? 0,
    handle: (target, caller, body) => {
      const name = target?.startsWith(ORGANIZATIONS_TARGET_PREFIX) ? target.slice(ORGANIZATIONS_TARGET_PREFIX.length) : undefined
      if (name === undefined || !(ORGANIZATIONS_ACTIONS as ReadonlyArray<string>).includes(name)) {
        return { action: "(unknown)", reply: jsonFail(400, "UnknownOperationException", `Unknown operation ${target ?? "(no X-Amz-Target)"}`, "rejected") }
      }
      const action = name as OrganizationsAction
      let input: unknown
      try {
        input = body.trim() === "" ? {} : JSON.parse(body)
      } catch {
        return { action, reply: jsonFail(400, "SerializationException", "Start of structure or map found where not expected.", "rejected") }
      }
      if (typeof input !== "object" || input === null || Array.isArray(input)) {
        return { action, reply: jsonFail(400, "SerializationException", "Start of structure or map found where not expected.", "rejected") }
      }
      if (!bucket.admit(performance.now())) {
        return { action, reply: jsonFail(429, "TooManyRequestsException", "AWS Organizations can't complete your request because another request is already in progress. Try again later.", "throttled") }
      }
      const rate = faults.throttleRate
      if (rate !== undefined && rate > 0 && (rate >= 1 || random() < rate)) {
        return { action, reply: jsonFail(429, "TooManyRequestsException", "You have sent too many requests in too short a period of time. Try again later.", "throttled") }
      }
      if (faults.accessDenied === true) return { action, reply: jsonFail(403, "AccessDeniedException", DENIED, "denied") }
      if (org === undefined) {
        return { action, reply: jsonFail(404, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.", "notFound") }
      }
      // A member account may describe its organization, not list it.
      if (caller.accountId !== org.managementAccountId && action !== "DescribeOrganization") {
        return { action, reply: jsonFail(403, "AccessDeniedException", DENIED, "denied") }
      }
      return { action, reply: answer(action, input as Record<string, unknown>, org) }
    }
  }
}
