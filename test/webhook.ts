/** A webhook receiver on 127.0.0.1 for the HTTP sink's tests: answers as told, keeps what it got. */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { gunzipSync } from "node:zlib"

export interface Received {
  readonly status: number | "hang"
  readonly headers: http.IncomingHttpHeaders
  /** The body as sent: gzipped bytes are kept to compare sizes. */
  readonly bytes: number
  readonly events: ReadonlyArray<any>
}

export type Answer =
  | {
    readonly status: number
    readonly headers?: Record<string, string>
    readonly body?: string
    /** Answer this long after the request arrived. */
    readonly delayMs?: number
  }
  | "hang"

export interface Webhook {
  readonly url: string
  readonly port: number
  readonly received: Array<Received>
  /** Events of the requests answered 2xx, in the order they arrived. */
  readonly accepted: () => Array<any>
  /** The most requests that were waiting for their answer at the same time. */
  readonly mostInFlight: () => number
  readonly close: () => Promise<void>
}

const decode = (headers: http.IncomingHttpHeaders, raw: Buffer): Array<any> => {
  const text = (headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8")
  if (headers["content-type"] === "application/x-ndjson") {
    return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))
  }
  return JSON.parse(text)
}

export const startWebhook = (
  answer: (n: number, received: Omit<Received, "status">) => Answer = () => ({ status: 200 }),
  /** `healthStatus`: the answer to a GET (a healthcheck), default 200; GETs are not recorded. */
  options: { readonly port?: number; readonly healthStatus?: number } = {}
): Promise<Webhook> =>
  new Promise((resolve, reject) => {
    const received: Array<Received> = []
    const hanging = new Set<http.ServerResponse>()
    let inFlight = 0
    let mostInFlight = 0
    const server = http.createServer((req, res) => {
      if (req.method === "GET") {
        const status = options.healthStatus ?? 200
        res.writeHead(status).end(status === 200 ? "healthy" : "unhealthy: index queue full")
        return
      }
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const raw = Buffer.concat(chunks)
        let events: Array<any>
        try {
          events = decode(req.headers, raw)
        } catch {
          // A body we cannot read is a failed test, not a hung one.
          received.push({ headers: req.headers, bytes: raw.length, events: [], status: 415 })
          res.writeHead(415).end("undecodable body")
          return
        }
        const request = { headers: req.headers, bytes: raw.length, events }
        const reply = answer(received.length, request)
        received.push({ ...request, status: reply === "hang" ? "hang" : reply.status })
        inFlight += 1
        mostInFlight = Math.max(mostInFlight, inFlight)
        res.once("close", () => void (inFlight -= 1))
        if (reply === "hang") {
          hanging.add(res)
          return
        }
        setTimeout(() => {
          res.writeHead(reply.status, reply.headers)
          res.end(reply.body ?? "")
        }, reply.delayMs ?? 0)
      })
    })
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      resolve({
        url: `http://127.0.0.1:${port}/ingest`,
        port,
        received,
        mostInFlight: () => mostInFlight,
        accepted: () =>
          received.filter((r) => typeof r.status === "number" && r.status >= 200 && r.status < 300).flatMap((r) => r.events),
        close: () =>
          new Promise<void>((done) => {
            for (const res of hanging) res.destroy()
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

/** A port nothing listens on yet (for a server that comes up late). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = http.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const port = (probe.address() as AddressInfo).port
      probe.close(() => resolve(port))
    })
  })
