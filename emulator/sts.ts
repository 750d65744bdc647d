/**
 * STS as the emulator answers it (Query protocol, Version 2011-06-15): AssumeRole hands out
 * session credentials bound to one account, GetCallerIdentity says who signed. The sessions
 * live here too: the IAM server asks `SessionStore.check` which account a call signed with a
 * session's access key belongs to, and whether the session still holds.
 */
import { randomBytes } from "node:crypto"
import type { AccountStatus, SessionLifetime } from "./organization.ts"
import { type QueryReply, queryReplies } from "./queryReply.ts"
import { el } from "./xml.ts"

const XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"

/** Who signed a request, as STS would say. */
export interface Identity {
  readonly accountId: string
  readonly arn: string
  readonly userId: string
  /** The overlap recorder's collector (see `overlap.ts`). */
  readonly collector: string
  /** The session that signed, when one did. */
  readonly session: Session | undefined
}

export interface Session {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken: string
  readonly accountId: string
  readonly roleName: string
  readonly sessionName: string
  readonly assumedRoleArn: string
  readonly assumedRoleId: string
  readonly collector: string
  /** Wall clock, as the `Expiration` AssumeRole answered. */
  readonly expirationMs: number
  readonly issuedAtMs: number
  readonly lifetime: SessionLifetime | undefined
  /** IAM calls signed with it so far. */
  calls: number
}

export type SessionCheck =
  | { readonly _tag: "Session"; readonly session: Session }
  | { readonly _tag: "Invalid" }
  | { readonly _tag: "Expired"; readonly session: Session }

export interface SessionStore {
  /** Whether the access key id has the form of the keys this emulator issues (`ASIAEMU…`). */
  isSessionKey(accessKeyId: string): boolean
  issue(init: Omit<Session, "accessKeyId" | "secretAccessKey" | "sessionToken" | "calls" | "issuedAtMs">): Session
  /** The session of a call signed with `accessKeyId`; `iamCall`: the call counts toward `lifetime.calls`. */
  check(accessKeyId: string, sessionToken: string | undefined, iamCall: boolean): SessionCheck
}

const SESSION_KEY = /^ASIAEMU[A-Z2-7]{13}$/
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

export const makeSessionStore = (): SessionStore => {
  const sessions = new Map<string, Session>()
  let seq = 0
  const prune = (wallNow: number): void => {
    // Sessions an hour past their Expiration are forgotten (a call with one then answers InvalidClientTokenId).
    for (const [k, s] of sessions) if (s.expirationMs + 3_600_000 < wallNow) sessions.delete(k)
  }
  return {
    isSessionKey: (k) => SESSION_KEY.test(k),
    issue: (init) => {
      seq += 1
      if (seq % 1024 === 0) prune(Date.now())
      let n = seq
      let serial = ""
      for (let i = 0; i < 7; i++) {
        serial = BASE32[n % 32] + serial
        n = Math.floor(n / 32)
      }
      const noise = [...randomBytes(6)].map((b) => BASE32[b % 32]).join("")
      const session: Session = {
        ...init,
        accessKeyId: `ASIAEMU${serial}${noise}`,
        secretAccessKey: randomBytes(30).toString("base64"),
        sessionToken: `FwoGZXIvYXdzEMU${randomBytes(120).toString("base64")}`,
        issuedAtMs: performance.now(),
        calls: 0
      }
      sessions.set(session.accessKeyId, session)
      return session
    },
    check: (accessKeyId, token, iamCall) => {
      const session = sessions.get(accessKeyId)
      if (session === undefined || token !== session.sessionToken) return { _tag: "Invalid" }
      const l = session.lifetime
      if (iamCall) session.calls += 1
      const expired = Date.now() >= session.expirationMs ||
        (l?.ms !== undefined && performance.now() - session.issuedAtMs >= l.ms) ||
        (l?.calls !== undefined && session.calls > l.calls)
      return expired ? { _tag: "Expired", session } : { _tag: "Session", session }
    }
  }
}

/** What AssumeRole needs to know of the account a role lives in. */
export interface RoleAccount {
  readonly status: AccountStatus
  readonly assumeRoleDenied: boolean
  readonly externalId: string | undefined
  readonly sessionLifetime: SessionLifetime | undefined
  /** Called once per session issued into the account. */
  issued(): void
}

export interface StsContext {
  /** The role name every account accepts. */
  readonly roleName: string
  /** The account `accountId`, or undefined when the emulator has no such account. */
  account(accountId: string): RoleAccount | undefined
  readonly sessions: SessionStore
}

