/**
 * The emulator's front door: which service a request is for (the SigV4 credential scope's
 * service, or Organizations' `X-Amz-Target`) and which account it sees, decided by the
 * credentials that signed it: a session AssumeRole issued belongs to its account (its token must
 * match), any other access key is the management account's base credentials. A product that
 * signs with the wrong credentials therefore reads the wrong account's users. Also the
 * organization's per-account state and the view tests read it through (`EmulatorOrganization`).
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { type Account, ACCOUNT_ID, CALLER_USER, makeAccount } from "./account.ts"
import { type Counters, type Faults, makeCounters } from "./faults.ts"
import {
  type AccountStatus,
  DEFAULT_ROLE_NAME,
  makeStructure,
  type OrganizationsFaults,
  type OrgStructure,
  type OrgUnit,
  type SessionLifetime
} from "./organization.ts"
import { type JsonReply, jsonFail, makeOrganizationsService, ORGANIZATIONS_TARGET_PREFIX } from "./organizations.ts"
import { makeOverlapRecorder, type OverlapRecord, type OverlapRecorder } from "./overlap.ts"
import type { Caller, EmulatorOptions, IamHandler, IamHandlerOptions, Later } from "./server.ts"
import { type SignedBy, signedBy } from "./sigv4.ts"
import { handleSts, type Identity, makeSessionStore, type SessionCheck, stsFail, type StsReply } from "./sts.ts"

export type Service = "iam" | "sts" | "organizations"

/** One account of the emulated organization, as a test sees it. */
export interface EmulatorAccount {
  readonly id: string
  readonly name: string
  readonly email: string
  readonly status: AccountStatus
  /** The root or OU the account sits in. */
  readonly parentId: string
  /** The role AssumeRole accepts in this account. */
  readonly roleArn: string
  /** The account's users: the truth a test compares a collection with. */
  readonly account: Account
  /** IAM requests this account answered, by action and outcome. */
  counters(): Counters
  resetCounters(): void
  /** Replaces the account's IAM faults (its `requestsPerSecond` bucket restarts full when the budget changes). */
  setFaults(faults: Faults): void
  setAssumeRoleDenied(denied: boolean): void
  setExternalId(externalId: string | undefined): void
  /** Applies to the sessions issued from now on. */
  setSessionLifetime(lifetime: SessionLifetime | undefined): void
  /** Sessions AssumeRole issued into this account. */
  sessionsIssued(): number
  /** Whether two collectors read this account at once (see `overlap.ts` for the rule). */
  overlap(): OverlapRecord
}

export interface EmulatorOrganization {
  readonly id: string
  readonly arn: string
  readonly rootId: string
  readonly managementAccountId: string
  readonly roleName: string
  /** The management account first, then the members in ListAccounts order. */
  readonly accounts: ReadonlyArray<EmulatorAccount>
  /** Every OU, depth first. */
  readonly organizationalUnits: ReadonlyArray<OrgUnit>
  /** The account `id`; throws a RangeError when there is none. */
  account(id: string): EmulatorAccount
  /** Ids of the accounts under a root or OU, at any depth. */
  accountsUnder(parentId: string): ReadonlyArray<string>
  setOrganizationsFaults(faults: OrganizationsFaults): void
  /** Ids of the accounts that saw two collectors at once (empty: none did). */
  overlappedAccounts(): ReadonlyArray<string>
  resetOverlaps(): void
}

export interface Router {
  dispatch(req: IncomingMessage, res: ServerResponse, body: string): void
  readonly organization: EmulatorOrganization | undefined
  serviceCounters(service: Exclude<Service, "iam">): Counters
}

interface AccountRuntime {
  readonly id: string
  readonly handler: IamHandler
  status: AccountStatus
  assumeRoleDenied: boolean
  externalId: string | undefined
  sessionLifetime: SessionLifetime | undefined
  sessionsIssued: number
}

const DEFAULT_OVERLAP_GAP_MS = 250

/** A member account's generator seed: distinct per account, fixed by the emulator's seed. */
const memberSeed = (seed: number, n: number): number => (seed ^ Math.imul(n, 0x9e3779b1)) >>> 0

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

