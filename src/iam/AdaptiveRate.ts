/**
 * How fast this process may send requests to one AWS account, learned from its answers.
 *
 * The model. AWS publishes no IAM request quota, and two kinds of `Throttling` reach us that
 * call for opposite reactions:
 * - a budget: the account's token bucket refills at B requests per second, so below B next to
 *   nothing is throttled and above it the excess is, a throttled fraction of about 1 − B/r at
 *   our rate r: it rises steeply once r passes B, and sending slower is the cure;
 * - noise: IAM's budget is account-wide, and other tools, the console and CI pipelines share
 *   it; their bursts refuse a fraction p of our requests whatever our rate. That fraction does
 *   not fall when we slow down: slowing down cures nothing and only loses answers.
 * Goodput (answers admitted per second) is r·(1 − p) below the budget and B·(1 − p) above it,
 * so the best rate is just under the budget, or, without one, as fast as the collector goes.
 *
 * The controller, from what congestion control knows:
 * - Answers are judged in rounds (`ROUND_ANSWERS` answers over `ROUND_MS` at least), as TCP
 *   judges a round trip: not each throttle, but a round's throttled fraction, against the
 *   noise level (the fraction seen when our rate was not to blame), by a binomial test. A round
 *   significantly above the noise is congestion; a glaring one is judged before its end.
 * - One decrease per round of feedback: congestion cuts the rate once, to a little under what
 *   the budget let through (r·(1 − f)/(1 − noise) over the round, or over the whole cycle
 *   since the last cut when that is less), by at most half; out of slow start, by half, as TCP
 *   leaves it. Answers to requests sent before the cut, or just after it while the bucket is
 *   still empty, are not judged.
 * - The round after a cut checks it, against the round that led to it:
 *   throttles fell and are back at the noise level: it was our rate, a budget; the cut stays
 *   and the budget is remembered. Fell but still above the noise, or more frequent (the bucket
 *   ran dry during the round judged): still over the budget, cut again. As frequent at the
 *   lower rate and above the noise: look lower (up to `LOOKS` times); gone there, it was the
 *   budget; still there, the noise rose, and it is learned and the cut undone. Not clearer at
 *   the lower rate: a fluke of the noise, and the cut is undone (TCP's undo of a spurious
 *   reduction, RFC 4015); its rounds are added to the next check's, so that a budget touched
 *   lightly again and again still shows. The round that led to a cut was picked for its many
 *   throttles, so it must stand out more, unless the noise level was learned from so many
 *   answers that no fluke explains it.
 * - A budget is never taken as found on one comparison: rounds of a few dozen answers are
 *   noisy, and a run makes thousands of them, so a fluke that looks like a budget comes soon
 *   enough (and sinks the rate for good: the climb from a budget found is slow). Each check
 *   that would conclude "budget" weighs the recent rounds (the last `HISTORY`, and those since
 *   the last cut, for a budget that just changed), each at the rate it was sent at, between two
 *   hypotheses: noise, one throttled fraction whatever the rate; a budget, a fraction higher at
 *   the rounds sent faster than some rate than at those sent slower. Only when the budget
 *   explains them `EVIDENCE` (a log-likelihood ratio) better is it found (`EVIDENCE_ABOVE`
 *   above a budget found before, which is the likelier already). Throttles that fell at the
 *   lower rate without that evidence get one more round there (`CONFIRM`): a budget shows
 *   more, noise less; then the cut is undone, as for a fluke, and the rate goes back up. A
 *   check that finds the round judged no clearer than the lower rate's still finds the budget
 *   when the recent rounds show it: a budget touched lightly, again and again.
 * - Between cuts the rate climbs, and only while it is used (`USED_STARTUP`, `USED` of its
 *   turns taken): doubling every second until a budget is found (slow start), then as TCP CUBIC does:
 *   back to the budget within seconds, a plateau around it, then faster and faster above it,
 *   so that a run sits just under the budget and touches it about once per cycle. Twice the
 *   budget without a throttle: it is gone, and the search starts over.
 * Pure and clock-free: callers pass the time in milliseconds. `test/rateControl.test.ts` holds
 * it to these goals against simulated accounts.
 */
export interface AdaptiveRateOptions {
  /** Requests per second to start from; default 50. */
  readonly initial?: number | undefined
  /** A fixed ceiling the rate never exceeds (the config's `collection.maxRequestsPerSecond`). */
  readonly ceiling?: number | undefined
  /** The rate never falls below this, so that a long throttling episode cannot stall a run. */
  readonly floor?: number | undefined
}

