/**
 * STS, through the door like every AWS call: who the base credentials are (`GetCallerIdentity`,
 * which needs no permission), and session credentials for a role in another account. Sessions
 * come from the AWS SDK's own `fromTemporaryCredentials` (it calls AssumeRole and gives the
 * session's expiry); a client plugin sends that AssumeRole through the door, so it is paced,
 * classified, retried, traced and counted as IAM calls are. The session is reused until five
 * minutes before it expires, and renewed at once when AWS says it ended early (`ExpiredToken`).
 */
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers"
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Pluggable } from "@aws-sdk/types"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Door } from "./door.ts"
import { BadData, IamError } from "./IamError.ts"
import { answerCheck, answerCheckStep, type AnswerShape, checkedAnswer } from "./largeAnswers.ts"
import { clientConfig, type Connection, scopedClient, sdkCredentials } from "./sdkClient.ts"

export interface CallerIdentity {
  readonly account: string
  readonly arn: string
  readonly userId: string
}

const callerShape: AnswerShape = { action: "GetCallerIdentity", required: ["Account", "Arn", "UserId"] }
const assumeRoleShape: AnswerShape = { action: "AssumeRole", required: ["Credentials"] }

/** Who the connection's credentials are. */
export const callerIdentity = (connection: Connection, door: Door): Effect.Effect<CallerIdentity, IamError, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* scopedClient(() => new STSClient(clientConfig(connection)))
    const answer = yield* door.call("GetCallerIdentity", undefined, (abortSignal) =>
      client.send(checkedAnswer(new GetCallerIdentityCommand({}), callerShape), { abortSignal }))
    if (answer.Account === undefined || answer.Arn === undefined || answer.UserId === undefined) {
      return yield* new IamError({
        action: "GetCallerIdentity",
        reason: new BadData({ code: "UnexpectedAnswer", message: "no Account, Arn or UserId" })
      })
    }
    return { account: answer.Account, arn: answer.Arn, userId: answer.UserId }
  })

export interface AssumedRole {
  readonly roleArn: string
  readonly externalId?: Redacted.Redacted<string> | undefined
  readonly sessionName: string
  readonly duration: Duration.Duration
}

/** Credentials of a role session, renewed before they expire, and at once on demand. */
export interface SessionCredentials {
  /** For an SDK client's `credentials` (`memoized`: the client does not cache it again). */
  readonly provider: AwsCredentialIdentityProvider
  /** The next request gets a new session (AWS said the current one expired). */
  readonly renew: Effect.Effect<void>
}

/** Renewed this long before the announced expiry, as the SDK's own clients do. */
const REFRESH_BEFORE_MS = 5 * 60_000

/**
 * A role session in another account, assumed with the connection's (base) credentials. `door`
 * is the STS door its AssumeRole calls go through; `context` runs them (its tracer and logger).
 */
export const assumedRole = (
  connection: Connection,
  role: AssumedRole,
  door: Door,
  context: Context.Context<never>
): SessionCredentials => {
  const run = Effect.runPromiseWith(context)
  // The plugin hands the STS client's request to the door: pacing, deadline, classification,
  // retries (the client's own are off), spans and counts. A failure leaves as the door's IamError.
  const throughDoor: Pluggable<any, any> = {
    applyToStack: (stack) => {
      stack.add(
        (next) => (args) => run(door.call("AssumeRole", role.roleArn, () => next(args))),
        { step: "initialize", name: "iamOcsfDoor", override: true }
      )
      stack.add(answerCheck(assumeRoleShape) as any, { ...answerCheckStep, override: true })
    }
  }
  const assume = fromTemporaryCredentials({
    params: {
      RoleArn: role.roleArn,
      RoleSessionName: role.sessionName,
      DurationSeconds: Math.round(Duration.toSeconds(role.duration)),
      ...(role.externalId === undefined ? {} : { ExternalId: Redacted.value(role.externalId) })
    },
    ...(connection.credentials === undefined ? {} : { masterCredentials: sdkCredentials(connection.credentials) }),
    clientConfig: clientConfig({ region: connection.region, endpoint: connection.endpoint, maxSockets: connection.maxSockets }),
    clientPlugins: [throughDoor]
  })
  let session: Promise<AwsCredentialIdentity> | undefined
  const fresh = (credentials: AwsCredentialIdentity) =>
    credentials.expiration === undefined || credentials.expiration.getTime() - Date.now() > REFRESH_BEFORE_MS
  const provider = Object.assign(async (): Promise<AwsCredentialIdentity> => {
    const current = session
    if (current !== undefined) {
      const credentials = await current.catch(() => undefined)
      if (credentials !== undefined && fresh(credentials)) return credentials
      // A failed or stale session is asked for again, once for all the callers waiting on it.
      if (session === current) session = undefined
    }
    if (session === undefined) session = assume()
    return session
  }, { memoized: true })
  return { provider, renew: Effect.sync(() => void (session = undefined)) }
}
