/**
 * The IAM client's request signing with `sha256.ts`: the same SigV4 signature as with the SDK's
 * own SHA-256, for the same request, credentials and time.
 */
import { describe, expect, it } from "vitest"
import { Sha256Node } from "@smithy/core/checksum"
import { SignatureV4 } from "@smithy/signature-v4"
import { Sha256 } from "../src/iam/sha256.ts"

const request = (body: string) => ({
  method: "POST",
  protocol: "https:",
  hostname: "iam.amazonaws.com",
  path: "/",
  headers: { host: "iam.amazonaws.com", "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
  body
})

const sign = (sha256: typeof Sha256 | typeof Sha256Node, body: string, signingDate: Date) =>
  new SignatureV4({
    service: "iam",
    region: "us-east-1",
    sha256,
    credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" }
  }).sign(request(body), { signingDate })

describe("request signing", () => {
  it("signs every request as the SDK's own SHA-256 would, day after day", async () => {
    for (const [i, body] of ["Action=ListUsers&Version=2010-05-08", "Action=ListUserTags&UserName=zo%C3%AB&Version=2010-05-08", ""].entries()) {
      // A different day each time: a new signing key, then the same one again.
      for (const day of [1, 2, 1]) {
        const at = new Date(Date.UTC(2026, 10, day + i, 12))
        const [ours, sdks] = await Promise.all([sign(Sha256, body, at), sign(Sha256Node, body, at)])
        expect(ours.headers["authorization"]).toBe(sdks.headers["authorization"])
        expect(ours.headers["x-amz-content-sha256"] ?? "").toBe(sdks.headers["x-amz-content-sha256"] ?? "")
      }
    }
  })
})