/** A round: at least this many answers, over at least `ROUND_MS`... */
const ROUND_ANSWERS = 40
const ROUND_MS = 200
/** ...or, when answers are slow, `LONG_ROUND_MS` with at least `MIN_ANSWERS`. */
const LONG_ROUND_MS = 1_000
const MIN_ANSWERS = 8
/** A verdict this unlikely under a well-learned noise level is our rate's doing, whatever the next round says. */
const ALPHA_STRONG = 1e-4
/** An early verdict needs at least this many answers. */
const EARLY_ANSWERS = 10
/** How unlikely under the noise level a round's throttles must be: at its end, and before it (early verdict). */
const ALPHA = 0.01
const ALPHA_EARLY = 0.0001
/** How much fewer a check round's throttles must be than those of the round picked for its many throttles. */
const ALPHA_PICKED = 0.001
/**
 * How much better a budget must explain the recent rounds (`HISTORY` of them) than noise before
 * one is taken as found: e^7, about 1,000 times as likely.
 */
const EVIDENCE = 7
const EVIDENCE_ABOVE = 3
/** Rounds more a check that saw throttles fall may take to gather that evidence. */
const CONFIRM = 1
const HISTORY = 40
/** The noise level the tests assume is at least this, so that a lone throttle is no verdict. */
const NOISE_FLOOR = 0.002
const NOISE_CEILING = 0.95
/** How many answers the learned noise level remembers (weight of a round: n / (n + this)). */
const NOISE_MEMORY = 2_000
/** A cut goes to this fraction of what the budget admitted, and never below half the rate. */
const BETA = 0.9
const MAX_CUT = 0.5
/** CUBIC's constant, relative to the budget: the rate is W·(1 + C·(t − K)³) at t seconds. */
const CUBIC_C = 0.004
/** How many more cuts a check may make when it cannot tell a budget not yet got under from a rise of the noise. */
const LOOKS = 2
/** How many quiet rounds a check that could not tell is kept for, to add to the next. */
const UNSETTLED_ROUNDS = 5
/** After a cut, requests sent within this long (or two request intervals) are not judged. */
const HOLD_MS = 100
/**
 * A round uses its rate when it took at least this fraction of its turns: in slow start, half
 * (the rate keeps ahead of a collector that speeds up); around a budget, most of them (the rate
 * climbs above the budget, and finds it gone, only with requests that really go out).
 */
const USED_STARTUP = 0.5
const USED = 0.8

type Phase = "startup" | "probe" | "check"

/** Where the rate climbs from: slow start, or a CUBIC curve around the budget `w`. */
interface Climb {
  readonly phase: "startup" | "probe"
  /** The budget found, requests per second (probe). */
  readonly w: number
  /** Seconds from the curve's origin to `w`. */
  readonly k: number
  /** Seconds of used sending along the curve so far. */
  readonly t: number
}

interface Round {
  startedAt: number
  answers: number
  throttled: number
  sent: number
}

interface Counts {
  readonly answers: number
  readonly throttled: number
}

/** A judged round: the rate it was sent at, its answers and throttles. */
interface Measure extends Counts {
  readonly rate: number
}

/** Whether `t` throttles in `n` answers are more than a fraction `p` would give, but for a chance below `alpha`. */
const moreThan = (t: number, n: number, p: number, alpha: number): boolean =>
  upperTail(t, n, Math.min(NOISE_CEILING, Math.max(NOISE_FLOOR, p))) < alpha

/**
 * Whether the throttled fraction of round 1 is above that of round 2, but for a chance below
 * `alpha` (two-proportion z-test, with continuity correction).
 */
const differ = (t1: number, n1: number, t2: number, n2: number, alpha: number): boolean => {
  const pooled = (t1 + t2) / (n1 + n2)
  if (pooled <= 0 || pooled >= 1) return false
  const z = (t1 / n1 - t2 / n2 - 0.5 * (1 / n1 + 1 / n2)) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
  return normalTail(z) < alpha
}

/** The log-likelihood of `t` throttles in `n` answers at a throttled fraction of `t / n`. */
const logLikelihood = (t: number, n: number): number =>
  (t > 0 ? t * Math.log(t / n) : 0) + (t < n ? (n - t) * Math.log((n - t) / n) : 0)

