/**
 * Every IAM answer is checked before it is believed, in one step of the SDK's middleware stack
 * that `Iam.ts` adds to every command it sends: placed between the SDK's deserializer and the
 * network, it reads each 2xx answer as it arrives through `AnswerChecker` (`queryXml.ts`: the
 * action's own `<ActionResponse>`/`<ActionResult>` with what it must hold, by one set of XML
 * rules), and hands the SDK the answer in its canonical form, or fails with an `AnswerError`
 * carrying the status, which `classify.ts` makes BadData.
 *
 * The answers too large for the SDK's deserializer to read cheaply (the credential report,
 * pages of 1,000 users) are read by this project in the same pass: an `AnswerReader` takes the
 * canonical text, keeps the large part and returns the rest (the envelope, IsTruncated, Marker)
 * for the SDK, which reads it as usual. Signing, endpoints and error answers stay the SDK's.
 * The values built here have the SDK's shapes, so callers cannot tell.
 */
import type { User, UserDetail } from "@aws-sdk/client-iam"
import { Readable } from "node:stream"
import { ownString } from "../common/ownString.ts"
import {
  AnswerChecker,
  AnswerError,
  date,
  field,
  firstText,
  items,
  ListReader,
  parseMember,
  text,
  type XmlValue
} from "./queryXml.ts"

type Body = AsyncIterable<Uint8Array | string>

const isBody = (x: unknown): x is Body => typeof x === "object" && x !== null && Symbol.asyncIterator in x

/** Reads an answer's canonical text as it arrives; `end` returns what the SDK is to read. */
export interface AnswerReader {
  push(piece: string): void
  end(): string
}

/** What an answer of one call must be: `action`'s answer, whose Result holds each of `required`. */
export interface AnswerShape {
  readonly action: string
  readonly required: ReadonlyArray<string>
}

/** Collects the canonical answer whole, for the SDK: the small answers. */
const whole = (): AnswerReader => {
  let text = ""
  return { push: (piece) => void (text += piece), end: () => text }
}

/**
 * Reads `body` through the checker into `reader`; returns what the SDK is to read. A body that
 * breaks off (a reset connection) fails as the network failed; an answer that breaks the rules
 * fails with `AnswerError`.
 */
export const readAnswer = async (body: Body | undefined, shape: AnswerShape, reader: AnswerReader = whole()): Promise<string> => {
  const checker = new AnswerChecker(shape.action, shape.required, (piece) => reader.push(piece))
  const decoder = new TextDecoder("utf-8", { fatal: true })
  const decode = (chunk?: Uint8Array | string) => {
    if (typeof chunk === "string") return chunk
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true })
    } catch {
      throw new AnswerError("MalformedXml", "malformed XML answer: not UTF-8")
    }
  }
  if (body !== undefined) for await (const chunk of body) checker.push(decode(chunk))
  checker.push(decode())
  checker.end()
  return reader.end()
}

/**
 * `command`, its answer checked as `shape` says before the SDK reads it; `reader` (a new one for
 * each attempt) reads its large part.
 */
export const checkedAnswer = <C extends { readonly middlewareStack: { add(middleware: unknown, options: unknown): void } }>(
  command: C,
  shape: AnswerShape,
  reader?: () => AnswerReader
): C => {
  command.middlewareStack.add(answerCheck(shape, reader), answerCheckStep)
  return command
}

/** Where the check goes in a client's or a command's middleware stack: before the SDK reads the answer. */
export const answerCheckStep = { step: "deserialize", priority: "low", name: "iamOcsfCheckedAnswer" } as const

/** The middleware that checks an answer as `shape` says (`checkedAnswer`), for a stack of one's own. */
export const answerCheck = (shape: AnswerShape, reader?: () => AnswerReader) =>
(next: (args: unknown) => Promise<{ readonly response: unknown }>) =>
async (args: unknown) => {
  const result = await next(args)
  const response = result.response as { statusCode?: number; body?: unknown }
  const status = response.statusCode ?? 0
  if (status >= 200 && status < 300) {
    let rest: string
    try {
      rest = await readAnswer(isBody(response.body) ? response.body : undefined, shape, reader?.())
    } catch (e) {
      // The status makes it BadData in `classify.ts`: AWS answered, but not with an answer.
      if (e instanceof AnswerError) throw Object.assign(e, { $metadata: { httpStatusCode: status } })
      throw e
    }
    response.body = Readable.from([Buffer.from(rest, "utf8")])
  }
  return result
}

/**
 * Reads the members of the list element `name` of one answer as it arrives; `items()` once the
 * SDK is done. `toItem` gets each member's text: `parseMember` reads it, now or later.
 */
export const listReader = <A>(name: string, toItem: (member: string) => A) => {
  const items: Array<A> = []
  return {
    /** A reader for one attempt: the items of an earlier one are dropped. */
    reader: (): AnswerReader => {
      items.length = 0
      return new ListReader(name, (member) => items.push(toItem(member)))
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

const groupList = (m: XmlValue) => items(field(m, "GroupList"))?.map((g) => text(g) ?? "")

/** A `<member>` of GetAccountAuthorizationDetails' `UserDetailList`, as the SDK would give it. */
export const toUserDetail = (m: XmlValue): UserDetail => {
  const o: UserDetail = identity(m)
  put(o, "UserPolicyList", items(field(m, "UserPolicyList"))?.map((p) => {
    const policy: { PolicyName?: string; PolicyDocument?: string } = {}
    put(policy, "PolicyName", str(p, "PolicyName"))
    put(policy, "PolicyDocument", str(p, "PolicyDocument"))
    return policy
  }))
  put(o, "GroupList", groupList(m))
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

  /**
   * The user's `GroupList`, read alone (by the same reader as `unpack`): whether the bulk sources
   * describe a user turns on its groups, and reading the whole user for that would read it twice
   * (measured: 50 ms of a 1.4 s bulk run at 10,000 users). The answer's checker hands on each
   * member in its canonical form (`queryXml.ts`: no comments, CDATA or attributes, text escaped)
   * and no other element of a `UserDetail` holds a `GroupList`, so the first one is the user's.
   */
  groupNames(): ReadonlyArray<string> {
    const open = this.member.indexOf("<GroupList>")
    // None, or an empty one (`<GroupList/>`): no group, as `unpack` would say.
    if (open < 0) return []
    const close = this.member.indexOf("</GroupList>", open)
    if (close < 0) return this.unpack().GroupList ?? []
    const list = this.member.toString("utf8", open, close + "</GroupList>".length)
    return groupList(parseMember(`<member>${list}</member>`)) ?? []
  }
}
