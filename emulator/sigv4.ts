/**
 * Who signed a request, read from its SigV4 credential scope (the `Authorization` header, or the
 * `X-Amz-Credential` query parameter of a presigned URL) and its session token. The emulator
 * routes by it (which service, which account); it does not verify signatures.
 */
import type { IncomingHttpHeaders } from "node:http"

export interface SignedBy {
  /** The access key id (`Credential=<AKID>/…`); may be anything a client sent. */
  readonly accessKeyId: string
  /** The credential scope's service (`iam`, `sts`, `organizations`); undefined when the scope is incomplete. */
  readonly service: string | undefined
  readonly region: string | undefined
  /** `X-Amz-Security-Token` (header or query). */
  readonly sessionToken: string | undefined
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** `<AKID>/<yyyymmdd>/<region>/<service>/aws4_request`, or just what precedes the first `/`. */
const parseCredential = (credential: string, sessionToken: string | undefined): SignedBy => {
  const parts = credential.split("/")
  const complete = parts.length === 5 && parts[4] === "aws4_request"
  return {
    accessKeyId: parts[0] ?? "",
    service: complete ? parts[3] : undefined,
    region: complete ? parts[2] : undefined,
    sessionToken
  }
}

/** Undefined when the request carries no SigV4 credential at all. */
export const signedBy = (headers: IncomingHttpHeaders, query: URLSearchParams): SignedBy | undefined => {
  const authorization = header(headers, "authorization")
  if (authorization !== undefined) {
    const m = /Credential=([^,\s]*)/.exec(authorization)
    if (m === null) return undefined
    return parseCredential(m[1]!, header(headers, "x-amz-security-token"))
  }
  const credential = query.get("X-Amz-Credential")
  if (credential === null) return undefined
  return parseCredential(credential, query.get("X-Amz-Security-Token") ?? undefined)
}