/**
 * How much better a budget explains `rounds` than noise does, as a log-likelihood ratio.
 * Noise: one throttled fraction, whatever the rate. A budget: a fraction that is higher at the
 * rounds sent faster than some rate than at those sent slower (the best such rate is taken).
 */
const budgetEvidence = (rounds: ReadonlyArray<Measure>): number => {
  const sorted = [...rounds].filter((r) => r.answers > 0).sort((a, b) => a.rate - b.rate)
  const n = sorted.reduce((sum, r) => sum + r.answers, 0)
  const t = sorted.reduce((sum, r) => sum + r.throttled, 0)
  const noise = logLikelihood(t, n)
  let best = 0
  let lowN = 0
  let lowT = 0
  for (let i = 0; i < sorted.length - 1; i++) {
    lowN += sorted[i]!.answers
    lowT += sorted[i]!.throttled
    // Split only between two different rates, and only where the faster rounds fared worse.
    if (sorted[i + 1]!.rate === sorted[i]!.rate || (t - lowT) / (n - lowN) <= lowT / lowN) continue
    best = Math.max(best, logLikelihood(lowT, lowN) + logLikelihood(t - lowT, n - lowN) - noise)
  }
  return best
}

/** P(X ≥ t) for X binomial(n, p): exact for small counts, normal (with continuity correction) otherwise. */
const upperTail = (t: number, n: number, p: number): number => {
  if (t <= 0) return 1
  if (t > n) return 0
  const variance = n * p * (1 - p)
  if (variance >= 9) return normalTail((t - 0.5 - n * p) / Math.sqrt(variance))
  // Σ_{k<t} of the probability of k, in logarithms so that (1 − p)^n cannot underflow.
  let log = n * Math.log1p(-p)
  const odds = Math.log(p) - Math.log1p(-p)
  let below = 0
  for (let k = 0; k < t; k++) {
    below += Math.exp(log)
    log += Math.log((n - k) / (k + 1)) + odds
  }
  return Math.max(0, 1 - below)
}

/** P(Z > z) for a standard normal Z (Abramowitz and Stegun 26.2.17, error below 1e-7). */
const normalTail = (z: number): number => {
  if (z < 0) return 1 - normalTail(-z)
  const t = 1 / (1 + 0.2316419 * z)
  const poly = t * (0.319381530 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))))
  return (Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI)) * poly
}

export class AdaptiveRate {
  private current: number
  private readonly ceiling: number
  private readonly floor: number
  private phase: Phase = "startup"
  private climb: Climb = { phase: "startup", w: 0, k: 0, t: 0 }
  /** The throttled fraction our rate is not to blame for, and how many answers it was learned from. */
  private noise = 0
  private noiseAnswers = 0
  /** The budget found, requests per second; undefined until a cut was confirmed. */
  private budget: number | undefined
  /** Bumped by each cut and undo: answers to requests sent before it are not judged. */
  private epoch = 0
  private holdUntil: number
  private round: Round
  /** While checking cuts: the rate and climb before the first one, to return to when they were wrong... */
  private origin: { readonly rate: number; readonly climb: Climb } = { rate: 0, climb: this.climb }
  /** ...the round the check round is compared with, and the budget the last cut assumed. */
  private ref: Measure = { rate: 0, answers: 0, throttled: 0 }
  private cutBudget = 0
  /** A check saw throttles change with the rate: there is a budget, even if a later check says noise. */
  private rateBound = false
  /** Rounds spent at the rate of a check that saw throttles fall, without the evidence of a budget yet. */
  private confirming = 0
  /**
   * The round that led to the cut was so far above a well-learned noise level that no fluke
   * of the noise explains it: the check round need only be back at the noise level.
   */
  private strong = false
  /** The rounds of a check that could not tell, kept for a few rounds. */
  private unsettled: { readonly picked: Counts; readonly checked: Counts; quietRounds: number } | undefined
  /** Cuts made to look lower when a check could not tell budget from noise. */
  private looks = 0
  /** Every answer since the curve around the budget started. */
  private cycle = { startedAt: 0, answers: 0, throttled: 0 }
  private peakRate = 0
  private rateSeconds = 0
  private lastAt: number
  /** The last `HISTORY` rounds judged, each with the rate it was sent at. */
  private history: Array<Measure> = []
  /** Where the rounds since the last round above the noise level start in `history`: a budget may have just changed. */
  private sinceCongestion = 0

