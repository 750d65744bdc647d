/**
 * How this project reads IAM's Query-protocol answers (XML), whichever reader reads them, and
 * the small reader of its own for the list pages too big for the SDK's XML deserializer to read
 * cheaply (about 70 ms and several MB of garbage per page of 1,000 users).
 *
 * Every answer with a 2xx status passes through `AnswerChecker` first, as it arrives
 * (`largeAnswers.ts`), and is believed only if it keeps these rules (XML 1.0, narrowed to what
 * an IAM answer is); anything else is `BadData`:
 * - The answer is one element, `<{Action}Response>`, holding `<{Action}Result>`, which holds the
 *   elements the action must return (`Iam.ts` says which): an HTML page, an empty body, another
 *   action's answer or an answer cut short says nothing about the account.
 * - Characters: XML 1.0 `Char`s only (tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD,
 *   U+10000-U+10FFFF), literal or as a character reference: `&#0;`, `&#x110000;`, a lone
 *   surrogate (`&#xD800;`), `&#xFFFF;`, a control character, and bytes that are not UTF-8 are
 *   BadData, never a value and never a crash.
 * - References: the five predefined entities and character references. Any other entity
 *   (`&nbsp;`) and a bare `&` are BadData.
 * - A DOCTYPE is BadData: IAM never sends one, and its entities would be a second source of text.
 * - CDATA sections are text, read literally; comments and processing instructions are skipped,
 *   and the text around them joins.
 * - Line ends: CRLF and CR read as LF (XML 1.0 section 2.11); `&#13;` is a CR.
 * - A leaf whose text is only whitespace with a line break reads as empty (as the SDK reads it).
 * - Attributes are checked and dropped: the only one IAM sends is the root's `xmlns`.
 *
 * The checker hands on the answer in a canonical form that keeps these rules trivially (elements
 * without attributes; no CDATA, comments or declarations; no CR; in text, only the five entities
 * and `&#13;`), so that the SDK's deserializer (small answers, and the envelope of the large
 * ones) and `content` below (the large lists) read the same values from the same text.
 * `content` reads elements and text only: `<member>` children become arrays, other children
 * object keys, leaves strings.
 */
export type XmlValue = string | XmlElement | ReadonlyArray<XmlValue>
export interface XmlElement {
  readonly [name: string]: XmlValue
}

/** Why an answer is not believed; `Iam.ts` gives it the answer's status, and `classify.ts` makes it BadData. */
export class AnswerError extends Error {
  /** `MalformedXml`: not XML by the rules above; `UnexpectedAnswer`: XML, but not this action's answer. */
  readonly code: "MalformedXml" | "UnexpectedAnswer"
  constructor(code: "MalformedXml" | "UnexpectedAnswer", message: string) {
    super(message)
    this.code = code
    this.name = code
  }
}

const malformed = (what: string, at?: number) =>
  new AnswerError("MalformedXml", `malformed XML answer: ${what}${at === undefined ? "" : ` at offset ${at}`}`)

/** XML 1.0's `Char` production. */
const isXmlChar = (cp: number): boolean =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
  (cp >= 0x10000 && cp <= 0x10ffff)

/**
 * The characters of the Basic Multilingual Plane that are not XML `Char`s, surrogates aside:
 * those are checked by `isWellFormed` (a pair is a character beyond U+FFFF; a lone one is none).
 * Two passes without the `u` flag cost a quarter of one with it (measured: 3 ms against 14 ms
 * per million characters).
 */
const NOT_XML_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/

const checkChars = (s: string): void => {
  const m = NOT_XML_CHAR.exec(s)
  if (m !== null) throw malformed(`U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} is not an XML character`)
  if (!s.isWellFormed()) throw malformed("a lone surrogate is not an XML character")
}

/** The longest reference worth waiting for: `&#x` and a code point with a few leading zeros. */
const MAX_REFERENCE = 32

