/**
 * An OTLP/HTTP receiver on 127.0.0.1 for the telemetry tests: takes `http/json` and
 * `http/protobuf` requests, answers as told (200, an error status, or never), and keeps what it
 * got. Protobuf bodies are read by a small wire-format reader written from the OTLP `.proto`
 * files (opentelemetry-proto), independent of the exporters' own serializers, into the shape of
 * OTLP/JSON, so that the tests read both protocols the same way.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly path: string
  readonly contentType: string
  readonly headers: http.IncomingHttpHeaders
  /** The request as OTLP/JSON: `{ resourceSpans }` or `{ resourceMetrics }`. */
  readonly body: any
}

export type Answer = number | "never"

export interface Receiver {
  readonly url: string
  readonly received: Array<Received>
  readonly close: () => Promise<void>
}

// ---- The protobuf wire format: varints, 64-bit, length-delimited and 32-bit fields.

interface Field {
  readonly no: number
  readonly varint?: bigint
  readonly bytes?: Buffer
}

const fieldsOf = (buffer: Buffer): Array<Field> => {
  const fields: Array<Field> = []
  let at = 0
  const varint = (): bigint => {
    let result = 0n
    let shift = 0n
    for (;;) {
      const byte = buffer[at++]
      if (byte === undefined) throw new Error("truncated varint")
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result
      shift += 7n
    }
  }
  const take = (n: number) => {
    if (at + n > buffer.length) throw new Error("truncated field")
    const bytes = buffer.subarray(at, at + n)
    at += n
    return bytes
  }
  while (at < buffer.length) {
    const key = Number(varint())
    const no = key >>> 3
    switch (key & 7) {
      case 0:
        fields.push({ no, varint: varint() })
        break
      case 1:
        fields.push({ no, bytes: take(8) })
        break
      case 2:
        fields.push({ no, bytes: take(Number(varint())) })
        break
      case 5:
        fields.push({ no, bytes: take(4) })
        break
      default:
        throw new Error(`unsupported wire type ${key & 7}`)
    }
  }
  return fields
}

const all = (fields: ReadonlyArray<Field>, no: number) => fields.filter((f) => f.no === no)
const one = (fields: ReadonlyArray<Field>, no: number) => all(fields, no).at(-1)
const text = (field: Field | undefined) => field?.bytes?.toString("utf8")
const hex = (field: Field | undefined) => field?.bytes === undefined || field.bytes.length === 0 ? undefined : field.bytes.toString("hex")
const messages = <A>(fields: ReadonlyArray<Field>, no: number, read: (fields: Array<Field>) => A): Array<A> =>
  all(fields, no).map((f) => read(fieldsOf(f.bytes!)))

// ---- The OTLP messages the tests read (opentelemetry/proto/{common,resource,trace,metrics}/v1).

/** AnyValue: 1 string, 2 bool, 3 int64, 4 double. */
const anyValue = (f: Array<Field>): Record<string, unknown> => {
  const [first] = f
  if (first === undefined) return {}
  switch (first.no) {
    case 1:
      return { stringValue: text(first) }
    case 2:
      return { boolValue: first.varint !== 0n }
    case 3:
      return { intValue: String(BigInt.asIntN(64, first.varint!)) }
    case 4:
      return { doubleValue: first.bytes!.readDoubleLE(0) }
    default:
      return { other: first.no }
  }
}

/** KeyValue: 1 key, 2 value. */
const keyValue = (f: Array<Field>) => ({ key: text(one(f, 1)), value: anyValue(fieldsOf(one(f, 2)?.bytes ?? Buffer.alloc(0))) })

/** Resource: 1 attributes. */
const resource = (f: Array<Field>) => ({ attributes: messages(f, 1, keyValue) })

/** Span: 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 9 attributes. */
const span = (f: Array<Field>) => ({
  traceId: hex(one(f, 1)),
  spanId: hex(one(f, 2)),
  parentSpanId: hex(one(f, 4)),
  name: text(one(f, 5)),
  attributes: messages(f, 9, keyValue)
})

