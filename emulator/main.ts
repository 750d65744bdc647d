/**
 * Standalone IAM emulator: `npm run emulator -- --users 1000 --port 4566`, or an organization of
 * accounts with STS and Organizations: `npm run emulator -- --accounts 5 --users 200`.
 */
import { parseArgs } from "node:util"
import { ACTIONS, CORRUPTIONS, type ActionFaults, type Corruption, type Faults, isAction, isCorruption } from "./faults.ts"
import type { AccountSettings, OrganizationOptions, OrganizationsFaults } from "./organization.ts"
import { memberAccountId } from "./organization.ts"
import { startEmulator } from "./server.ts"

const HELP = `iam-ocsf IAM emulator: an AWS IAM Query-protocol server with generated users,
and optionally an AWS Organization of several accounts (STS and Organizations included).

Usage: npm run emulator -- [options]
       node emulator/main.ts [options]

Options:
  --users N           generated users, after the spec's two example users (default 100)
  --port N            port to listen on; 0 picks a free one (default 4566)
  --host H            interface to listen on (default 127.0.0.1)
  --seed N            seed of the user generator and of the random faults (default 1)
  --latency-ms N      delay every answer by N milliseconds (default 0)
  --throttle-rate P   answer this fraction (0..1) of calls with Throttling, HTTP 400
  --error-rate P      answer this fraction (0..1) of calls with ServiceFailure, HTTP 500
  --rps N             the account's budget of requests per second, every action
                      together (token bucket, burst N); calls above it are answered
                      Throttling, as AWS does (in an organization: each account's own)
  --report-age D      the account already has a credential report this old
                      (e.g. 90s, 2h; default: none, GetCredentialReport answers
                      ReportNotPresent until one is generated)
  --report-generation-ms N
                      how long GenerateCredentialReport takes (default 100)
  --short-pages       every other page of every list call is about half of MaxItems
                      while IsTruncated is true (clients must follow Marker); the same
                      for Organizations' MaxResults and NextToken
  --corrupt ACTION=KIND[:TEXT]
                      corrupt the answers of ACTION (* for every action) that would be
                      HTTP 200, still with status 200; repeat for several actions. KIND:
                        html          a proxy's HTML error page
                        empty         no body
                        cut           the answer cut off halfway
                        truncated-without-marker
                                      IsTruncated true, and no Marker
                        marker-loop   the request's Marker is ignored: the first page,
                                      with the same Marker, comes back again and again
                        doctype       a DOCTYPE defining an entity before the answer
                        cdata         every value as a CDATA section and a comment
                                      (valid XML: the values read the same)
                        inject:TEXT   TEXT, as raw XML, at the start of every tag value,
                                      e.g. inject:&#x110000; or inject:&#0;
  --corrupt-times N   corrupt only the first N such answers of each action (default: all)
  --no-spec-examples  leave out the spec's two example users
  -h, --help          show this help

Organization (any of these serves an organization; the options above then apply
to every account, each with its own budget and counters):
  --accounts N        accounts in the organization, the management account
                      123456789012 included; members are 200000000001, 200000000002, ...
                      placed round-robin in the OUs Security, Workloads (with Production
                      and Development inside) and Sandbox
  --users-per-account N
                      generated users of every member account (default: --users); the
                      spec's example users stay in the management account
  --role-name NAME    the role AssumeRole accepts in every account (default iam-ocsf-reader)
  --external-id ID    every AssumeRole must carry this ExternalId
  --suspended N       the last N member accounts are SUSPENDED (AssumeRole denied)
  --deny-assume-role ID,ID
                      AssumeRole into these accounts answers AccessDenied
  --session-calls K   a session answers ExpiredToken after K IAM calls
  --session-ms T      a session answers ExpiredToken T ms after AssumeRole
                      (its Expiration still says the requested DurationSeconds)
  --orgs-latency-ms N delay every Organizations answer by N milliseconds
  --orgs-throttle-rate P
                      answer this fraction of Organizations calls with
                      TooManyRequestsException, HTTP 429
  --orgs-rps N        Organizations' budget of requests per second
  --orgs-denied       every Organizations call answers AccessDeniedException

Answers ListUsers, GetUser, ListAccessKeys, ListMFADevices, GetLoginProfile, ListUserTags,
ListGroupsForUser, ListAttachedUserPolicies, ListUserPolicies, GetAccountSummary,
GetAccountAuthorizationDetails, GenerateCredentialReport and GetCredentialReport; STS
AssumeRole and GetCallerIdentity; Organizations ListRoots, ListAccounts, ListAccountsForParent,
ListOrganizationalUnitsForParent and DescribeOrganization. One URL serves them all: a request
goes to the service of its SigV4 credential scope. Any credentials are accepted (a SigV4
Authorization header must be present; signatures are not verified) and stand for the
management account; the session credentials AssumeRole returns stand for their own account,
so an IAM call signed with account A's session lists account A's users.

Examples:
  npm run emulator -- --users 1000 --port 4566 --latency-ms 20 --rps 200
  npm run emulator -- --corrupt ListMFADevices=html --corrupt GetAccountAuthorizationDetails=cut --corrupt-times 1
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \\
    aws iam list-users --endpoint-url http://127.0.0.1:4566 --region us-east-1
  // @aws-sdk/client-iam
  new IAMClient({ endpoint: "http://127.0.0.1:4566", region: "us-east-1",
                  credentials: { accessKeyId: "test", secretAccessKey: "test" } })

  npm run emulator -- --accounts 5 --users 200 --rps 100 --deny-assume-role 200000000003
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \\
    aws organizations list-accounts --endpoint-url http://127.0.0.1:4566 --region us-east-1
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \\
    aws sts assume-role --role-arn arn:aws:iam::200000000001:role/iam-ocsf-reader \\
      --role-session-name demo --endpoint-url http://127.0.0.1:4566 --region us-east-1
`

