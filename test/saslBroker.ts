/**
 * A Kafka broker that does nothing but SASL: it answers ApiVersions, accepts the PLAIN
 * mechanism, refuses the credentials (SASL_AUTHENTICATION_FAILED) and keeps every byte it
 * received. The tests' librdkafka mock cluster has no SASL, and a password's way onto the wire
 * is what the secrets test must see.
 */
import * as net from "node:net"
import type { AddressInfo } from "node:net"

export interface SaslBroker {
  /** `127.0.0.1:<port>`, for a kafka sink's `brokers`. */
  readonly address: string
  /** Every byte the clients sent, all connections together. */
  readonly received: () => Buffer
  readonly close: () => Promise<void>
}

// Kafka's wire format: big-endian integers, strings with an INT16 length, arrays and bytes with an INT32 one.
const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff])
const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const string = (s: string) => Buffer.concat([int16(Buffer.byteLength(s)), Buffer.from(s)])

const API_VERSIONS = 18
const SASL_HANDSHAKE = 17
const SASL_AUTHENTICATE = 36
const SASL_AUTHENTICATION_FAILED = 58

/** The body of the answer to a request of `apiKey` (header v0 and versions these bodies fit: ApiVersions v1, SaslHandshake v1, SaslAuthenticate v0). */
const answer = (apiKey: number): Buffer | undefined => {
  switch (apiKey) {
    case API_VERSIONS: // error_code, [api_key min max], throttle_time_ms
      return Buffer.concat([
        int16(0),
        int32(2),
        int16(SASL_HANDSHAKE), int16(1), int16(1),
        int16(SASL_AUTHENTICATE), int16(0), int16(0),
        int32(0)
      ])
    case SASL_HANDSHAKE: // error_code, [mechanisms]
      return Buffer.concat([int16(0), int32(1), string("PLAIN")])
    case SASL_AUTHENTICATE: // error_code, error_message, auth_bytes
      return Buffer.concat([int16(SASL_AUTHENTICATION_FAILED), string("Authentication failed: invalid username or password"), int32(0)])
    default:
      return undefined
  }
}

export const startSaslBroker = (): Promise<SaslBroker> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => socket.destroy())
      let pending = Buffer.alloc(0)
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk)
        pending = Buffer.concat([pending, chunk])
        // Each request: INT32 size, then api_key INT16, api_version INT16, correlation_id INT32, ...
        while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
          const request = pending.subarray(4, 4 + pending.readInt32BE(0))
          pending = pending.subarray(4 + request.length)
          const body = answer(request.readInt16BE(0))
          if (body === undefined) {
            socket.destroy()
            return
          }
          const response = Buffer.concat([int32(request.readInt32BE(4)), body])
          socket.write(Buffer.concat([int32(response.length), response]))
        }
      })
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      resolve({
        address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        received: () => Buffer.concat(chunks),
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
