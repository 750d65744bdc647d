/**
 * A small reader of IAM Query-protocol answers, for the list pages too big for the SDK's
 * XML deserializer to read cheaply: it took about 70 ms and several MB of garbage per page of
 * 1,000 users, the largest cost of a bulk collection. Reads elements and text only (IAM
 * answers have no attributes worth reading, no CDATA, no mixed content); `<member>` children
 * become arrays, other children object keys, leaves strings with entities decoded.
 */
export type XmlValue = string | XmlElement | ReadonlyArray<XmlValue>
export interface XmlElement {
  readonly [name: string]: XmlValue
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }

const decodeText = (s: string): string =>
  s.indexOf("&") < 0 ? s : s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) =>
    e.startsWith("#x")
      ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith("#")
      ? String.fromCodePoint(parseInt(e.slice(1), 10))
      : ENTITIES[e]!)

const malformed = (what: string, at: number) => new Error(`malformed XML answer: ${what} at offset ${at}`)

/** Where the element `content` last read ends: a second result without a tuple per element. */
let endOfElement = 0

const isNameEnd = (c: number) => c === 62 /* > */ || c === 47 /* / */ || c === 32 || c === 9 || c === 10 || c === 13

/**
 * The content of the element whose start tag ends just before `pos`; sets `endOfElement` to the
 * offset after its end tag. Run for every element of every page (about 50 a user), so it cuts
 * nothing it does not keep: a leaf's text is one slice, a tag name one slice, and the text
 * between child elements is never gathered.
 */
const content = (xml: string, pos: number, name: string): XmlValue => {
  let text: string | undefined
  let children: Record<string, XmlValue> | undefined
  let members: Array<XmlValue> | undefined
  for (;;) {
    const lt = xml.indexOf("<", pos)
    if (lt < 0) throw malformed(`no end tag for <${name}>`, pos)
    if (children === undefined && members === undefined && lt > pos) {
      text = text === undefined ? xml.slice(pos, lt) : text + xml.slice(pos, lt)
    }
    const gt = xml.indexOf(">", lt)
    if (gt < 0) throw malformed("an unclosed tag", lt)
    if (xml.charCodeAt(lt + 1) === 47 /* / */) {
      const after = lt + 2 + name.length
      if (!xml.startsWith(name, lt + 2) || !isNameEnd(xml.charCodeAt(after)) || xml.slice(after, gt).trim() !== "") {
        throw malformed(`</${xml.slice(lt + 2, gt)}> closing <${name}>`, lt)
      }
      endOfElement = gt + 1
      return members ?? children ?? (text === undefined ? "" : decodeText(text))
    }
    const head = xml.charCodeAt(lt + 1)
    if (head === 33 /* ! */ || head === 63 /* ? */) {
      pos = gt + 1
      continue
    }
    let nameEnd = lt + 1
    while (nameEnd < gt && !isNameEnd(xml.charCodeAt(nameEnd))) nameEnd += 1
    const tag = xml.slice(lt + 1, nameEnd)
    let value: XmlValue = ""
    if (xml.charCodeAt(gt - 1) === 47 /* a self-closing <Tags/> */) {
      pos = gt + 1
    } else {
      value = content(xml, gt + 1, tag)
      pos = endOfElement
    }
    if (tag === "member") (members ??= []).push(value)
    else (children ??= {})[tag] = value
  }
}

/**
 * The text of the first element `name` in `xml`, without reading the rest: for a field that
 * occurs once, at any depth, such as a user's `UserName`.
 */
export const firstText = (xml: string, name: string): string | undefined => {
  const open = xml.indexOf(`<${name}>`)
  if (open < 0) return undefined
  const start = open + name.length + 2
  const end = xml.indexOf(`</${name}>`, start)
  return end < 0 ? undefined : decodeText(xml.slice(start, end))
}

/** One `<member>…</member>` (or `<member/>`) as `ListReader` hands it over. */
export const parseMember = (member: string): XmlValue => {
  const gt = member.indexOf(">")
  return member.charCodeAt(gt - 1) === 47 ? "" : content(member, gt + 1, "member")
}