const fail = (message: string): never => {
  process.stderr.write(`emulator: ${message}\nTry --help.\n`)
  process.exit(2)
}

const number = (flag: string, raw: string | undefined, check: (n: number) => boolean, what: string): number | undefined => {
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (raw.trim() === "" || !Number.isFinite(n) || !check(n)) return fail(`--${flag} must be ${what}, got '${raw}'`)
  return n
}

const unitMs = { s: 1_000, m: 60_000, h: 3_600_000 } as const
/** "90s", "15m", "2h": the only durations this flag needs. */
const durationMs = (raw: string): number => {
  const match = /^(\d+)([smh])$/.exec(raw.trim())
  return match === null
    ? fail(`--report-age must be a duration like 90s, 15m or 2h, got '${raw}'`)
    : Number(match[1]) * unitMs[match[2] as keyof typeof unitMs]
}

const isInt = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max

type Values = { readonly [flag: string]: string | boolean | ReadonlyArray<string> | undefined }

/** The organization the flags ask for, or undefined when none of them is given. */
const organizationOf = (values: Values, users: number, faults: Faults, shortPages: boolean): OrganizationOptions | undefined => {
  const str = (flag: string) => values[flag] as string | undefined
  const orgFlags = ["accounts", "users-per-account", "role-name", "external-id", "suspended", "deny-assume-role",
    "session-calls", "session-ms", "orgs-latency-ms", "orgs-throttle-rate", "orgs-rps", "orgs-denied"]
  if (!orgFlags.some((f) => values[f] !== undefined)) return undefined
  const accounts = number("accounts", str("accounts"), isInt(1, 100_000), "an integer between 1 and 100000") ?? 5
  const usersPerAccount = number("users-per-account", str("users-per-account"), isInt(0, 1e9), "an integer ≥ 0") ?? users
  const suspended = number("suspended", str("suspended"), isInt(0, accounts - 1), `an integer between 0 and ${accounts - 1}`) ?? 0
  const sessionCalls = number("session-calls", str("session-calls"), isInt(0, 1e9), "an integer ≥ 0")
  const sessionMs = number("session-ms", str("session-ms"), (n) => n >= 0, "a number ≥ 0")
  const orgsLatency = number("orgs-latency-ms", str("orgs-latency-ms"), (n) => n >= 0, "a number ≥ 0")
  const orgsThrottle = number("orgs-throttle-rate", str("orgs-throttle-rate"), (n) => n >= 0 && n <= 1, "within 0..1")
  const orgsRps = number("orgs-rps", str("orgs-rps"), (n) => n > 0, "a number > 0")
  const memberIds = Array.from({ length: accounts - 1 }, (_, i) => memberAccountId(i + 1))
  const known = new Set(["123456789012", ...memberIds])
  const denied = (str("deny-assume-role") ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")
  for (const id of denied) if (!known.has(id)) fail(`--deny-assume-role: no account ${id} among the ${accounts} accounts`)

  const perAccount: Record<string, AccountSettings> = {}
  for (const id of memberIds.slice(memberIds.length - suspended)) perAccount[id] = { status: "SUSPENDED" }
  for (const id of denied) perAccount[id] = { ...perAccount[id], assumeRoleDenied: true }
  const organizationsFaults: OrganizationsFaults = {
    ...(orgsLatency === undefined ? {} : { latencyMs: orgsLatency }),
    ...(orgsThrottle === undefined ? {} : { throttleRate: orgsThrottle }),
    ...(orgsRps === undefined ? {} : { requestsPerSecond: orgsRps }),
    ...(values["orgs-denied"] === true ? { accessDenied: true } : {})
  }
  const roleName = str("role-name")
  const externalId = str("external-id")
  return {
    accounts,
    usersPerAccount,
    memberFaults: faults,
    ...(roleName === undefined ? {} : { roleName }),
    ...(externalId === undefined ? {} : { externalId }),
    ...(sessionCalls === undefined && sessionMs === undefined ? {} : {
      sessionLifetime: {
        ...(sessionCalls === undefined ? {} : { calls: sessionCalls }),
        ...(sessionMs === undefined ? {} : { ms: sessionMs })
      }
    }),
    perAccount,
    organizationsFaults,
    shortPages
  }
}

const main = async (): Promise<void> => {
  let values
  try {
    values = parseArgs({
      options: {
        users: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        seed: { type: "string" },
        "latency-ms": { type: "string" },
        "throttle-rate": { type: "string" },
        "error-rate": { type: "string" },
        rps: { type: "string" },
        "report-age": { type: "string" },
        "report-generation-ms": { type: "string" },
        "short-pages": { type: "boolean" },
        corrupt: { type: "string", multiple: true },
        "corrupt-times": { type: "string" },
        "no-spec-examples": { type: "boolean" },
        accounts: { type: "string" },
        "users-per-account": { type: "string" },
        "role-name": { type: "string" },
        "external-id": { type: "string" },
        suspended: { type: "string" },
        "deny-assume-role": { type: "string" },
        "session-calls": { type: "string" },
        "session-ms": { type: "string" },
        "orgs-latency-ms": { type: "string" },
        "orgs-throttle-rate": { type: "string" },
        "orgs-rps": { type: "string" },
        "orgs-denied": { type: "boolean" },
        help: { type: "boolean", short: "h" }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e))
  }
  if (values.help === true) {
    process.stdout.write(HELP)
    return
  }
  const users = number("users", values.users, isInt(0, 1e9), "an integer ≥ 0") ?? 100
  const port = number("port", values.port, isInt(0, 65535), "a port number") ?? 4566
  const seed = number("seed", values.seed, isInt(0, 2 ** 32 - 1), "an integer ≥ 0")
  const latencyMs = number("latency-ms", values["latency-ms"], (n) => n >= 0, "a number ≥ 0")
  const throttleRate = number("throttle-rate", values["throttle-rate"], (n) => n >= 0 && n <= 1, "within 0..1")
  const errorRate = number("error-rate", values["error-rate"], (n) => n >= 0 && n <= 1, "within 0..1")
  const rps = number("rps", values.rps, (n) => n > 0, "a number > 0")
  const reportAgeMs = values["report-age"] === undefined ? undefined : durationMs(values["report-age"])
  const generationMs = number("report-generation-ms", values["report-generation-ms"], (n) => n >= 0, "a number ≥ 0")

  const all: ActionFaults = {
    ...(latencyMs === undefined ? {} : { latencyMs }),
    ...(throttleRate === undefined ? {} : { throttleRate }),
    ...(errorRate === undefined ? {} : { errorRate })
  }
  const corruptTimes = number("corrupt-times", values["corrupt-times"], isInt(0, 1e9), "an integer ≥ 0")
  const corruptions = new Map<string, Corruption>()
  for (const raw of values.corrupt ?? []) {
    const eq = raw.indexOf("=")
    const action = raw.slice(0, eq)
    const [kind = "", ...text] = raw.slice(eq + 1).split(":")
    if (eq < 0 || (action !== "*" && !isAction(action))) {
      fail(`--corrupt wants ACTION=KIND with ACTION one of *, ${ACTIONS.join(", ")}; got '${raw}'`)
    }
    if (!isCorruption(kind)) fail(`--corrupt: KIND must be one of ${CORRUPTIONS.join(", ")}; got '${kind}'`)
    if (kind === "inject" && text.length === 0) fail("--corrupt ACTION=inject:TEXT needs a TEXT, e.g. inject:&#x110000;")
    corruptions.set(action, kind === "inject" ? { kind, text: text.join(":") } : { kind: kind as Corruption["kind"] })
  }
  const corrupting = (action: string): ActionFaults => {
    const corrupt = corruptions.get(action)
    return corrupt === undefined ? {} : { corrupt, ...(corruptTimes === undefined ? {} : { corruptTimes }) }
  }
  const faults: Faults = {
    ...(Object.keys(all).length > 0 || corruptions.has("*") ? { "*": { ...all, ...corrupting("*") } } : {}),
    ...Object.fromEntries([...corruptions.keys()].filter((a) => a !== "*").map((a) => [a, corrupting(a)])),
    ...(rps === undefined ? {} : { requestsPerSecond: rps })
  }
  const organization = organizationOf(values, users, faults, values["short-pages"] === true)

  const emulator = await startEmulator({
    host: values.host ?? "127.0.0.1",
    port,
    users,
    specExamples: values["no-spec-examples"] !== true,
    ...(seed === undefined ? {} : { seed }),
    shortPages: values["short-pages"] === true,
    faults,
    credentialReport: {
      ...(reportAgeMs === undefined ? {} : { ageMs: reportAgeMs }),
      ...(generationMs === undefined ? {} : { generationMs })
    },
    ...(organization === undefined ? {} : { organization })
  })
  // AWS answers GetAccountSummary from counts it keeps; the emulator counts its generated users
  // on the first call (some 100 ms at 10,000 users), which would be a delay AWS does not have,
  // in every bench run's first call. So they are counted before it says it listens.
  emulator.account.summary()
  for (const a of emulator.organization?.accounts ?? []) a.account.summary()
  process.stdout.write(
    `IAM emulator listening on ${emulator.url} (${emulator.account.size} users, account ${emulator.account.accountId})\n` +
      `  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws iam list-users --endpoint-url ${emulator.url} --region us-east-1\n`
  )
  const org = emulator.organization
  if (org !== undefined) {
    const where = new Map<string, string>([[org.rootId, "Root"], ...org.organizationalUnits.map((u) => [u.id, u.name] as const)])
    process.stdout.write(`Organization ${org.id} (root ${org.rootId}), ${org.accounts.length} accounts, role ${org.roleName}:\n`)
    for (const a of org.accounts) {
      process.stdout.write(
        `  ${a.id}  ${a.name.padEnd(12)} ${a.status.padEnd(9)} ${String(a.account.size).padStart(7)} users  in ${where.get(a.parentId) ?? a.parentId}\n`
      )
    }
  }
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    const c = emulator.counters()
    process.stdout.write(`\n${signal}: stopping after ${c.total} requests ${JSON.stringify(c.byOutcome)}\n`)
    if (org !== undefined) {
      for (const a of org.accounts.slice(1)) {
        const ac = a.counters()
        process.stdout.write(`  ${a.id}: ${ac.total} IAM requests ${JSON.stringify(ac.byOutcome)}, ${a.sessionsIssued()} sessions\n`)
      }
      const overlapped = org.overlappedAccounts()
      process.stdout.write(`  STS ${JSON.stringify(emulator.serviceCounters("sts").byOutcome)}, ` +
        `Organizations ${JSON.stringify(emulator.serviceCounters("organizations").byOutcome)}, ` +
        `accounts read by two collectors at once: ${overlapped.length === 0 ? "none" : overlapped.join(", ")}\n`)
    }
    emulator.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.on("SIGINT", () => stop("SIGINT"))
  process.on("SIGTERM", () => stop("SIGTERM"))
}

main().catch((e: unknown) => {
  process.stderr.write(`emulator: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exit(1)
})
