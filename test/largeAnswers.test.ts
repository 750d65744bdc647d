/**
 * Large IAM answers read without the SDK's deserializer: the same values the SDK gives, entities
 * and nested elements read right, and the same result however the network cuts the bytes.
 */
import { GetAccountAuthorizationDetailsCommand, IAMClient, ListUsersCommand } from "@aws-sdk/client-iam"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "vitest"
import { prng } from "../emulator/account.ts"
import { startEmulator } from "../emulator/index.ts"
import { checkedAnswer, listReader, PackedUserDetail, readAnswer, readUser, toUser, toUserDetail } from "../src/iam/largeAnswers.ts"
import { AnswerError, ListReader, parseMember, type XmlValue } from "../src/iam/queryXml.ts"

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
      // The group names the bulk strategy reads alone, before it reads a user whole.
      const packed: Array<PackedUserDetail> = []
      new ListReader("UserDetailList", (m) => packed.push(new PackedUserDetail(m)))
        .push(await raw(emulator.url, { Action: "GetAccountAuthorizationDetails", "Filter.member.1": "User", MaxItems: "1000" }))
      expect(packed.map((u) => u.groupNames())).toEqual(details.UserDetailList?.map((u) => u.GroupList ?? []))
      expect(details.UserDetailList?.some((u) => (u.GroupList ?? []).length === 0)).toBe(true)
      expect(details.UserDetailList?.some((u) => (u.GroupList ?? []).length > 1)).toBe(true)
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
      expect(reader.items().map((u) => u.groupNames())).toEqual(expected.map((u) => u.GroupList ?? []))
      expect(rest).toBe(canonicalRest)
    }
    expect(whole.members.map(toUserDetail)[0]?.UserName).toMatch(/^ü€😀&é/)
  })

  it("a user's group names read alone are those of the user read whole, whatever the answer's XML around them", async () => {
    const users = [
      "<UserName>u0</UserName>",
      "<UserName>u1</UserName><GroupList/>",
      "<UserName>u2</UserName><GroupList><member>a&amp;b</member><member>&#x1F600;é</member></GroupList>",
      "<UserName>u3</UserName><GroupList>\n  <member>a</member>\n</GroupList><Tags/>",
      // A comment or a CDATA section may hold anything, `<GroupList>` too; the checker reads them.
      "<UserName>u4</UserName><!-- <GroupList><member>no</member></GroupList> --><GroupList><member>yes</member></GroupList>",
      "<UserName>u5</UserName><Path><![CDATA[<GroupList><member>no</member></GroupList>]]></Path><GroupList/>",
      "<UserName>u6</UserName><GroupList><member><![CDATA[x<y]]></member></GroupList>"
    ]
    const answer = `<GetAccountAuthorizationDetailsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">` +
      `<GetAccountAuthorizationDetailsResult><UserDetailList>${users.map((u) => `<member>${u}</member>`).join("")}</UserDetailList>` +
      `<IsTruncated>false</IsTruncated></GetAccountAuthorizationDetailsResult></GetAccountAuthorizationDetailsResponse>`
    const reader = listReader("UserDetailList", (member) => new PackedUserDetail(member))
    await readAnswer((async function*() {
      yield answer
    })(), { action: "GetAccountAuthorizationDetails", required: ["UserDetailList"] }, reader.reader())
    const read = reader.items()
    expect(read.map((u) => u.groupNames())).toEqual(read.map((u) => u.unpack().GroupList ?? []))
    expect(read.map((u) => u.groupNames())).toEqual([[], [], ["a&b", "😀é"], ["a"], ["yes"], [], ["x<y"]])
  })

  it("the SDK and this project's reader read the same values from an answer, CDATA, comments and references included", async () => {
    const answer = `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment before the root -->
<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListUsersResult>
    <Users>
      <member>
        <UserName>a<![CDATA[<b>&amp;]]>c<!-- skipped -->d&#x1F600;&#13;&quot;&apos;&gt;</UserName>
        <Path>&#10;  </Path>
        <Arn>x&amp;#0;y</Arn>
        <UserId>line\r\ntwo\rthree&#xD;&#xA;</UserId>
        <Tags/>
      </member>
    </Users>
    <IsTruncated>false</IsTruncated>
  </ListUsersResult>
</ListUsersResponse>`
    const server = createServer((_, res) => res.writeHead(200, { "content-type": "text/xml" }).end(answer))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const sdk = new IAMClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: "us-east-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      maxAttempts: 1
    })
    try {
      const shape = { action: "ListUsers", required: ["Users"] }
      const bySdk = await sdk.send(checkedAnswer(new ListUsersCommand({}), shape))
      const users = listReader("Users", readUser)
      const rest = await sdk.send(checkedAnswer(new ListUsersCommand({}), shape, users.reader))
      const expected = {
        UserName: "a<b>&amp;cd😀\r\"'>",
        // Whitespace with a line break is no value, as the SDK reads it.
        Path: "",
        Arn: "x&#0;y",
        // Line ends read as LF; a character reference to CR is a CR.
        UserId: "line\ntwo\nthree\r\n",
        Tags: []
      }
      expect(bySdk.Users).toEqual([expected])
      expect(users.items()).toEqual([expected])
      expect(rest.Users).toEqual([])
      expect(rest.IsTruncated).toBe(false)
    } finally {
      sdk.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it("an answer that breaks the rules is an AnswerError naming what is wrong, however it is cut", async () => {
    const ok = (users: string) =>
      `<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListUsersResult><Users>${users}</Users>` +
      "<IsTruncated>false</IsTruncated></ListUsersResult></ListUsersResponse>"
    const member = (name: string) => `<member><UserName>${name}</UserName></member>`
    const cases: ReadonlyArray<readonly [string | Buffer, "MalformedXml" | "UnexpectedAnswer", RegExp]> = [
      ["", "UnexpectedAnswer", /an empty answer/],
      ["<!DOCTYPE html><html><body>Bad Gateway</body></html>", "UnexpectedAnswer", /a DOCTYPE .*an HTML page/],
      ["<html><body>Bad Gateway</body></html>", "UnexpectedAnswer", /<html> where <ListUsersResponse> was expected/],
      ["<GetUserResponse><GetUserResult/></GetUserResponse>", "UnexpectedAnswer", /<GetUserResponse> where <ListUsersResponse>/],
      ["<ListUsersResponse><ListUsersResult><IsTruncated>false</IsTruncated></ListUsersResult></ListUsersResponse>", "UnexpectedAnswer", /holds no <Users>/],
      ["<ListUsersResponse><ResponseMetadata/></ListUsersResponse>", "UnexpectedAnswer", /holds no <ListUsersResult>/],
      [ok(member("a&#x110000;")), "MalformedXml", /&#x110000; is not an XML character/],
      [ok(member("a&#0;")), "MalformedXml", /&#0; is not an XML character/],
      [ok(member("a&#xD800;")), "MalformedXml", /&#xD800; is not an XML character/],
      [ok(member("a&#xFFFE;")), "MalformedXml", /&#xFFFE; is not an XML character/],
      [ok(member("a\u0001")), "MalformedXml", /U\+0001 is not an XML character/],
      // A lone surrogate written in UTF-8's way (CESU-8) is not UTF-8.
      [Buffer.concat([Buffer.from(ok(member("a")).slice(0, 110)), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(ok(member("a")).slice(110))]), "MalformedXml", /not UTF-8/],
      [ok(member("a&nbsp;")), "MalformedXml", /&nbsp; is not an XML entity/],
      [ok(member("a & b")), "MalformedXml", /a bare &/],
      [ok(member("<!DOCTYPE x>")), "MalformedXml", /a DOCTYPE/],
      [ok("<member><UserName>a</Path></member>"), "MalformedXml", /<\/Path> closing <UserName>/],
      [ok(member("a")).slice(0, 150), "MalformedXml", /cut short/],
      [ok(member("a")) + "<extra/>", "MalformedXml", /after the root element/],
      [ok(member("a")) + "text", "UnexpectedAnswer", /text outside the root element/],
      [Buffer.concat([Buffer.from(ok(member("é")).slice(0, 100)), Buffer.from([0xc3, 0x28]), Buffer.from(ok(member("a")).slice(100))]), "MalformedXml", /not UTF-8/]
    ]
    for (const [body, code, message] of cases) {
      const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body
      for (const size of [1, 7, 1 << 16]) {
        const pieces: Array<Buffer> = []
        for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size))
        const error = await readAnswer((async function*() {
          yield* pieces
        })(), { action: "ListUsers", required: ["Users"] }).then(() => undefined, (e: unknown) => e)
        expect(error, `${JSON.stringify(String(body).slice(0, 80))} in pieces of ${size}`).toBeInstanceOf(AnswerError)
        expect((error as AnswerError).code).toBe(code)
        expect((error as AnswerError).message).toMatch(message)
      }
    }
  })
})