/**
 * Takes the list element `name` (e.g. `UserDetailList`) out of an answer fed in pieces: each
 * member's text is handed to `onMember` as soon as it is complete (`parseMember` reads it), and
 * what `end` returns is the answer with the element left empty, for the SDK to read the rest
 * (IsTruncated, Marker). Only a piece and one member are held as text at a time: the whole
 * answer as one string (most of a megabyte) would land in V8's old generation at once, page
 * after page.
 */
export class ListReader {
  private readonly name: string
  private readonly onMember: (member: string) => void
  private readonly open: RegExp
  private readonly close: string
  private state: "before" | "inside" | "after" = "before"
  /** Text not yet consumed: before the list, the envelope so far; inside it, the unfinished member. */
  private pending = ""
  private outside = ""

  constructor(name: string, onMember: (member: string) => void) {
    this.name = name
    this.onMember = onMember
    this.open = new RegExp(`<${name}(\\s[^>]*)?(/?)>`)
    this.close = `</${name}>`
  }

  push(piece: string): void {
    let text = this.pending + piece
    this.pending = ""
    if (this.state === "before") {
      const m = this.open.exec(text)
      if (m === null) {
        // Keep what could be the start of the open tag for the next piece.
        const keep = Math.min(text.length, this.name.length + 2)
        this.outside += text.slice(0, text.length - keep)
        this.pending = text.slice(text.length - keep)
        return
      }
      this.outside += text.slice(0, m.index) + `<${this.name}/>`
      text = text.slice(m.index + m[0].length)
      this.state = m[2] === "/" ? "after" : "inside"
    }
    if (this.state === "inside") text = this.members(text)
    if (this.state === "after") this.outside += text
    else this.pending = text
  }

  end(): string {
    if (this.state === "inside") throw malformed(`no end tag for <${this.name}>`, 0)
    const rest = this.outside + this.pending
    this.outside = this.pending = ""
    return rest
  }

  /** Parses the complete members at the start of `text`; returns what is left. */
  private members(text: string): string {
    let pos = 0
    for (;;) {
      const lt = text.indexOf("<", pos)
      if (lt < 0) return text.slice(pos)
      if (text.startsWith(this.close, lt)) {
        this.state = "after"
        return text.slice(lt + this.close.length)
      }
      const gt = text.indexOf(">", lt)
      if (gt < 0) return text.slice(lt)
      if (text.charCodeAt(gt - 1) === 47) {
        this.onMember(text.slice(lt, gt + 1))
        pos = gt + 1
        continue
      }
      // A member ends at the `</member>` that balances its `<member>`: nested lists use the same tag.
      let depth = 1
      let at = gt + 1
      while (depth > 0) {
        const next = text.indexOf("member>", at)
        if (next < 0) return text.slice(lt)
        const c = text.charCodeAt(next - 1)
        if (c === 60 /* < */) depth += 1
        else if (c === 47 /* / */ && text.charCodeAt(next - 2) === 60) depth -= 1
        at = next + 7
      }
      this.onMember(text.slice(lt, at))
      pos = at
    }
  }
}

// Reading values out of a member, leniently typed: the IamUser schema checks them downstream.

export const text = (v: XmlValue | undefined): string | undefined => typeof v === "string" ? v : undefined

export const field = (e: XmlValue | undefined, name: string): XmlValue | undefined =>
  e !== undefined && typeof e === "object" && !Array.isArray(e) ? (e as XmlElement)[name] : undefined

/** A list: its members; an empty element (`<Tags/>`) is an empty list. */
export const items = (v: XmlValue | undefined): ReadonlyArray<XmlValue> | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? v : []

/** An ISO 8601 timestamp, as the SDK would read it; an unreadable one becomes an invalid Date, which the schema rejects. */
export const date = (v: XmlValue | undefined): Date | undefined => {
  const s = text(v)
  return s === undefined ? undefined : new Date(s)
}
