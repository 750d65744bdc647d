/**
 * The overlap recorder: did two collectors read one account at the same time? The emulator
 * cannot see where a collection starts or ends, so it infers them from the IAM calls:
 *
 * - A **collector** is who signed the call: an AssumeRole session counts as the collector
 *   `<who assumed it>/<RoleSessionName>` (so the sessions one client renews stay one collector),
 *   any other access key as `key:<access key id>`. Two workers are told apart when they use
 *   different base access keys (the emulator accepts any) or different session names.
 * - A **collection** is a run of one collector's IAM calls to one account with no gap longer
 *   than `gapMs` between the end of an answer and the next call (a call in flight keeps it open).
 * - Two collections **overlap** when their time spans intersect: a call from collector C finds
 *   another collector D with a call in flight, or with a call that ended after C's current
 *   collection began. A hand-over (D's last answer before C's first call) is no overlap.
 *
 * Keep `gapMs` below the shortest pause between two collections of one account by the same
 * collector, or the two are read as one collection spanning whatever ran in between.
 */

export interface Collection {
  readonly collector: string
  /** Milliseconds since the recorder started (monotonic clock). */
  readonly startMs: number
  readonly endMs: number
  readonly calls: number
}

export interface Overlap {
  readonly atMs: number
  readonly collectors: readonly [string, string]
}

export interface OverlapRecord {
  readonly accountId: string
  /** Whether two collections of this account ever overlapped. */
  readonly overlapped: boolean
  /** Distinct pairs of overlapping collections. */
  readonly overlaps: number
  readonly firstOverlap: Overlap | undefined
  /** Every collection seen, oldest first (at most the last 1,000). */
  readonly collections: ReadonlyArray<Collection>
}

export interface OverlapRecorder {
  /** Records the start of an IAM call; the returned function records its end (call it once). */
  begin(accountId: string, collector: string): () => void
  record(accountId: string): OverlapRecord
  /** Ids of the accounts that saw two collectors at once. */
  overlappedAccounts(): ReadonlyArray<string>
  reset(): void
}

interface Open {
  readonly id: number
  readonly collector: string
  startMs: number
  lastEndMs: number
  inFlight: number
  calls: number
}

interface AccountLog {
  readonly open: Map<string, Open>
  readonly closed: Array<Collection>
  readonly pairs: Set<string>
  firstOverlap: Overlap | undefined
}

const MAX_COLLECTIONS = 1_000

const toCollection = (o: Open): Collection => ({ collector: o.collector, startMs: o.startMs, endMs: o.lastEndMs, calls: o.calls })

export const makeOverlapRecorder = (gapMs: number, clock: () => number = () => performance.now()): OverlapRecorder => {
  const origin = clock()
  const now = () => clock() - origin
  let logs = new Map<string, AccountLog>()
  let nextId = 0

  const logOf = (accountId: string): AccountLog => {
    let log = logs.get(accountId)
    if (log === undefined) {
      log = { open: new Map(), closed: [], pairs: new Set(), firstOverlap: undefined }
      logs.set(accountId, log)
    }
    return log
  }

  return {
    begin: (accountId, collector) => {
      const t = now()
      const log = logOf(accountId)
      let mine = log.open.get(collector)
      if (mine === undefined || (mine.inFlight === 0 && t - mine.lastEndMs > gapMs)) {
        if (mine !== undefined) {
          log.closed.push(toCollection(mine))
          if (log.closed.length > MAX_COLLECTIONS) log.closed.shift()
        }
        mine = { id: nextId++, collector, startMs: t, lastEndMs: t, inFlight: 0, calls: 0 }
        log.open.set(collector, mine)
      }
      mine.inFlight += 1
      mine.calls += 1
      for (const other of log.open.values()) {
        if (other === mine || !(other.inFlight > 0 || other.lastEndMs >= mine.startMs)) continue
        const pair = mine.id < other.id ? `${mine.id}/${other.id}` : `${other.id}/${mine.id}`
        if (log.pairs.has(pair)) continue
        log.pairs.add(pair)
        log.firstOverlap ??= { atMs: t, collectors: [other.collector, collector] }
      }
      const open = mine
      let ended = false
      return () => {
        if (ended) return
        ended = true
        open.inFlight -= 1
        open.lastEndMs = Math.max(open.lastEndMs, now())
      }
    },
    record: (accountId) => {
      const log = logs.get(accountId)
      if (log === undefined) return { accountId, overlapped: false, overlaps: 0, firstOverlap: undefined, collections: [] }
      const collections = [...log.closed, ...[...log.open.values()].map(toCollection)]
        .sort((a, b) => a.startMs - b.startMs)
        .slice(-MAX_COLLECTIONS)
      return { accountId, overlapped: log.pairs.size > 0, overlaps: log.pairs.size, firstOverlap: log.firstOverlap, collections }
    },
    overlappedAccounts: () => [...logs].filter(([, log]) => log.pairs.size > 0).map(([id]) => id),
    reset: () => {
      logs = new Map()
    }
  }
}