export const makeRouter = (init: {
  readonly options: EmulatorOptions
  readonly seed: number
  readonly management: IamHandler
  /** `server.ts`'s, passed in so that this module imports nothing but types from it. */
  readonly makeIamHandler: (options: IamHandlerOptions, later: Later) => IamHandler
  readonly later: Later
}): Router => {
  const { options, seed, management, later, makeIamHandler } = init
  const orgOptions = options.organization
  const structure: OrgStructure | undefined = orgOptions === undefined ? undefined : makeStructure(orgOptions, seed)
  const roleName = orgOptions?.roleName ?? DEFAULT_ROLE_NAME
  const perAccount = orgOptions?.perAccount ?? {}

  const runtime = (id: string, handler: IamHandler): AccountRuntime => ({
    id,
    handler,
    status: structure?.account(id)?.status ?? "ACTIVE",
    assumeRoleDenied: perAccount[id]?.assumeRoleDenied ?? false,
    externalId: perAccount[id]?.externalId ?? orgOptions?.externalId,
    sessionLifetime: perAccount[id]?.sessionLifetime ?? orgOptions?.sessionLifetime,
    sessionsIssued: 0
  })
  const accounts = new Map<string, AccountRuntime>([[ACCOUNT_ID, runtime(ACCOUNT_ID, management)]])
  for (const [i, a] of (structure?.accounts ?? []).entries()) {
    if (i === 0) continue
    const memberAccount = makeAccount({
      users: perAccount[a.id]?.users ?? orgOptions?.usersPerAccount ?? options.users ?? 0,
      seed: memberSeed(seed, i),
      accountId: a.id
    })
    const handler = makeIamHandler({
      account: memberAccount,
      seed: memberSeed(seed, i),
      ...(options.shortPages === undefined ? {} : { shortPages: options.shortPages }),
      faults: perAccount[a.id]?.faults ?? orgOptions?.memberFaults ?? {},
      ...(options.credentialReport === undefined ? {} : { credentialReport: options.credentialReport }),
      ...(options.onAnswer === undefined ? {} : { onAnswer: options.onAnswer })
    }, later)
    accounts.set(a.id, runtime(a.id, handler))
  }

  const sessions = makeSessionStore()
  const stsCounters = makeCounters()
  const organizationsCounters = makeCounters()
  const organizations = makeOrganizationsService(structure, {
    faults: orgOptions?.organizationsFaults ?? {},
    shortPages: orgOptions?.shortPages ?? false,
    seed
  })
  const recorder: OverlapRecorder | undefined = orgOptions === undefined
    ? undefined
    : makeOverlapRecorder(orgOptions.overlapGapMs ?? DEFAULT_OVERLAP_GAP_MS)
  const stsContext = {
    roleName,
    sessions,
    account: (id: string) => {
      const a = accounts.get(id)
      return a === undefined ? undefined : {
        status: a.status,
        assumeRoleDenied: a.assumeRoleDenied,
        externalId: a.externalId,
        sessionLifetime: a.sessionLifetime,
        issued: () => {
          a.sessionsIssued += 1
        }
      }
    }
  }

  /** Who signed: the identity, or why its credentials are refused (and the account, when known). */
  type Who =
    | { readonly _tag: "Known"; readonly identity: Identity; readonly runtime: AccountRuntime }
    | { readonly _tag: "Refused"; readonly check: Exclude<SessionCheck, { _tag: "Session" }>; readonly runtime: AccountRuntime | undefined }

  const identify = (signer: SignedBy | undefined, iamCall: boolean): Who => {
    const managementRuntime = accounts.get(ACCOUNT_ID)!
    if (signer === undefined || !sessions.isSessionKey(signer.accessKeyId)) {
      return {
        _tag: "Known",
        runtime: managementRuntime,
        identity: {
          accountId: ACCOUNT_ID,
          arn: management.account.callerArn,
          userId: CALLER_USER.UserId,
          collector: `key:${signer?.accessKeyId ?? "(none)"}`,
          session: undefined
        }
      }
    }
    const check = sessions.check(signer.accessKeyId, signer.sessionToken, iamCall)
    if (check._tag !== "Session") {
      return { _tag: "Refused", check, runtime: check._tag === "Expired" ? accounts.get(check.session.accountId) : undefined }
    }
    const s = check.session
    return {
      _tag: "Known",
      runtime: accounts.get(s.accountId)!,
      identity: { accountId: s.accountId, arn: s.assumedRoleArn, userId: s.assumedRoleId, collector: s.collector, session: s }
    }
  }

  const EXPIRED = "The security token included in the request is expired"
  const INVALID = "The security token included in the request is invalid."

  const sendXml = (res: ServerResponse, reply: StsReply): void => {
    if (res.destroyed || res.writableEnded) return
    res.writeHead(reply.status, {
      "Content-Type": "text/xml",
      "Content-Length": Buffer.byteLength(reply.body),
      "x-amzn-RequestId": reply.requestId
    })
    res.end(reply.body)
  }
  const sendJson = (res: ServerResponse, reply: JsonReply): void => {
    if (res.destroyed || res.writableEnded) return
    res.writeHead(reply.status, {
      "Content-Type": "application/x-amz-json-1.1",
      "Content-Length": Buffer.byteLength(reply.body),
      "x-amzn-RequestId": reply.requestId
    })
    res.end(reply.body)
  }

  const iam = (req: IncomingMessage, res: ServerResponse, body: string, signer: SignedBy | undefined): void => {
    const who = identify(signer, true)
    const target = who.runtime ?? accounts.get(ACCOUNT_ID)!
    const collector = who._tag === "Known" ? who.identity.collector : who.check._tag === "Expired" ? who.check.session.collector : undefined
    if (recorder !== undefined && signer !== undefined && who.runtime !== undefined && collector !== undefined) {
      res.once("close", recorder.begin(who.runtime.id, collector))
    }
    let caller: Caller
    if (who._tag === "Known") {
      caller = who.identity.session === undefined
        ? target.handler.baseCaller
        : { arn: who.identity.arn, user: undefined }
    } else {
      caller = {
        arn: who.check._tag === "Expired" ? who.check.session.assumedRoleArn : "",
        user: undefined,
        refused: who.check._tag === "Expired"
          ? { status: 400, code: "ExpiredToken", message: EXPIRED }
          : { status: 403, code: "InvalidClientTokenId", message: INVALID }
      }
    }
    target.handler.respond(req, res, body, caller)
  }

  const sts = (res: ServerResponse, body: string, query: URLSearchParams, signer: SignedBy): void => {
    const params = new URLSearchParams(body)
    for (const [k, v] of query) if (!params.has(k)) params.set(k, v)
    const who = identify(signer, false)
    const reply = who._tag === "Known"
      ? handleSts(stsContext, who.identity, params)
      : who.check._tag === "Expired"
      ? stsFail(400, "ExpiredToken", EXPIRED, "rejected")
      : stsFail(403, "InvalidClientTokenId", INVALID, "rejected")
    stsCounters.count(params.get("Action") ?? "(none)", reply.outcome)
    sendXml(res, reply)
  }

  const organizationsCall = (res: ServerResponse, body: string, target: string | undefined, signer: SignedBy | undefined): void => {
    const count = (action: string, reply: JsonReply) => {
      organizationsCounters.count(action, reply.outcome)
      sendJson(res, reply)
    }
    const action = target?.startsWith(ORGANIZATIONS_TARGET_PREFIX) ? target.slice(ORGANIZATIONS_TARGET_PREFIX.length) : "(unknown)"
    if (signer === undefined) {
      return count(action, jsonFail(400, "MissingAuthenticationTokenException", "Missing Authentication Token", "rejected"))
    }
    const who = identify(signer, false)
    if (who._tag === "Refused") {
      return count(
        action,
        who.check._tag === "Expired"
          ? jsonFail(400, "ExpiredTokenException", EXPIRED, "rejected")
          : jsonFail(400, "UnrecognizedClientException", INVALID, "rejected")
      )
    }
    later(organizations.latencyMs(), () => {
      const answer = organizations.handle(target, { accountId: who.identity.accountId }, body)
      count(answer.action, answer.reply)
    })
  }

  const view = (r: AccountRuntime): EmulatorAccount => {
    const a = structure!.account(r.id)!
    return {
      id: a.id,
      name: a.name,
      email: a.email,
      status: a.status,
      parentId: a.parentId,
      roleArn: `arn:aws:iam::${a.id}:role/${roleName}`,
      account: r.handler.account,
      counters: () => r.handler.counters.snapshot(),
      resetCounters: () => r.handler.counters.reset(),
      setFaults: (f) => r.handler.faults.set(f),
      setAssumeRoleDenied: (denied) => {
        r.assumeRoleDenied = denied
      },
      setExternalId: (externalId) => {
        r.externalId = externalId
      },
      setSessionLifetime: (lifetime) => {
        r.sessionLifetime = lifetime
      },
      sessionsIssued: () => r.sessionsIssued,
      overlap: () => recorder!.record(r.id)
    }
  }

  let organization: EmulatorOrganization | undefined
  if (structure !== undefined && recorder !== undefined) {
    const views = structure.accounts.map((a) => view(accounts.get(a.id)!))
    const byId = new Map(views.map((v) => [v.id, v] as const))
    organization = {
      id: structure.id,
      arn: structure.arn,
      rootId: structure.rootId,
      managementAccountId: structure.managementAccountId,
      roleName,
      accounts: views,
      organizationalUnits: structure.units,
      account: (id) => {
        const v = byId.get(id)
        if (v === undefined) throw new RangeError(`no account ${id} in the organization (${views.length} accounts)`)
        return v
      },
      accountsUnder: (parentId) => structure.accountsUnder(parentId),
      setOrganizationsFaults: (f) => organizations.setFaults(f),
      overlappedAccounts: () => recorder.overlappedAccounts(),
      resetOverlaps: () => recorder.reset()
    }
  }

  return {
    organization,
    serviceCounters: (service) => (service === "sts" ? stsCounters : organizationsCounters).snapshot(),
    dispatch: (req, res, body) => {
      const url = req.url ?? "/"
      const q = url.indexOf("?")
      const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1))
      const target = header(req, "x-amz-target")
      const signer = signedBy(req.headers, query)
      if (target?.startsWith(ORGANIZATIONS_TARGET_PREFIX) || signer?.service === "organizations") {
        return organizationsCall(res, body, target, signer)
      }
      if (signer?.service === "sts") return sts(res, body, query, signer)
      iam(req, res, body, signer)
    }
  }
}