export type StsReply = QueryReply

const replies = queryReplies(XMLNS)
const ok = replies.ok
export const stsFail = replies.fail

const validation = (message: string): StsReply => stsFail(400, "ValidationError", message, "rejected")
const constraint = (value: string, field: string, rule: string): StsReply =>
  validation(`1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${rule}`)

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/
/** Every emulated role's MaxSessionDuration, AWS's default. */
const MAX_SESSION_SECONDS = 3_600

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z")

const assumeRole = (ctx: StsContext, caller: Identity, params: URLSearchParams): StsReply => {
  const roleArn = params.get("RoleArn")
  const sessionName = params.get("RoleSessionName")
  if (roleArn === null) return validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
  if (sessionName === null) {
    return validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
  }
  if (roleArn.length < 20 || roleArn.length > 2048) {
    return constraint(roleArn, "roleArn", "Member must have length between 20 and 2048")
  }
  if (sessionName.length < 2 || sessionName.length > 64) {
    return constraint(sessionName, "roleSessionName", "Member must have length between 2 and 64")
  }
  if (!/^[\w+=,.@-]+$/.test(sessionName)) {
    return constraint(sessionName, "roleSessionName", "Member must satisfy regular expression pattern: [\\w+=,.@-]*")
  }
  const externalId = params.get("ExternalId")
  if (externalId !== null && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) {
    return constraint(externalId, "externalId", "Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and have length between 2 and 1224")
  }
  const rawDuration = params.get("DurationSeconds")
  let duration = MAX_SESSION_SECONDS
  if (rawDuration !== null) {
    duration = Number(rawDuration)
    if (!/^\d{1,9}$/.test(rawDuration)) return constraint(rawDuration, "durationSeconds", "Member must be an integer")
    if (duration < 900) return constraint(rawDuration, "durationSeconds", "Member must have value greater than or equal to 900")
    if (duration > 43_200) return constraint(rawDuration, "durationSeconds", "Member must have value less than or equal to 43200")
    if (duration > MAX_SESSION_SECONDS) return validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
  }
  const m = ROLE_ARN.exec(roleArn)
  if (m === null) return validation(`${roleArn} is not a valid role ARN`)
  const accountId = m[1]!
  const roleName = m[2]!
  const target = ctx.account(accountId)
  // AWS says the same for a role that does not exist, a trust policy that does not let the
  // caller in, a wrong or missing ExternalId and a suspended account: nothing more to learn.
  const allowed = target !== undefined && roleName === ctx.roleName && target.status === "ACTIVE" &&
    !target.assumeRoleDenied && (target.externalId === undefined || target.externalId === externalId)
  if (!allowed) {
    return stsFail(403, "AccessDenied", `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, "denied")
  }
  const roleId = `AROA${accountId}EMULA`
  const session = ctx.sessions.issue({
    accountId,
    roleName,
    sessionName,
    assumedRoleArn: `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`,
    assumedRoleId: `${roleId}:${sessionName}`,
    collector: `${caller.collector}/${sessionName}`,
    expirationMs: Date.now() + duration * 1000,
    lifetime: target.sessionLifetime
  })
  target.issued()
  return ok(
    "AssumeRole",
    `<Credentials>${el("AccessKeyId", session.accessKeyId)}${el("SecretAccessKey", session.secretAccessKey)}` +
      `${el("SessionToken", session.sessionToken)}${el("Expiration", iso(session.expirationMs))}</Credentials>` +
      `<AssumedRoleUser>${el("AssumedRoleId", session.assumedRoleId)}${el("Arn", session.assumedRoleArn)}</AssumedRoleUser>`
  )
}

export const STS_ACTIONS = ["AssumeRole", "GetCallerIdentity"] as const

/** Answers one STS call from an identified caller. */
export const handleSts = (ctx: StsContext, caller: Identity, params: URLSearchParams): StsReply => {
  const action = params.get("Action")
  if (action === null || action === "") return stsFail(400, "MissingAction", "Missing Action", "rejected")
  switch (action) {
    case "AssumeRole":
      return assumeRole(ctx, caller, params)
    case "GetCallerIdentity":
      return ok("GetCallerIdentity", el("UserId", caller.userId) + el("Account", caller.accountId) + el("Arn", caller.arn))
    default:
      return stsFail(400, "InvalidAction", `Could not find operation ${action} for version ${params.get("Version") ?? "2011-06-15"}`, "rejected")
  }
}