  constructor(now: number, options: AdaptiveRateOptions = {}) {
    this.ceiling = options.ceiling ?? Number.POSITIVE_INFINITY
    this.floor = Math.min(options.floor ?? 1, this.ceiling)
    // A configured ceiling is a budget someone measured: start there rather than probe up to it.
    this.current = Math.min(this.ceiling, options.ceiling ?? Math.max(this.floor, options.initial ?? 50))
    this.holdUntil = now
    this.lastAt = now
    this.round = { startedAt: now, answers: 0, throttled: 0, sent: 0 }
  }

  /** Requests per second allowed now. */
  get rate(): number {
    return this.current
  }

  /** The highest rate that was used (or is allowed now), requests per second. */
  get peak(): number {
    return Math.max(this.peakRate, this.current)
  }

  /** `peak`, counted again from now on. */
  takePeak(): number {
    const peak = this.peak
    this.peakRate = this.current
    return peak
  }

  /** The throttled fraction learned as noise (not caused by our rate). */
  get noiseLevel(): number {
    return this.noise
  }

  /** The budget found, requests per second, if one was. */
  get budgetFound(): number | undefined {
    return this.budget
  }

  /** The rate integrated over time up to `now` (requests): its mean over a period is the difference over the period's seconds. */
  integral(now: number): number {
    this.advance(now)
    return this.rateSeconds
  }

  /**
   * A request goes out `now`; hand the result back to `answered`. Requests sent just after a
   * cut get a tag that is never judged: the account's bucket is still empty then, and their
   * throttles say nothing about the new rate.
   */
  sent(now: number): number {
    this.advance(now)
    this.round.sent += 1
    return now >= this.holdUntil ? this.epoch : -1
  }

  /** The account answered the request tagged `tag`: `throttled` when it said `Throttling`. */
  answered(now: number, tag: number, throttled: boolean): void {
    this.advance(now)
    this.cycle.answers += 1
    if (throttled) this.cycle.throttled += 1
    if (tag !== this.epoch) return
    const round = this.round
    round.answers += 1
    if (throttled) round.throttled += 1
    const elapsed = now - round.startedAt
    if (this.phase === "check") {
      // As many answers as the round it is compared with: a fair comparison.
      const enough = Math.min(2 * ROUND_ANSWERS, Math.max(ROUND_ANSWERS, this.ref.answers))
      if ((round.answers >= enough && elapsed >= ROUND_MS) || (round.answers >= MIN_ANSWERS && elapsed >= LONG_ROUND_MS)) {
        this.check(now)
      }
      return
    }
    const complete = (round.answers >= ROUND_ANSWERS && elapsed >= ROUND_MS) ||
      (round.answers >= MIN_ANSWERS && elapsed >= LONG_ROUND_MS)
    if (
      throttled && (complete || round.answers >= EARLY_ANSWERS) &&
      moreThan(round.throttled, round.answers, this.noise, complete ? ALPHA : ALPHA_EARLY)
    ) {
      this.congestion(now)
    } else if (complete) {
      this.quiet(now)
    }
  }

  /** A round above the noise level: one cut, then a check round at the lower rate. */
  private congestion(now: number): void {
    this.record()
    this.sinceCongestion = this.history.length - 1
    const { answers, throttled } = this.round
    // Against what the noise level may be, given how many answers it was learned from (two standard errors above).
    const learned = Math.min(this.noiseAnswers, NOISE_MEMORY)
    const noiseAtMost = this.noise + 2 * Math.sqrt((Math.max(this.noise, 1 / learned) * (1 - this.noise)) / learned)
    this.strong = learned >= NOISE_MEMORY / 4 && upperTail(throttled, answers, noiseAtMost) < ALPHA_STRONG
    // Over a whole cycle of the curve, from the last cut to this one, the bucket filled below the
    // budget and emptied above it: what the account admitted over the cycle is its budget. A round
    // alone overrates it when the bucket ran dry within the round.
    const cycleSeconds = (now - this.cycle.startedAt) / 1000
    const overCycle = this.phase === "probe" && cycleSeconds >= 1
      ? this.admitted(this.cycle.answers / cycleSeconds, this.cycle.throttled / Math.max(1, this.cycle.answers))
      : Number.POSITIVE_INFINITY
    this.origin = { rate: this.current, climb: this.climb }
    this.rateBound = false
    // Without a noise level learned yet, a check that cannot tell is noise: nothing says it rose.
    this.looks = 0
    // Out of slow start, as TCP leaves it: at least to half, the rate of a second ago, which the
    // account admitted (the round itself says too little: the bucket ran dry within it).
    const atMost = this.phase === "startup" ? Math.min(overCycle, (this.current * MAX_CUT) / BETA) : overCycle
    this.phase = "check"
    this.cut(now, MAX_CUT, atMost)
  }

