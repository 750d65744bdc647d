/**
 * A real Kafka wire-protocol peer for the tests and the sinks benchmark: librdkafka's mock
 * cluster (`mock-broker.c`, built by `build.ts`), started as a child process, and a reader of
 * what a topic holds.
 */
import { spawn } from "node:child_process"
import { Consumer } from "@platformatic/kafka"
import { mockBrokerBinary } from "./build.ts"

export interface KafkaMock {
  readonly bootstrap: string
  readonly stop: () => Promise<void>
}

/**
 * Starts a mock cluster of one broker on 127.0.0.1. `topics` are pre-created, as
 * "name:partitions" (others auto-create with 4 partitions on first use). The child stops when
 * `stop` is called or when this process ends (its stdin is a pipe from this process).
 */
export const startKafkaMock = async (topics: ReadonlyArray<string> = []): Promise<KafkaMock> => {
  const binary = mockBrokerBinary()
  const child = spawn(binary, topics.flatMap((t) => ["-t", t]), { stdio: ["pipe", "pipe", "pipe"] })
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr = (stderr + chunk).slice(-4000))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => reject(new Error(`the Kafka mock printed no address in 10 s: ${stderr}`)), 10_000)
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
      const address = /^BOOTSTRAP=(\S+)$/m.exec(out)?.[1]
      if (address !== undefined) {
        clearTimeout(timer)
        resolve(address)
      }
    })
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the Kafka mock exited (${signal ?? code}) before listening: ${stderr}`))
    })
  })
  // The broker must not keep a test run or a benchmark alive by itself.
  child.unref()
  return {
    bootstrap,
    stop: async () => {
      child.stdin.end()
      child.kill("SIGTERM")
      await exited
    }
  }
}

export interface KafkaRecord {
  readonly partition: number
  readonly offset: bigint
  readonly key: string | undefined
  readonly value: string
  readonly headers: Readonly<Record<string, string>>
}

/**
 * Every record of `topic`, read with the client's `Consumer` from offset 0 up to each partition's
 * high watermark. Not through `consume()`: its consumer-group path lists offsets with
 * ListOffsets v5, whose answer older builds of the mock encode without the leader epoch, so the
 * client misreads it (and a group join costs the mock's 3 s rebalance delay).
 */
export const readTopic = async (bootstrap: string, topic: string): Promise<Array<KafkaRecord>> => {
  const consumer = new Consumer({ groupId: "iam-ocsf-test-reader", clientId: "iam-ocsf-test-reader", bootstrapBrokers: [bootstrap], maxWaitTime: 100 })
  try {
    const metadata = await consumer.metadata({ topics: [topic] })
    const info = metadata.topics.get(topic)
    if (info === undefined) return []
    const records: Array<KafkaRecord> = []
    for (let partition = 0; partition < info.partitionsCount; partition++) {
      let offset = 0n
      for (;;) {
        const response = await consumer.fetch({
          node: info.partitions[partition]!.leader,
          topics: [{
            topicId: info.id,
            partitions: [{ partition, fetchOffset: offset, partitionMaxBytes: 4 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }]
          }]
        })
        const answer = response.responses[0]!.partitions[0]!
        let read = 0
        for (const batch of answer.records ?? []) {
          for (const record of batch.records) {
            const at = batch.firstOffset + BigInt(record.offsetDelta)
            if (at < offset) continue
            records.push({
              partition,
              offset: at,
              key: record.key?.toString(),
              value: record.value?.toString() ?? "",
              headers: Object.fromEntries([...(record.headers ?? [])].map(([k, v]) => [String(k), String(v)]))
            })
            offset = at + 1n
            read += 1
          }
        }
        if (read === 0 || offset >= answer.highWatermark) break
      }
    }
    return records
  } finally {
    await consumer.close()
  }
}
