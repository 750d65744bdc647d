import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Consumer } from "@platformatic/kafka"

/**
 * librdkafka's mock Kafka cluster (`../shared/kafka-mock`, beside the repository), started once
 * per test run by `kafkaMock.setup.ts` with its own folder, and a reader of what a topic holds.
 */

// From `test/`, or from `dist/test/` when a benchmark runs compiled.
const repoRoot = path.resolve(import.meta.dirname, import.meta.filename.endsWith(".js") ? "../.." : "..")
const scripts = path.resolve(repoRoot, "../shared/kafka-mock")

export interface KafkaMock {
  readonly bootstrap: string
  readonly stop: () => void
}

/** `topics`: pre-created, as "name:partitions" (others auto-create with 4 partitions). */
export const startKafkaMock = (topics: ReadonlyArray<string> = []): KafkaMock => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-kafka-mock-"))
  const env = { ...process.env, KAFKA_MOCK_DIR: dir }
  const out = execFileSync(path.join(scripts, "start.sh"), topics.flatMap((t) => ["-t", t]), { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  const bootstrap = /^BOOTSTRAP=(\S+)$/m.exec(out)?.[1]
  if (bootstrap === undefined) throw new Error(`kafka-mock/start.sh printed no BOOTSTRAP=: ${out}`)
  return {
    bootstrap,
    stop: () => {
      execFileSync(path.join(scripts, "stop.sh"), [], { env, stdio: "ignore" })
      fs.rmSync(dir, { recursive: true, force: true })
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
 * ListOffsets v5, whose answer the Debian build of the mock encodes without the leader epoch,
 * so the client misreads it (and a group join costs the mock's 3 s rebalance delay).
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