  /** To a little under what the budget admitted in the round just judged, by at most half. */
  private cut(now: number, deepest = MAX_CUT, atMost = Number.POSITIVE_INFINITY): void {
    const { answers, throttled } = this.round
    this.ref = { rate: this.current, answers, throttled }
    this.cutBudget = Math.min(atMost, this.admitted(this.current, throttled / answers))
    this.current = this.bounded(Math.max(this.current * deepest, Math.min(this.current, BETA * this.cutBudget)))
    this.newEpoch(now)
  }

  /** What the budget let through when `rate` was sent and `fraction` throttled: the noise's share was not its doing. */
  private admitted(rate: number, fraction: number): number {
    return (rate * (1 - fraction)) / (1 - Math.min(this.noise, NOISE_CEILING))
  }

  /** The round after a cut, at the lower rate: budget, noise, or still over the budget. */
  private check(now: number): void {
    this.record()
    const { answers, throttled } = this.round
    if (this.confirming > 0) {
      // Below where throttles fell, a round more: a budget shows more and more, noise less and less.
      const quiet = !moreThan(throttled, answers, this.noise, ALPHA)
      if (quiet) this.learnNoise(throttled, answers)
      if (quiet && this.budgetShows()) {
        this.confirming = 0
        this.found(now, this.cutBudget)
      } else if (quiet && this.confirming < CONFIRM) {
        this.confirming += 1
        this.newRound(now)
      } else {
        this.confirming = 0
        this.undo(now)
      }
      return
    }
    const ref = this.ref
    const aboveNoise = moreThan(throttled, answers, this.noise, ALPHA)
    const strong = this.strong
    this.strong = false
    const first = this.looks === 0 && !this.rateBound
    // A check that could not tell, shortly before, adds its rounds to this one's: a budget
    // touched lightly, again and again, shows in the sum.
    const u = first ? this.unsettled : undefined
    this.unsettled = undefined
    const picked = { throttled: ref.throttled + (u?.picked.throttled ?? 0), answers: ref.answers + (u?.picked.answers ?? 0) }
    const checked = { throttled: throttled + (u?.checked.throttled ?? 0), answers: answers + (u?.checked.answers ?? 0) }
    // The round that led to the first cut was picked for its many throttles: it must stand out more.
    if (
      strong || differ(picked.throttled, picked.answers, checked.throttled, checked.answers, first ? ALPHA_PICKED : ALPHA) ||
      // Looked lower for throttles that did not fall, and found them gone: they depended on the rate.
      (this.looks > 0 && !aboveNoise)
    ) {
      // Throttles fell with the rate: our rate was to blame.
      this.rateBound = true
      if (aboveNoise) {
        this.cut(now) // still over the budget
      } else if (!this.budgetShows()) {
        // Back at the noise level, but the rounds seen are as well explained by noise: another
        // round at this rate (`CONFIRM` at most) tells more; still not clear, a fluke.
        this.learnNoise(throttled, answers)
        this.confirming = 1
        this.newRound(now)
      } else {
        // Back at the noise level: below the budget, this round is noise.
        this.learnNoise(throttled, answers)
        this.found(now, this.cutBudget)
      }
    } else if (differ(throttled, answers, ref.throttled, ref.answers, ALPHA)) {
      // More frequent at a lower rate: the account's bucket ran dry during the round judged
      // before, which therefore saw too few throttles. Still over the budget.
      this.rateBound = true
      this.cut(now)
    } else if (aboveNoise && this.looks < LOOKS && (this.noiseAnswers > 0 || throttled / answers > ref.throttled / ref.answers)) {
      // Neither clearly rarer nor more frequent, and above the noise: a budget that the cut did
      // not get under, or noise that rose. Look again lower, with both rounds as the reference.
      this.looks += 1
      this.cut(now)
      this.ref = { rate: ref.rate, answers: ref.answers + answers, throttled: ref.throttled + throttled }
    } else {
      if (aboveNoise) {
        // As frequent at lower and lower rates, and above the noise level: the noise rose. The rounds measured it.
        this.noise = Math.min(NOISE_CEILING, (throttled + ref.throttled) / (answers + ref.answers))
        this.noiseAnswers = answers + ref.answers
      } else {
        // No clearer at a lower rate than the round judged: a fluke of the noise and the cut
        // wrong, or a budget touched too lightly to tell, and then the recent rounds may show it.
        this.learnNoise(throttled, answers)
        if (this.budgetShows()) return this.found(now, this.cutBudget)
        if (first) this.unsettled = { picked, checked, quietRounds: 0 }
      }
      if (this.rateBound && this.budgetShows()) {
        // An earlier check saw throttles change with the rate: the budget is about where they stopped changing.
        this.current = this.bounded(ref.rate)
        this.found(now, ref.rate)
        this.newEpoch(now)
      } else {
        this.undo(now)
      }
    }
  }

