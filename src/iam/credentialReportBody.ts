/**
 * GetCredentialReport answers with the whole report as one base64 text node (about 30 MB at
 * 100,000 users). The SDK's XML parser took 9 s and 1 GB of heap to read that, so the body is
 * read here as it arrives instead: the base64 inside `<Content>` is decoded chunk by chunk and
 * each CSV line handed to `onLine`; what the SDK then parses is the same answer with an empty
 * `<Content/>`. Only the current chunk and line are held.
 */
export const extractReportLines = async (
  body: AsyncIterable<Uint8Array | string>,
  onLine: (line: string) => void
): Promise<string> => {
  const OPEN = "<Content>"
  const CLOSE = "</Content>"
  let outside = ""
  let state: "before" | "inside" | "after" = "before"
  /** Base64 characters not yet decoded (fewer than 4, or a possible partial `</Content>`). */
  let base64 = ""
  /** Decoded bytes of a line not yet complete. */
  let partial: Buffer = Buffer.alloc(0)

  const lines = (bytes: Buffer, final: boolean) => {
    let data = partial.length === 0 ? bytes : Buffer.concat([partial, bytes])
    let start = 0
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      const end = nl > start && data[nl - 1] === 0x0d ? nl - 1 : nl
      onLine(data.toString("utf8", start, end))
      start = nl + 1
    }
    data = data.subarray(start)
    if (final) {
      if (data.length > 0) onLine(data.toString("utf8"))
      partial = Buffer.alloc(0)
    } else {
      partial = Buffer.from(data)
    }
  }

  const decode = (text: string, final: boolean) => {
    const clean = (base64 + text).replace(/\s+/g, "")
    const whole = final ? clean.length : clean.length - (clean.length % 4)
    base64 = clean.slice(whole)
    if (whole > 0 || final) lines(Buffer.from(clean.slice(0, whole), "base64"), final)
  }

  for await (const chunk of body) {
    let text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("latin1")
    if (state === "before") {
      text = outside + text
      const open = text.indexOf(OPEN)
      if (open < 0) {
        outside = text
        continue
      }
      outside = text.slice(0, open) + OPEN
      text = text.slice(open + OPEN.length)
      state = "inside"
    }
    if (state === "inside") {
      const pending = base64 + text
      const close = pending.indexOf(CLOSE)
      if (close < 0) {
        // Keep a tail that may be the start of `</Content>`; decode the rest.
        const keep = Math.min(pending.length, CLOSE.length - 1)
        base64 = ""
        decode(pending.slice(0, pending.length - keep), false)
        base64 += pending.slice(pending.length - keep)
        continue
      }
      base64 = ""
      decode(pending.slice(0, close), true)
      outside += pending.slice(close)
      state = "after"
      continue
    }
    outside += text
  }
  if (state === "inside") throw new Error("the credential report's <Content> never ended")
  // The envelope is ASCII XML; the content, the only part that could be otherwise, is gone.
  return outside
}
