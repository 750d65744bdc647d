/**
 * GetCredentialReport answers with the whole report as one base64 text node (about 30 MB at
 * 100,000 users). The SDK's XML parser took 9 s and 1 GB of heap to read that, so the answer is
 * read here as it arrives instead (after `AnswerChecker`, so in its canonical form): the base64
 * inside `<Content>` is decoded chunk by chunk and each CSV line handed to `onLine`; what the SDK
 * then parses is the same answer with an empty `<Content/>`. Only the current chunk and line are held.
 */
import { AnswerError } from "./queryXml.ts"

const OPEN = "<Content>"
const CLOSE = "</Content>"

export class ReportLines {
  private readonly onLine: (line: string) => void
  private outside = ""
  private state: "before" | "inside" | "after" = "before"
  /** Base64 characters not yet decoded (fewer than 4, or a possible partial `</Content>`). */
  private base64 = ""
  /** Decoded bytes of a line not yet complete. */
  private partial: Buffer = Buffer.alloc(0)

  constructor(onLine: (line: string) => void) {
    this.onLine = onLine
  }

  push(piece: string): void {
    let text = piece
    if (this.state === "before") {
      text = this.outside + text
      const open = text.indexOf(OPEN)
      if (open < 0) {
        this.outside = text
        return
      }
      this.outside = text.slice(0, open) + OPEN
      text = text.slice(open + OPEN.length)
      this.state = "inside"
    }
    if (this.state === "inside") {
      const pending = this.base64 + text
      const close = pending.indexOf(CLOSE)
      if (close < 0) {
        // Keep a tail that may be the start of `</Content>`; decode the rest.
        const keep = Math.min(pending.length, CLOSE.length - 1)
        this.base64 = ""
        this.decode(pending.slice(0, pending.length - keep), false)
        this.base64 += pending.slice(pending.length - keep)
        return
      }
      this.base64 = ""
      this.decode(pending.slice(0, close), true)
      this.outside += pending.slice(close)
      this.state = "after"
      return
    }
    this.outside += text
  }

  /** The answer without the report, for the SDK. */
  end(): string {
    if (this.state === "inside") throw new AnswerError("MalformedXml", "the credential report's <Content> never ended")
    return this.outside
  }

  private decode(text: string, final: boolean): void {
    const clean = (this.base64 + text).replace(/\s+/g, "")
    if (/[^A-Za-z0-9+/=]/.test(clean)) throw new AnswerError("MalformedXml", "the credential report's <Content> is not base64")
    const whole = final ? clean.length : clean.length - (clean.length % 4)
    this.base64 = clean.slice(whole)
    if (whole > 0 || final) this.lines(Buffer.from(clean.slice(0, whole), "base64"), final)
  }

  private lines(bytes: Buffer, final: boolean): void {
    let data = this.partial.length === 0 ? bytes : Buffer.concat([this.partial, bytes])
    let start = 0
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      const end = nl > start && data[nl - 1] === 0x0d ? nl - 1 : nl
      this.onLine(data.toString("utf8", start, end))
      start = nl + 1
    }
    data = data.subarray(start)
    if (final) {
      if (data.length > 0) this.onLine(data.toString("utf8"))
      this.partial = Buffer.alloc(0)
    } else {
      this.partial = Buffer.from(data)
    }
  }
}
