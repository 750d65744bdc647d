import type { User, UserDetail } from "@aws-sdk/client-iam"
import { Readable } from "node:stream"
import { date, field, items, ListReader, text, type XmlValue } from "./queryXml.ts"

/**
 * The answers too large for the SDK's deserializer to read cheaply (the credential report,
 * pages of 1,000 users) are read by this project instead, in the same request: a step placed
 * between the SDK's deserializer and the network takes the raw answer, keeps the large part
 * and hands the SDK the rest (the envelope, IsTruncated, Marker), which it reads as usual.
 * Signing, endpoints and error answers stay the SDK's: only answers with status 200 are
 * touched. The values built here have the SDK's shapes, so callers cannot tell.
 */
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

/** Reads the members of the list element `name` of one answer as it arrives; `items()` once the SDK is done. */
export const listReader = <A>(name: string, toItem: (member: XmlValue) => A) => {
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

const tags = (m: XmlValue) =>
  items(field(m, "Tags"))?.map((t) => ({ Key: str(t, "Key"), Value: str(t, "Value") }) as { Key: string; Value: string })

const boundary = (m: XmlValue) => {
  const b = field(m, "PermissionsBoundary")
  return b === undefined
    ? undefined
    : defined({
      PermissionsBoundaryType: str(b, "PermissionsBoundaryType") as "PermissionsBoundaryPolicy" | undefined,
      PermissionsBoundaryArn: str(b, "PermissionsBoundaryArn")
    })
}

const defined = <A extends object>(a: A): A =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as A

/** A `<member>` of ListUsers' `Users`, as the SDK would give it. */
export const toUser = (m: XmlValue): User =>
  defined({
    Path: str(m, "Path"),
    UserName: str(m, "UserName"),
    UserId: str(m, "UserId"),
    Arn: str(m, "Arn"),
    CreateDate: date(field(m, "CreateDate")),
    PasswordLastUsed: date(field(m, "PasswordLastUsed")),
    PermissionsBoundary: boundary(m),
    Tags: tags(m)
  }) as User

/** A `<member>` of GetAccountAuthorizationDetails' `UserDetailList`, as the SDK would give it. */
export const toUserDetail = (m: XmlValue): UserDetail =>
  defined({
    Path: str(m, "Path"),
    UserName: str(m, "UserName"),
    UserId: str(m, "UserId"),
    Arn: str(m, "Arn"),
    CreateDate: date(field(m, "CreateDate")),
    UserPolicyList: items(field(m, "UserPolicyList"))?.map((p) =>
      defined({ PolicyName: str(p, "PolicyName"), PolicyDocument: str(p, "PolicyDocument") })
    ),
    GroupList: items(field(m, "GroupList"))?.map((g) => text(g) ?? ""),
    AttachedManagedPolicies: items(field(m, "AttachedManagedPolicies"))?.map((p) =>
      defined({ PolicyName: str(p, "PolicyName"), PolicyArn: str(p, "PolicyArn") })
    ),
    PermissionsBoundary: boundary(m),
    Tags: tags(m)
  })
