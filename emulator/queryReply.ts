/**
 * The two answers of the AWS Query protocol, as IAM and STS give them: `<ActionResponse>` with
 * its `<ActionResult>` and request id, or an `<ErrorResponse>` (Sender for 4xx, Receiver for
 * 5xx). The services differ only by their XML namespace.
 */
import { randomUUID } from "node:crypto"
import type { Outcome } from "./faults.ts"
import { el } from "./xml.ts"

export interface QueryReply {
  readonly status: number
  readonly body: string
  readonly outcome: Outcome
  readonly requestId: string
  /** Default `text/xml`. */
  readonly contentType?: string
}

/** The service's answer builders, for its namespace. */
export const queryReplies = (xmlns: string) => ({
  ok: (action: string, result: string): QueryReply => {
    const requestId = randomUUID()
    return {
      status: 200,
      outcome: "ok",
      requestId,
      body: `<${action}Response xmlns="${xmlns}"><${action}Result>${result}</${action}Result>` +
        `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
    }
  },
  fail: (status: number, code: string, message: string, outcome: Outcome): QueryReply => {
    const requestId = randomUUID()
    return {
      status,
      outcome,
      requestId,
      body: `<ErrorResponse xmlns="${xmlns}"><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type>` +
        `${el("Code", code)}${el("Message", message)}</Error><RequestId>${requestId}</RequestId></ErrorResponse>`
    }
  }
})
