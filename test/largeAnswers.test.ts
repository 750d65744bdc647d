/**
 * Large IAM answers read without the SDK's deserializer: the same values the SDK gives, entities
 * and nested elements read right, and the same result however the network cuts the bytes.
 */
import { GetAccountAuthorizationDetailsCommand, IAMClient, ListUsersCommand } from "@aws-sdk/client-iam"
import { describe, expect, it } from "vitest"
import { prng } from "../emulator/account.ts"
import { startEmulator } from "../emulator/index.ts"
import { listReader, PackedUserDetail, readAnswer, toUser, toUserDetail } from "../src/iam/largeAnswers.ts"
import { ListReader, parseMember, type XmlValue } from "../src/iam/queryXml.ts"

/** `ListReader` over a whole answer at once. */
const takeList = (xml: string, name: string): { readonly members: ReadonlyArray<XmlValue>; readonly rest: string } => {
  const members: Array<XmlValue> = []
  const reader = new ListReader(name, (m) => members.push(parseMember(m)))
  reader.push(xml)
  return { members, rest: reader.end() }
}

/** The raw XML of one answer, as the network delivers it. */
const raw = async (url: string, params: Record<string, string>) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: "AWS4-HMAC-SHA256 test", "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ Version: "2010-05-08", ...params })
  })
  return response.text()
}

describe("reading large answers without the SDK's deserializer", () => {
  it("reads ListUsers and GetAccountAuthorizationDetails pages exactly as the SDK does", async () => {
    // 300 generated users: paths with '&' (r&d), tags with '+' and '@', users with and without passwords.
    const emulator = await startEmulator({ users: 298 })
    const sdk = new IAMClient({
      endpoint: emulator.url,
      region: "us-east-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      maxAttempts: 1
    })
    try {
      const listed = await sdk.send(new ListUsersCommand({ MaxItems: 1000 }))
      const ours = takeList(await raw(emulator.url, { Action: "ListUsers", MaxItems: "1000" }), "Users")
      expect(ours.members.map(toUser)).toEqual(listed.Users)
      expect(ours.rest).toMatch(/<Users\/><IsTruncated>false<\/IsTruncated>/)

      const details = await sdk.send(new GetAccountAuthorizationDetailsCommand({ Filter: ["User"], MaxItems: 1000 }))
      const page = takeList(
        await raw(emulator.url, { Action: "GetAccountAuthorizationDetails", "Filter.member.1": "User", MaxItems: "1000" }),
        "UserDetailList"
      )
      expect(page.members.map(toUserDetail)).toEqual(details.UserDetailList)
      expect(details.UserDetailList?.some((u) => u.Path?.includes("&"))).toBe(true)
    } finally {
      sdk.destroy()
      await emulator.close()
    }
  })

  it("decodes entities, skips declarations and whitespace, and reads nested and empty elements", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListUsersResult>
    <Users>
      <member>
        <UserName>a&amp;b &lt;&quot;c&apos;&gt; &#233;&#x1F600;</UserName>
        <PermissionsBoundary>
          <PermissionsBoundaryType>PermissionsBoundaryPolicy</PermissionsBoundaryType>
          <PermissionsBoundaryArn>arn:aws:iam::123456789012:policy/b</PermissionsBoundaryArn>
        </PermissionsBoundary>
        <Tags/>
      </member>
    </Users>
    <IsTruncated>true</IsTruncated>
    <Marker>abc</Marker>
  </ListUsersResult>
</ListUsersResponse>`
    const { members, rest } = takeList(xml, "Users")
    expect(members.map(toUser)).toEqual([{
      UserName: "a&b <\"c'> é😀",
      PermissionsBoundary: {
        PermissionsBoundaryType: "PermissionsBoundaryPolicy",
        PermissionsBoundaryArn: "arn:aws:iam::123456789012:policy/b"
      },
      Tags: []
    }])
    expect(rest).toContain("<Users/>")
    expect(rest).toContain("<Marker>abc</Marker>")
    expect(() => takeList("<Users><member><A>x</B></member></Users>", "Users")).toThrow(/malformed XML/)
  })

  it("reads an answer the same however the network cuts it: mid-tag, mid-entity, mid-character", async () => {
    const emulator = await startEmulator({ users: 58 })
    let page: string
    try {
      page = await raw(emulator.url, { Action: "GetAccountAuthorizationDetails", "Filter.member.1": "User", MaxItems: "1000" })
    } finally {
      await emulator.close()
    }
    // Two-, three- and four-byte characters and entities, so that cuts land inside each of them.
    const xml = page.replace("<UserName>", "<UserName>ü€😀&amp;&#233;")
    const whole = takeList(xml, "UserDetailList")
    expect(whole.members).toHaveLength(60)
    const detailsShape = { action: "GetAccountAuthorizationDetails", required: ["UserDetailList"] }
    const canonicalRest = await readAnswer((async function*() {
      yield xml
    })(), detailsShape, listReader("UserDetailList", (m) => m).reader())
    expect(canonicalRest).toBe(whole.rest.replace(/ xmlns="[^"]*"/, ""))
    const bytes = Buffer.from(xml, "utf8")
    // A fixed-seed generator: a failure names its seed and cuts the same way again.
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const random = prng(seed)
      const below = (n: number) => Math.floor(random() * n)
      const pieces: Array<Uint8Array> = []
      for (let at = 0; at < bytes.length;) {
        // mostly tiny pieces (every boundary gets hit), now and then a larger one
        const size = below(20) === 0 ? 1 + below(512) : 1 + below(12)
        pieces.push(bytes.subarray(at, at + size))
        at += size
      }
      // as the bulk strategy reads a page: each user kept packed, read when it is taken
      const reader = listReader("UserDetailList", (member) => new PackedUserDetail(member))
      const rest = await readAnswer((async function*() {
        yield* pieces
      })(), detailsShape, reader.reader())
      const expected = whole.members.map(toUserDetail)
      expect({ seed, users: reader.items().map((u) => u.unpack()) }).toEqual({ seed, users: expected })
      expect(reader.items().map((u) => u.UserName)).toEqual(expected.map((u) => u.UserName))
      expect(rest).toBe(canonicalRest)
    }
    expect(whole.members.map(toUserDetail)[0]?.UserName).toMatch(/^ü€😀&é/)
  })
})
