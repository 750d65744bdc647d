/**
 * The daemon's operations endpoint: `/healthz` (the process answers), `/readyz` (the last run
 * succeeded recently, see `health.ts`) and `/metrics` (Prometheus text). Plain `node:http`:
 * three fixed GET routes need no router or middleware, and loading the Effect HTTP server
 * stack would cost startup time for nothing.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { causeText } from "../common/causeText.ts"
import type { DaemonHealth, Readiness } from "./health.ts"

export class OpsServerError extends Schema.TaggedError<OpsServerError>()("OpsServerError", {
  message: Schema.String
}) {}

export interface OpsServerOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly health: DaemonHealth
  /** Every metric in the Prometheus text format. */
  readonly metrics: Effect.Effect<string>
  /** What /readyz answers, instead of `health`'s last run (a coordinated worker asks its database). */
  readonly readiness?: Effect.Effect<Readiness> | undefined
}

export interface OpsServer {
  readonly url: string
  readonly port: number
}

const prometheusType = "text/plain; version=0.0.4; charset=utf-8"

export const opsServer = (options: OpsServerOptions): Effect.Effect<OpsServer, OpsServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const run = Effect.runPromiseWith(context)

    const send = (res: http.ServerResponse, head: boolean, status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" })
      res.end(head ? undefined : body)
    }

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const path = new URL(req.url ?? "/", "http://localhost").pathname
      const head = req.method === "HEAD"
      if (req.method !== "GET" && !head) {
        res.writeHead(405, { allow: "GET, HEAD" })
        return void res.end()
      }
      switch (path) {
        case "/healthz":
          return send(res, head, 200, "text/plain; charset=utf-8", "ok\n")
        case "/readyz": {
          const readiness = options.readiness === undefined
            ? options.health.readiness(await run(Clock.currentTimeMillis))
            : await run(options.readiness)
          return send(res, head, readiness.ready ? 200 : 503, "application/json", JSON.stringify(readiness) + "\n")
        }
        case "/metrics":
          return send(res, head, 200, prometheusType, await run(options.metrics))
        default:
          return send(res, head, 404, "text/plain; charset=utf-8", "not found: try /healthz, /readyz or /metrics\n")
      }
    }

    const server = http.createServer((req, res) => {
      handle(req, res).catch((error) => {
        if (!res.headersSent) send(res, false, 500, "text/plain; charset=utf-8", `${causeText(error)}\n`)
        else res.destroy()
      })
    })

    const port = yield* Effect.acquireRelease(
      Effect.callback<number, OpsServerError>((resume) => {
        const onError = (error: Error) =>
          resume(Effect.fail(
            new OpsServerError({ message: `cannot listen on ${options.host}:${options.port}: ${error.message}` })
          ))
        server.once("error", onError)
        server.listen(options.port, options.host, () => {
          server.off("error", onError)
          resume(Effect.succeed((server.address() as AddressInfo).port))
        })
      }),
      () =>
        Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          // Scrapers keep connections alive; without this, close would wait for them.
          server.closeAllConnections()
        })
    )
    const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`
    yield* Effect.logInfo(
      `operations endpoint listening on ${url} (bound to ${options.host}:${port}; /healthz, /readyz, /metrics)`
    )
    return { url, port }
  })