  /** Back to the rate and climb before the cuts: they were wrong. */
  private undo(now: number): void {
    this.current = this.bounded(this.origin.rate)
    this.climb = this.origin.climb
    this.phase = this.origin.climb.phase
    this.newEpoch(now)
  }

  /** A budget of `w` requests per second: climb back to it, then probe above it (CUBIC). */
  private found(now: number, budget: number): void {
    const w = Math.max(budget, this.current)
    this.budget = w
    const below = (w - this.current) / w
    this.climb = { phase: "probe", w, k: Math.cbrt(below / CUBIC_C), t: 0 }
    this.phase = "probe"
    this.cycle = { startedAt: now, answers: 0, throttled: 0 }
    this.newRound(now)
  }

  /** A round with no more throttles than noise: learn the noise, and climb if the rate was used. */
  private quiet(now: number): void {
    this.record()
    const { answers, throttled, sent, startedAt } = this.round
    // Above the budget found, a fraction a little raised is our doing, not noise: it may only fall there.
    if (this.budget === undefined || this.current <= this.budget || throttled <= this.noise * answers) {
      this.learnNoise(throttled, answers)
    }
    if (this.unsettled !== undefined && ++this.unsettled.quietRounds > UNSETTLED_ROUNDS) this.unsettled = undefined
    const seconds = (now - startedAt) / 1000
    if (sent >= (this.climb.phase === "startup" ? USED_STARTUP : USED) * this.current * seconds) {
      this.peakRate = Math.max(this.peakRate, this.current)
      const c = this.climb
      if (c.phase === "startup") {
        this.current = this.bounded(this.current * 2 ** seconds)
      } else if (this.current >= 2 * c.w) {
        // Twice the budget and no throttles: it is gone, or much larger. Search for it as at the start.
        this.climb = { phase: "startup", w: 0, k: 0, t: 0 }
        this.budget = undefined
      } else {
        this.climb = { ...c, t: c.t + seconds }
        this.current = this.bounded(Math.max(this.current, c.w * (1 + CUBIC_C * (c.t + seconds - c.k) ** 3)))
      }
    }
    this.newRound(now)
  }

  /** The noise level: the mean of the rounds seen, then of the last `NOISE_MEMORY` answers or so. */
  private learnNoise(throttled: number, answers: number): void {
    this.noise += (throttled - this.noise * answers) / (answers + Math.min(NOISE_MEMORY, this.noiseAnswers))
    this.noiseAnswers += answers
  }

  private bounded(rate: number): number {
    return Math.min(this.ceiling, Math.max(this.floor, rate))
  }

  private newEpoch(now: number): void {
    this.epoch += 1
    this.holdUntil = now + Math.max(HOLD_MS, 2000 / this.current)
    this.newRound(now)
  }

  /** The round just judged, for `budgetEvidence`. */
  private record(): void {
    const { answers, throttled } = this.round
    this.history.push({ rate: this.current, answers, throttled })
    if (this.history.length > HISTORY) {
      this.history.shift()
      this.sinceCongestion = Math.max(0, this.sinceCongestion - 1)
    }
  }

  /** Whether the recent rounds say budget rather than noise. */
  private budgetShows(): boolean {
    // Above a budget found before, the budget is the likelier already: less evidence will do.
    const needed = this.budget !== undefined && this.origin.rate > this.budget ? EVIDENCE_ABOVE : EVIDENCE
    return budgetEvidence(this.history) >= needed ||
      budgetEvidence(this.history.slice(this.sinceCongestion)) >= needed
  }

  private newRound(now: number): void {
    this.round = { startedAt: now, answers: 0, throttled: 0, sent: 0 }
  }

  private advance(now: number): void {
    if (now > this.lastAt) {
      this.rateSeconds += (this.current * (now - this.lastAt)) / 1000
      this.lastAt = now
    }
  }
}
