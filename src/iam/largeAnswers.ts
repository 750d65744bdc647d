/**
 * The answers too large for the SDK's deserializer to read cheaply (the credential report,
 * pages of 1,000 users) are read by this project instead, in the same request: a step placed
 * between the SDK's deserializer and the network takes the raw answer, keeps the large part
 * and hands the SDK the rest (the envelope, IsTruncated, Marker), which it reads as usual.
 * Signing, endpoints and error answers stay the SDK's: only answers with status 200 are
 * touched. The values built here have the SDK's shapes, so callers cannot tell.
 */
import type { User, UserDetail } from "@aws-sdk/client-iam"
import { Readable } from "node:stream"
import { ownString } from "../common/ownString.ts"
import { date, field, firstText, items, ListReader, parseMember, text, type XmlValue } from "./queryXml.ts"

type Body = AsyncIterable<Uint8Array | string>

const isBody = (x: unknown): x is Body => typeof x === "object" && x !== null && Symbol.asyncIterator in x

export const readAnswerWith = <C extends { readonly middlewareStack: { add(middleware: unknown, options: unknown): void } }>(
  command: C,
  read: (body: Body) => Promise<string>
): C => {
  command.middlewareStack.add(
    (next: (args: unknown) => Promise<{ readonly response: unknown }>) => async (args: unknown) => {
      const result = await next(args)
      const response = result.response as { statusCode?: number; body?: unknown }
      if (response.statusCode === 200 && isBody(response.body)) {
        response.body = Readable.from([Buffer.from(await read(response.body), "utf8")])
      }
      return result
    },
    { step: "deserialize", priority: "low", name: "iamOcsfReadAnswer" }
  )
  return command
}

/**
 * Reads the members of the list element `name` of one answer as it arrives; `items()` once the
 * SDK is done. `toItem` gets each member's text: `parseMember` reads it, now or later.
 */
export const listReader = <A>(name: string, toItem: (member: string) => A) => {
  const items: Array<A> = []
  return {
    read: async (body: Body): Promise<string> => {
      items.length = 0
      const reader = new ListReader(name, (member) => items.push(toItem(member)))
      const decoder = new TextDecoder()
      for await (const chunk of body) reader.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }))
      reader.push(decoder.decode())
      return reader.end()
    },
    items: (): ReadonlyArray<A> => items
  }
}

const str = (m: XmlValue | undefined, name: string) => text(field(m, name))

/** Sets a field that is present: the SDK leaves absent fields out. */
const put = <A extends object, K extends keyof A>(o: A, k: K, v: A[K] | undefined): void => {
  if (v !== undefined) o[k] = v
}

const tags = (m: XmlValue) =>
  items(field(m, "Tags"))?.map((t) => ({ Key: str(t, "Key"), Value: str(t, "Value") }) as { Key: string; Value: string })

const boundary = (m: XmlValue) => {
  const b = field(m, "PermissionsBoundary")
  if (b === undefined) return undefined
  const o: NonNullable<User["PermissionsBoundary"]> = {}
  put(o, "PermissionsBoundaryType", str(b, "PermissionsBoundaryType") as "PermissionsBoundaryPolicy" | undefined)
  put(o, "PermissionsBoundaryArn", str(b, "PermissionsBoundaryArn"))
  return o
}

/** The fields ListUsers' `User` and GetAccountAuthorizationDetails' `UserDetail` share, in the SDK's order. */
const identity = (m: XmlValue): User => {
  const o = {} as User
  put(o, "Path", str(m, "Path"))
  put(o, "UserName", str(m, "UserName"))
  put(o, "UserId", str(m, "UserId"))
  put(o, "Arn", str(m, "Arn"))
  put(o, "CreateDate", date(field(m, "CreateDate")))
  return o
}

/** A `<member>` of ListUsers' `Users`, as the SDK would give it. */
export const toUser = (m: XmlValue): User => {
  const o = identity(m)
  put(o, "PasswordLastUsed", date(field(m, "PasswordLastUsed")))
  put(o, "PermissionsBoundary", boundary(m))
  put(o, "Tags", tags(m))
  return o
}

/** A `<member>` of GetAccountAuthorizationDetails' `UserDetailList`, as the SDK would give it. */
export const toUserDetail = (m: XmlValue): UserDetail => {
  const o: UserDetail = identity(m)
  put(o, "UserPolicyList", items(field(m, "UserPolicyList"))?.map((p) => {
    const policy: { PolicyName?: string; PolicyDocument?: string } = {}
    put(policy, "PolicyName", str(p, "PolicyName"))
    put(policy, "PolicyDocument", str(p, "PolicyDocument"))
    return policy
  }))
  put(o, "GroupList", items(field(m, "GroupList"))?.map((g) => text(g) ?? ""))
  put(o, "AttachedManagedPolicies", items(field(m, "AttachedManagedPolicies"))?.map((p) => {
    const policy: { PolicyName?: string; PolicyArn?: string } = {}
    put(policy, "PolicyName", str(p, "PolicyName"))
    put(policy, "PolicyArn", str(p, "PolicyArn"))
    return policy
  }))
  put(o, "PermissionsBoundary", boundary(m))
  put(o, "Tags", tags(m))
  return o
}

/** A `<member>` of ListUsers' `Users`, from its text. */
export const readUser = (member: string): User => toUser(parseMember(member))

/** What the bulk strategy takes from ListUsers: when each user's password was last used. */
export interface LastPasswordUse {
  readonly userName: string
  /** Epoch milliseconds; null when the password was never used (or there is none). */
  readonly lastUsed: number | null
}

/**
 * A `<member>` of ListUsers' `Users`, reduced to its `LastPasswordUse`: a page of these waits
 * for the user pages, and full `User`s held that long would be copied into V8's old generation.
 */
export const readLastPasswordUse = (member: string): LastPasswordUse => {
  const lastUsed = firstText(member, "PasswordLastUsed")
  return { userName: ownString(firstText(member, "UserName") ?? ""), lastUsed: lastUsed === undefined ? null : new Date(lastUsed).getTime() }
}

/**
 * A user of a GetAccountAuthorizationDetails page, kept as the UTF-8 bytes of its `<member>`
 * until it is needed. A page of 1,000 users is read at once and then waits for the page
 * before it to be emitted: read into objects, those would outlive V8's young generation and
 * be copied into its old one, page after page (at 100,000 users, some 15 MB of peak RSS and
 * most of its spread from run to run). Bytes live outside the JavaScript heap, and `unpack` makes the objects only when
 * the user is taken, to die young.
 */
export class PackedUserDetail {
  readonly UserName: string
  private readonly member: Buffer

  constructor(member: string) {
    this.UserName = ownString(firstText(member, "UserName") ?? "")
    this.member = Buffer.from(member, "utf8")
  }

  unpack(): UserDetail {
    return toUserDetail(parseMember(this.member.toString("utf8")))
  }
}