/** ExportTraceServiceRequest: 1 ResourceSpans (1 resource, 2 ScopeSpans (2 spans)). */
const traceRequest = (f: Array<Field>) => ({
  resourceSpans: messages(f, 1, (rs) => ({
    resource: messages(rs, 1, resource)[0],
    scopeSpans: messages(rs, 2, (ss) => ({ spans: messages(ss, 2, span) }))
  }))
})

/** NumberDataPoint: 4 as_double, 6 as_int, 7 attributes. */
const numberDataPoint = (f: Array<Field>) => {
  const asDouble = one(f, 4)
  const asInt = one(f, 6)
  return {
    ...(asDouble === undefined ? {} : { asDouble: asDouble.bytes!.readDoubleLE(0) }),
    ...(asInt === undefined ? {} : { asInt: String(asInt.bytes!.readBigInt64LE(0)) }),
    attributes: messages(f, 7, keyValue)
  }
}

/** Metric: 1 name, 5 gauge, 7 sum (1 data points), 9 histogram (kept as present). */
const metric = (f: Array<Field>) => ({
  name: text(one(f, 1)),
  ...(one(f, 5) === undefined ? {} : { gauge: { dataPoints: messages(fieldsOf(one(f, 5)!.bytes!), 1, numberDataPoint) } }),
  ...(one(f, 7) === undefined ? {} : { sum: { dataPoints: messages(fieldsOf(one(f, 7)!.bytes!), 1, numberDataPoint) } }),
  ...(one(f, 9) === undefined ? {} : { histogram: {} })
})

/** ExportMetricsServiceRequest: 1 ResourceMetrics (1 resource, 2 ScopeMetrics (2 metrics)). */
const metricsRequest = (f: Array<Field>) => ({
  resourceMetrics: messages(f, 1, (rm) => ({
    resource: messages(rm, 1, resource)[0],
    scopeMetrics: messages(rm, 2, (sm) => ({ metrics: messages(sm, 2, metric) }))
  }))
})

const decode = (path: string, contentType: string, raw: Buffer): any => {
  if (contentType.startsWith("application/json")) return JSON.parse(raw.toString("utf8"))
  if (!contentType.startsWith("application/x-protobuf")) throw new Error(`unexpected content-type ${contentType}`)
  const fields = fieldsOf(raw)
  if (path === "/v1/traces") return traceRequest(fields)
  if (path === "/v1/metrics") return metricsRequest(fields)
  throw new Error(`unexpected path ${path}`)
}

/** A receiver answering every request with `answer`: a status (with an OTLP error body when not 2xx), or never. */
export const startReceiver = (answer: Answer = 200): Promise<Receiver> =>
  new Promise((resolve) => {
    const received: Array<Received> = []
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const contentType = req.headers["content-type"] ?? ""
        const path = req.url ?? ""
        let body: any
        try {
          body = decode(path, contentType, Buffer.concat(chunks))
        } catch (error) {
          // Kept for the test to fail on, rather than thrown into the server.
          body = { undecodable: String(error) }
        }
        received.push({ path, contentType, headers: req.headers, body })
        if (answer === "never") return
        const ok = answer >= 200 && answer < 300
        res.writeHead(answer, { "content-type": "application/json" })
        res.end(ok ? "{}" : JSON.stringify({ code: 3, message: "refused by the test receiver" }))
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        received,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      }))
  })

/** The spans of every trace request, flattened. */
export const spansOf = (received: ReadonlyArray<Received>): Array<any> =>
  received.filter((r) => r.path === "/v1/traces")
    .flatMap((r) => r.body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)))

/** The metrics of every metrics request, flattened, in the order they arrived. */
export const metricsOf = (received: ReadonlyArray<Received>): Array<any> =>
  received.filter((r) => r.path === "/v1/metrics")
    .flatMap((r) => r.body.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics)))

/** The value of a sum's first data point, whichever of `asDouble`/`asInt` it has. */
export const sumValue = (metric: any): number => {
  const point = metric.sum.dataPoints[0]
  return Number(point.asDouble ?? point.asInt)
}

/** OTLP attributes as a plain object. */
export const attributes = (list: ReadonlyArray<{ key: string; value: Record<string, unknown> }>) =>
  Object.fromEntries(list.map((a) => [a.key, Object.values(a.value)[0]]))
