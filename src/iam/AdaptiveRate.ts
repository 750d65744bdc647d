/**
 * How fast this process may send requests to one AWS account, learned from its answers.
 * AWS publishes no IAM request quota, so the budget is found by probing. The rate starts at a
 * modest 50 requests per second and doubles every second until the first `Throttling` (slow
 * start: an unbounded start measured worse, a storm of throttles and a first estimate far off).
 * A throttle halves the rate and remembers the rate the account actually admitted; from then on the rate climbs back quickly to that
 * admitted rate and then creeps above it, slowly at first and faster the longer nothing is
 * throttled (the shape of TCP CUBIC), until the next throttle. A run thus sits just under the
 * budget and touches it about once per cycle, instead of bouncing off it with every
 * concurrent caller. Pure and clock-free: callers pass the time in milliseconds.
 */
export interface AdaptiveRateOptions {
  /** Requests per second to start from; default 50. */
  readonly initial?: number | undefined
  /** A fixed ceiling the rate never exceeds (the config's `collection.maxRequestsPerSecond`). */
  readonly ceiling?: number | undefined
  /** The rate never falls below this, so that a long throttling episode cannot stall a run. */
  readonly floor?: number | undefined
}

/** Multiplicative decrease on a throttle. */
const BACKOFF = 0.5
/** Seconds (of sending) for the climb back to close 63% of the gap to the admitted rate. */
const RECOVERY_SECONDS = 1
/** Above the admitted rate, the climb starts at this fraction of it per second (at least 0.5/s)... */
const PROBE_PER_SECOND = 0.01
/** ...and its slope doubles with every this many seconds without a throttle. */
const PROBE_DOUBLING_SECONDS = 5
/** After a cut, throttles of requests sent within this long (or two request intervals) do not count. */
const HOLD_MS = 100
/** Answers are counted in slots of this length, over this many slots. */
const SLOT_MS = 250
const SLOTS = 20

export class AdaptiveRate {
  private current: number
  private readonly ceiling: number
  private readonly floor: number
  /** Bumped by each decrease: a throttle of a request sent before it is already accounted for. */
  private generation = 0
  private unthrottled = true
  /** What the account admitted per second before the last throttle: the level to return to. */
  private admittedRate = 0
  private lastDecreaseAt: number
  private holdUntil: number
  /** Admitted answers per time slot, a ring; `slotTime` is the number of the newest slot. */
  private readonly slots = new Float64Array(SLOTS)
  private slotTime: number
  private readonly startedAt: number

  constructor(now: number, options: AdaptiveRateOptions = {}) {
    this.ceiling = options.ceiling ?? Number.POSITIVE_INFINITY
    this.floor = Math.min(options.floor ?? 1, this.ceiling)
    // A configured ceiling is a budget someone measured: start there rather than probe up to it.
    this.current = options.ceiling ?? Math.max(this.floor, options.initial ?? 50)
    this.lastDecreaseAt = now
    this.holdUntil = now
    this.startedAt = now
    this.slotTime = Math.floor(now / SLOT_MS)
  }

  /** Requests per second allowed now. */
  get rate(): number {
    return this.current
  }

  /**
   * Tag a request sent `now` with this; hand it back to `throttled`. Requests sent just after a
   * cut get a tag that never counts: the account's bucket is still empty then, and their
   * throttles say nothing about the new rate.
   */
  epoch(now: number): number {
    return now >= this.holdUntil ? this.generation : -1
  }

  /** The account answered (anything but a throttle): count it, and the rate may climb. */
  admitted(now: number): void {
    this.advance(now)
    this.slots[this.slotTime % SLOTS]! += 1
    // Per answer, so that an idle client does not climb: at full speed `current` answers
    // arrive per second, which turns these per-answer steps into the per-second slopes above.
    const r = this.current
    if (!Number.isFinite(r)) return
    let perSecond: number
    if (this.unthrottled) {
      perSecond = Math.LN2 * r // ×2 per second
    } else {
      const quiet = (now - this.lastDecreaseAt) / 1000
      perSecond = Math.max(0, this.admittedRate - r) / RECOVERY_SECONDS +
        Math.max(0.5, PROBE_PER_SECOND * this.admittedRate) * 2 ** (quiet / PROBE_DOUBLING_SECONDS)
    }
    this.current = Math.min(this.ceiling, r + perSecond / r)
  }

  /** The account answered `Throttling` to a request sent at `epoch`. */
  throttled(now: number, epoch: number): void {
    if (epoch !== this.generation) return
    this.advance(now)
    // Before the first throttle only the last second says anything (the rate doubled each second);
    // later, the whole cycle since the last throttle does: the account's bucket filled during
    // the dip after that throttle and emptied during the climb, so what it admitted over the
    // cycle is its refill rate, the budget. What was *sent* may have overshot it by far.
    const since = this.unthrottled ? this.startedAt : this.lastDecreaseAt
    const measured = this.admittedRateSince(now, Math.max(since, now - (this.unthrottled ? 1000 : SLOT_MS * (SLOTS - 1))))
    this.admittedRate = Math.min(this.current, measured)
    this.current = Math.max(this.floor, this.admittedRate * BACKOFF)
    this.unthrottled = false
    this.generation += 1
    this.lastDecreaseAt = now
    this.holdUntil = now + Math.max(HOLD_MS, 2000 / this.current)
  }

  private advance(now: number): void {
    const slot = Math.floor(now / SLOT_MS)
    for (let s = Math.max(this.slotTime + 1, slot - SLOTS + 1); s <= slot; s++) this.slots[s % SLOTS] = 0
    if (slot > this.slotTime) this.slotTime = slot
  }

  /** Answers admitted per second from about `from` (whole slots) to `now`. */
  private admittedRateSince(now: number, from: number): number {
    const first = Math.max(Math.floor(from / SLOT_MS), this.slotTime - SLOTS + 1)
    let sum = 0
    for (let s = first; s <= this.slotTime; s++) sum += this.slots[s % SLOTS]!
    // From the start of the first slot counted, or from the start when that is later.
    const seconds = (now - Math.max(first * SLOT_MS, this.startedAt)) / 1000
    return seconds > 0 ? sum / seconds : this.current
  }
}