/** The text of the reference `&body;`. */
const reference = (body: string): string => {
  switch (body) {
    case "amp":
      return "&"
    case "lt":
      return "<"
    case "gt":
      return ">"
    case "quot":
      return "\""
    case "apos":
      return "'"
  }
  const hex = body.startsWith("#x")
  const digits = hex ? body.slice(2) : body.startsWith("#") ? body.slice(1) : undefined
  if (digits === undefined) throw malformed(`&${body}; is not an XML entity (only &amp; &lt; &gt; &quot; &apos; are)`)
  if (!(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) throw malformed(`&${body}; is not a character reference`)
  const cp = parseInt(digits, hex ? 16 : 10)
  if (!isXmlChar(cp)) throw malformed(`&${body}; is not an XML character`)
  return String.fromCodePoint(cp)
}

/** Text with its references decoded, by the rules above. */
export const decodeText = (s: string): string => {
  let amp = s.indexOf("&")
  if (amp < 0) return s
  let out = ""
  let from = 0
  while (amp >= 0) {
    const semi = s.indexOf(";", amp + 1)
    if (semi < 0 || semi - amp > MAX_REFERENCE || !/^#?[A-Za-z0-9]+$/.test(s.slice(amp + 1, semi))) {
      throw malformed("a bare & (text writes it &amp;)")
    }
    out += s.slice(from, amp) + reference(s.slice(amp + 1, semi))
    from = semi + 1
    amp = s.indexOf("&", from)
  }
  return out + s.slice(from)
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;" }

/** Decoded text in the canonical form. */
const escapeText = (s: string): string => /[&<>\r]/.test(s) ? s.replace(/[&<>\r]/g, (c) => ESCAPES[c]!) : s

/** A leaf's text: only whitespace with a line break reads as empty, as the SDK reads it. */
const leaf = (raw: string): string => {
  const text = decodeText(raw)
  return text.includes("\n") && text.trim() === "" ? "" : text
}

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
      return members ?? children ?? (text === undefined ? "" : leaf(text))
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
  return end < 0 ? undefined : leaf(xml.slice(start, end))
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

const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*$/
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13
/** A character of an element name as IAM writes them (ASCII letters, digits, `_ : . -`). */
const isNameChar = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 58) || c === 95 || c === 46 || c === 45

/**
 * Checks one answer of `action` by the rules at the top of this module as it arrives, a piece
 * at a time, and hands its canonical form to `onPiece`; `end` says whether the answer was whole
 * and the action's own. Throws `AnswerError`. Holds only an unfinished piece of markup (or a
 * few characters of text), whatever the size of the answer: the credential report's 30 MB of
 * text flows through. An answer already canonical, as IAM's are, is handed on in slices of
 * the pieces it came in: a page of 1,000 users costs a few milliseconds.
 */
export class AnswerChecker {
  private readonly root: string
  private readonly result: string
  private readonly required: ReadonlyArray<string>
  private readonly onPiece: (canonical: string) => void
  private buffer = ""
  private state: "prolog" | "root" | "epilog" = "prolog"
  private readonly open: Array<string> = []
  private hasResult = false
  private readonly resultChildren = new Set<string>()
  private readonly names = new Map<number, string>()
  private readonly out: Array<string> = []
  private received = 0
  /** The offset in the answer of the buffer's first character. */
  private base = 0
  private start = ""

  constructor(action: string, required: ReadonlyArray<string>, onPiece: (canonical: string) => void) {
    this.root = `${action}Response`
    this.result = `${action}Result`
    this.required = required
    this.onPiece = onPiece
  }

  push(piece: string): void {
    if (piece === "") return
    // Every character of an answer, markup included, must be an XML Char.
    checkChars(piece)
    this.received += piece.length
    if (this.start.length < 80) this.start += piece.slice(0, 80 - this.start.length)
    this.buffer = this.buffer === "" ? piece : this.buffer + piece
    this.scan(false)
  }

  end(): void {
    this.scan(true)
    if (this.state === "prolog") {
      throw this.unexpected(this.received === 0 ? "an empty answer" : `no <${this.root}> element`)
    }
    if (this.state === "root") throw malformed(`the answer ends inside <${this.open.at(-1)}> (cut short?)`)
    if (!this.hasResult) throw this.unexpected(`<${this.root}> holds no <${this.result}>`)
    const missing = this.required.filter((name) => !this.resultChildren.has(name))
    if (missing.length > 0) throw this.unexpected(`<${this.result}> holds no <${missing.join(">, <")}>`)
  }

  private unexpected(what: string): AnswerError {
    const start = JSON.stringify(this.start.slice(0, 60)) + (this.received > 60 ? "..." : "")
    return new AnswerError(
      "UnexpectedAnswer",
      `not a ${this.root.slice(0, -"Response".length)} answer: ${what}` + (this.received > 0 ? `; it starts ${start}` : "")
    )
  }

  private scan(final: boolean): void {
    const b = this.buffer
    /** Read up to here; `b.slice(copied, pos)` is canonical as it is, and handed on as it is. */
    let pos = 0
    let copied = 0
    /** The next `&` and CR at or after `pos` (-1: none): text without either is canonical already. */
    let amp = b.indexOf("&")
    let cr = b.indexOf("\r")
    const replace = (from: number, to: number, canonical: string) => {
      if (from > copied) this.out.push(b.slice(copied, from))
      if (canonical !== "") this.out.push(canonical)
      copied = to
    }
    for (;;) {
      const lt = b.indexOf("<", pos)
      const textEnd = lt >= 0 ? lt : final ? b.length : this.completeText(b, pos)
      if (textEnd > pos) {
        if (this.state !== "root") {
          if (/[^ \t\r\n]/.test(b.slice(pos, textEnd))) throw this.unexpected("text outside the root element")
        } else if ((amp >= 0 && amp < textEnd) || (cr >= 0 && cr < textEnd)) {
          replace(pos, textEnd, escapeText(decodeText(normalizeLines(b.slice(pos, textEnd)))))
        }
        pos = textEnd
        if (amp >= 0 && amp < pos) amp = b.indexOf("&", pos)
        if (cr >= 0 && cr < pos) cr = b.indexOf("\r", pos)
      }
      if (lt < 0) break
      // The two tags of nearly every element, `<Name>` and `</Name>`, read here without a call.
      const c1 = b.charCodeAt(lt + 1)
      const open = this.open
      if (c1 === 47 /* / */ && open.length > 2) {
        const top = open[open.length - 1]!
        const gt = lt + 2 + top.length
        if (b.charCodeAt(gt) === 62 && b.startsWith(top, lt + 2)) {
          open.pop()
          pos = gt + 1
          continue
        }
      } else if (open.length > 2 && isNameChar(c1)) {
        // A name met before is matched whole, without reading it character by character.
        const gt = b.indexOf(">", lt + 2)
        const known = gt < 0 ? undefined : this.names.get(nameKey(c1, gt - lt - 1))
        if (known !== undefined && known.length === gt - lt - 1 && b.startsWith(known, lt + 1)) {
          open.push(known)
          pos = gt + 1
          continue
        }
        let i = lt + 2
        while (isNameChar(b.charCodeAt(i))) i += 1
        if (b.charCodeAt(i) === 62) {
          open.push(this.name(b, lt + 1, i))
          pos = i + 1
          continue
        }
      }
      const next = this.markup(b, lt, final, replace)
      if (next < 0) break
      pos = next
      if (amp >= 0 && amp < pos) amp = b.indexOf("&", pos)
      if (cr >= 0 && cr < pos) cr = b.indexOf("\r", pos)
    }
    if (final && pos < b.length) throw malformed("the answer ends inside a tag (cut short?)", this.base + pos)
    if (pos > copied) this.out.push(b.slice(copied, pos))
    this.buffer = pos === 0 ? b : b.slice(pos)
    this.base += pos
    if (this.out.length > 0) {
      const canonical = this.out.length === 1 ? this.out[0]! : this.out.join("")
      this.out.length = 0
      this.onPiece(canonical)
    }
  }

  /** The element name at `from`..`to`: the string met before when it is the same (a page has 30 names, 50,000 times). */
  private name(b: string, from: number, to: number): string {
    const key = nameKey(b.charCodeAt(from), to - from)
    const known = this.names.get(key)
    if (known !== undefined && known.length === to - from && b.startsWith(known, from)) return known
    const name = b.slice(from, to)
    this.names.set(key, name)
    return name
  }

  /** How much of the text from `pos` can be read now: not a reference or a CR that may go on in the next piece. */
  private completeText(b: string, pos: number): number {
    let end = b.length
    if (b.charCodeAt(end - 1) === 13) end -= 1
    const amp = b.lastIndexOf("&", end - 1)
    if (amp >= pos && b.indexOf(";", amp) < 0) {
      if (end - amp > MAX_REFERENCE) throw malformed("a bare & (text writes it &amp;)")
      end = amp
    }
    return Math.max(pos, end)
  }

  /**
   * The markup at `lt`: the offset after it, or -1 when it is not all there yet. What is not
   * canonical as it is goes through `replace`.
   */
  private markup(b: string, lt: number, final: boolean, replace: (from: number, to: number, canonical: string) => void): number {
    const c1 = b.charCodeAt(lt + 1)
    if (c1 === 47 /* / */) {
      const gt = b.indexOf(">", lt + 2)
      if (gt < 0) return final ? this.fail("an end tag that never ends") : -1
      this.closeTag(b, lt, gt)
      return gt + 1
    }
    if (isNameChar(c1)) {
      // `<Name>` or `<Name/>`, as IAM writes every element but the root.
      let i = lt + 1
      while (i < b.length && isNameChar(b.charCodeAt(i))) i += 1
      const c = b.charCodeAt(i)
      if (c === 62 /* > */) {
        this.openTag(b.slice(lt + 1, i), false, lt)
        return i + 1
      }
      if (c === 47 /* / */ && b.charCodeAt(i + 1) === 62) {
        this.openTag(b.slice(lt + 1, i), true, lt)
        return i + 2
      }
      if (i + 1 >= b.length && !final) return -1
      return this.startTag(b, lt, final, replace)
    }
    if (b.startsWith("<!--", lt)) {
      const close = b.indexOf("-->", lt + 4)
      if (close < 0) return final ? this.fail("a comment that never ends") : -1
      replace(lt, close + 3, "")
      return close + 3
    }
    if (b.startsWith("<![CDATA[", lt)) {
      if (this.state !== "root") throw malformed("CDATA outside the root element", this.base + lt)
      const close = b.indexOf("]]>", lt + 9)
      if (close < 0) return final ? this.fail("a CDATA section that never ends") : -1
      replace(lt, close + 3, escapeText(normalizeLines(b.slice(lt + 9, close))))
      return close + 3
    }
    if (c1 === 63 /* ? */) {
      const close = b.indexOf("?>", lt + 2)
      if (close < 0) return final ? this.fail("a processing instruction that never ends") : -1
      replace(lt, close + 2, "")
      return close + 2
    }
    if (lt + 1 >= b.length) return final ? this.fail("a lone <") : -1
    if (c1 === 33 /* ! */) {
      const head = b.slice(lt, lt + 9).toUpperCase()
      if (!final && head.length < 9 && ["<!--", "<![CDATA[", "<!DOCTYPE"].some((m) => m.startsWith(head))) return -1
      if (head === "<!DOCTYPE") {
        if (this.state === "prolog") throw this.unexpected("a DOCTYPE (IAM answers have none; an HTML page?)")
        throw malformed("a DOCTYPE", this.base + lt)
      }
      throw malformed(`${JSON.stringify(b.slice(lt, lt + 9))}: a markup declaration`, this.base + lt)
    }
    throw malformed(`${JSON.stringify(b.slice(lt, lt + 9))}: not an element`, this.base + lt)
  }

  private fail(what: string): never {
    throw malformed(`${what} (cut short?)`)
  }

  /** A start tag with attributes (or spaces): read to find where it ends (a quoted value may hold >), checked, dropped. */
  private startTag(b: string, lt: number, final: boolean, replace: (from: number, to: number, canonical: string) => void): number {
    let i = lt + 1
    while (i < b.length && !isSpace(b.charCodeAt(i)) && b.charCodeAt(i) !== 62 && b.charCodeAt(i) !== 47) i += 1
    if (i >= b.length) return final ? this.fail("a tag that never ends") : -1
    const name = b.slice(lt + 1, i)
    if (!NAME.test(name)) throw malformed(`<${name}: not an element name`, this.base + lt)
    for (;;) {
      while (i < b.length && isSpace(b.charCodeAt(i))) i += 1
      if (i >= b.length) return final ? this.fail("a tag that never ends") : -1
      const c = b.charCodeAt(i)
      if (c === 62 /* > */) {
        replace(lt, i + 1, `<${name}>`)
        this.openTag(name, false, lt)
        return i + 1
      }
      if (c === 47 /* / */) {
        if (i + 1 >= b.length) return final ? this.fail("a tag that never ends") : -1
        if (b.charCodeAt(i + 1) !== 62) throw malformed(`<${name} ... / without >`, this.base + lt)
        replace(lt, i + 2, `<${name}/>`)
        this.openTag(name, true, lt)
        return i + 2
      }
      const eq = b.indexOf("=", i)
      if (eq < 0) return final ? this.fail("a tag that never ends") : -1
      const attribute = b.slice(i, eq).trimEnd()
      if (!NAME.test(attribute)) throw malformed(`<${name} ${attribute}: not an attribute`, this.base + lt)
      let q = eq + 1
      while (q < b.length && isSpace(b.charCodeAt(q))) q += 1
      if (q >= b.length) return final ? this.fail("a tag that never ends") : -1
      const quote = b[q]
      if (quote !== "\"" && quote !== "'") throw malformed(`<${name} ${attribute}=: the value is not quoted`, this.base + lt)
      const close = b.indexOf(quote, q + 1)
      if (close < 0) return final ? this.fail("a tag that never ends") : -1
      const value = b.slice(q + 1, close)
      if (value.includes("<")) throw malformed(`<${name} ${attribute}=: < in an attribute value`, this.base + lt)
      decodeText(value)
      i = close + 1
      if (i < b.length && !isSpace(b.charCodeAt(i)) && b.charCodeAt(i) !== 62 && b.charCodeAt(i) !== 47) {
        throw malformed(`<${name} ${attribute}=...: no space before the next attribute`, this.base + lt)
      }
    }
  }

  private openTag(name: string, empty: boolean, lt: number): void {
    if (this.state === "epilog") throw malformed(`<${name}> after the root element`, this.base + lt)
    if (this.state === "prolog") {
      if (name !== this.root) throw this.unexpected(`<${name}> where <${this.root}> was expected`)
      this.state = "root"
    } else if (this.open.length === 1) {
      if (name === this.result) this.hasResult = true
    } else if (this.open.length === 2 && this.open[1] === this.result) {
      this.resultChildren.add(name)
    }
    if (!empty) this.open.push(name)
    else if (this.open.length === 0) this.state = "epilog"
  }

  /** `</name>` from `lt` to `gt`: it must close the element open last. */
  private closeTag(b: string, lt: number, gt: number): void {
    const top = this.open.pop()
    const end = lt + 2 + (top?.length ?? 0)
    if (top === undefined || !b.startsWith(top, lt + 2) || (end < gt && b.slice(end, gt).trim() !== "")) {
      const name = b.slice(lt + 2, gt).trim()
      throw malformed(top === undefined ? `</${name}> outside any element` : `</${name}> closing <${top}>`, this.base + lt)
    }
    if (this.open.length === 0) this.state = "epilog"
  }
}

/** The key of a name in `AnswerChecker`'s names met: its first character and its length. */
const nameKey = (first: number, length: number) => first * 4096 + length

const normalizeLines = (s: string): string => s.indexOf("\r") < 0 ? s : s.replace(/\r\n?/g, "\n")

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
