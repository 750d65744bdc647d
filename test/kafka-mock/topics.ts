/**
 * The topics the test broker creates when it starts, one per test that writes to Kafka: the
 * mock, like a production broker, does not create a topic because a producer asked for it.
 */
export const testTopics = {
  produced: { name: "iam-ocsf-produced", partitions: 4 },
  compressed: { name: "iam-ocsf-compressed", partitions: 4 },
  cli: { name: "iam-ocsf-cli", partitions: 4 },
  threePartitions: { name: "iam-ocsf-three-partitions", partitions: 3 },
  traceparent: { name: "iam-ocsf-traceparent", partitions: 4 },
  allSinks: { name: "iam-ocsf-all-sinks", partitions: 4 },
  check: { name: "iam-ocsf-check", partitions: 2 }
} as const

/** As the broker's `-t` option wants them: "name:partitions". */
export const topicArguments = (topics: ReadonlyArray<{ readonly name: string; readonly partitions: number }>) =>
  topics.map((t) => `${t.name}:${t.partitions}`)
