/**
 * Code that runs inside the worker threads of `queue.bench.ts`, loaded with `moduleRef` (the
 * Tandem side), plus the source text of the raw `postMessage` baseline's workers (plain
 * `node:worker_threads` workers, no Tandem).
 *
 * Producer/consumer runs: `P` producers and `C` consumers share one queue. Each producer puts
 * `n` items (ids 0..n-1, see {@link KINDS}) and then one `null` sentinel per consumer it is
 * responsible for; a consumer gets until it receives a sentinel. Because every sentinel is put
 * after its producer's items, once all `C` sentinels are taken every item has been taken, so a
 * consumer needs no item count. Each consumer adds up the items' ids; the main thread checks
 * the total count and sum, so a lost or duplicated item fails the run.
 *
 * Timing: each thread writes `[start, end]` wall-clock ms per repetition at
 * `times[(rep * parties + k) * 2]` (party k: producers 0..P-1, then consumers); the rate of a
 * repetition is `P * n` items over the span from the earliest start to the latest end.
 * Repetition 0 is a warm-up (JIT); after each repetition party 0 sizes the next one to last
 * about `ctl[REP_MS]` ms, writing it to `sizes[rep + 1]` (items per producer; `sizes[0]` is the
 * warm-up size). One slot per repetition, because party 0 may finish repetition r and size r + 1
 * before a descheduled party has read the size of r. The parties of a repetition start together
 * through `rendezvous` (from `sync-workers.ts`, independent of Tandem's Barrier).
 *
 * Per-consumer results: `stats[(rep * C + c) * 2]` = items received, `+ 1` = sum of their ids.
 *
 * @module
 */
import type { Queue } from '@tandem/queue'
import { arenaBytes, blocksInUse } from '@tandem/sync/kit'
import { REP_MS, rendezvous, SIZE } from './sync-workers.ts'

/**
 * Item kinds, all small:
 * - `int`: the id itself (an int32);
 * - `str`: one of 1024 short Latin-1 strings `item-<k>`, k = id & 1023;
 * - `obj`: a new `{ id, name: 'item', done: false }` per item.
 *
 * All three are small enough to sit inline in a queue entry (no arena block); the memory run
 * uses bigger items on purpose (see {@link memoryItem}).
 */
export const KINDS = ['int', 'str', 'obj'] as const
export type Kind = (typeof KINDS)[number]

/** The 1024 strings of the `str` kind, and the index of each. */
const STRS = Array.from({ length: 1024 }, (_, k) => `item-${k}`)
const STR_INDEX = new Map(STRS.map((s, k) => [s, k]))

interface SmallObject {
  id: number
  name: string
  done: boolean
  text?: string
}

/**
 * The memory run's text field: 200 Latin-1 characters, so that an item carrying it is too big
 * to sit inline in a queue entry and takes an arena block.
 */
const TEXT = 'lorem ipsum dolor sit amet '.repeat(8).slice(0, 200)

/** Item `i` of the memory run: odd ids carry {@link TEXT} (an arena block), even ids do not (inline). */
function memoryItem(i: number): SmallObject {
  return (i & 1) === 1 ? { id: i, name: 'item', done: false, text: TEXT } : { id: i, name: 'item', done: false }
}

/** Sum of the ids a consumer reports for `n` items of `kind` from one producer. */
export function expectedSum(kind: Kind, n: number): number {
  if (kind !== 'str') return (n * (n - 1)) / 2
  const whole = Math.floor(n / 1024)
  const rest = n % 1024
  return whole * ((1024 * 1023) / 2) + (rest * (rest - 1)) / 2
}

/** Bounds of the per-producer size chosen after each repetition. */
const MIN_SIZE = 1_000
const MAX_SIZE = 20_000_000

/** Wall clock in ms, comparable across workers (each worker's `performance.now()` has its own origin). */
function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * Party 0, after repetition r: sizes repetition r + 1 to last about `ctl[REP_MS]` ms at the rate
 * just measured (growing at most 20-fold per step). Written before the next rendezvous, whose
 * atomics make it visible to every party.
 */
function sizeNext(ctl: Int32Array, sizes: Int32Array, r: number, n: number, t0: number, t1: number): void {
  if (r + 1 >= sizes.length) return
  const perMs = n / Math.max(t1 - t0, 0.001)
  const next = Math.min(MAX_SIZE, n * 20, Math.max(MIN_SIZE, Math.round(perMs * Atomics.load(ctl, REP_MS))))
  Atomics.store(sizes, r + 1, next)
}

/** Puts `n` items of `kind` (ids 0..n-1), then `sentinels` nulls. */
function produce(q: Queue<unknown>, kind: Kind, n: number, sentinels: number): void {
  if (kind === 'int') {
    for (let i = 0; i < n; i++) q.put(i)
  } else if (kind === 'str') {
    for (let i = 0; i < n; i++) q.put(STRS[i & 1023])
  } else {
    for (let i = 0; i < n; i++) q.put({ id: i, name: 'item', done: false } satisfies SmallObject)
  }
  for (let s = 0; s < sentinels; s++) q.put(null)
}

/** Gets items of `kind` until a null sentinel; returns [count, sum of ids]. */
function consume(q: Queue<unknown>, kind: Kind): [number, number] {
  let count = 0
  let sum = 0
  if (kind === 'int') {
    for (let x = q.get(); x !== null; x = q.get()) {
      count++
      sum += x as number
    }
  } else if (kind === 'str') {
    for (let x = q.get(); x !== null; x = q.get()) {
      count++
      sum += STR_INDEX.get(x as string)!
    }
  } else {
    for (let x = q.get(); x !== null; x = q.get()) {
      count++
      sum += (x as SmallObject).id
    }
  }
  return [count, sum]
}

/**
 * Party `k` of `P` producers and `C` consumers on one Tandem queue, `sizes.length` repetitions
 * (the first a warm-up); see the module comment for the shared arrays. Producer p puts the
 * sentinels of consumers c with `c % P === p`.
 */
export function queueParty(
  k: number,
  P: number,
  C: number,
  q: Queue<unknown>,
  kind: Kind,
  ctl: Int32Array,
  sizes: Int32Array,
  times: Float64Array,
  ops: Float64Array,
  stats: Float64Array,
): void {
  const reps = sizes.length
  const parties = P + C
  let sentinels = 0
  if (k < P) for (let c = 0; c < C; c++) if (c % P === k) sentinels++
  for (let r = 0; r < reps; r++) {
    rendezvous(ctl, parties)
    const n = Atomics.load(sizes, r)
    const t0 = wallNow()
    let got: [number, number] | undefined
    if (k < P) produce(q, kind, n, sentinels)
    else got = consume(q, kind)
    const t1 = wallNow()
    times[(r * parties + k) * 2] = t0
    times[(r * parties + k) * 2 + 1] = t1
    if (got !== undefined) {
      stats[(r * C + (k - P)) * 2] = got[0]
      stats[(r * C + (k - P)) * 2 + 1] = got[1]
    }
    if (k === 0) {
      ops[r] = P * n
      sizeNext(ctl, sizes, r, n, t0, t1)
    }
  }
}

/**
 * Memory samples of {@link memoryParty}: one row of {@link SAMPLE_FIELDS} Float64 values per
 * checkpoint, written by the consumer (row 0 before the first item, then one row every
 * `every` items, the last after the final item).
 */
export const SAMPLE_FIELDS = 6
/** Offsets inside a sample row. */
export const S_ITEMS = 0
export const S_BLOCKS = 1
export const S_ARENA_BYTES = 2
export const S_RSS = 3
export const S_CONSUMER_HEAP = 4
/** The producer's heapUsed at its own checkpoint with the same item count. */
export const S_PRODUCER_HEAP = 5

/**
 * Memory run: party 0 produces up to `n` small objects into `q` (then one sentinel; odd ids
 * carry a 200-character text so that they take arena blocks, see {@link memoryItem}), party 1
 * consumes them and samples, every `every` items, the arena's blocks in use and size, the
 * process RSS and its own V8 heapUsed; the producer records its own heapUsed at the same counts.
 * The peak of blocks in use between checkpoints is tracked too (sampled every 4096 items) into
 * `peak[0]`. If, at a checkpoint after the third, more than `capMs` have passed, the producer
 * stops there (a time cap for slow or loaded machines). `result` receives [count, sum of ids,
 * start ms, end ms, items produced].
 */
export function memoryParty(
  k: number,
  q: Queue<unknown>,
  n: number,
  every: number,
  capMs: number,
  ctl: Int32Array,
  samples: Float64Array,
  peak: Float64Array,
  result: Float64Array,
): void {
  const heap = (): number => process.memoryUsage().heapUsed
  if (k === 0) {
    rendezvous(ctl, 2)
    const t0 = wallNow()
    let i = 0
    for (; i < n; i++) {
      if (i % every === 0) {
        if (i >= 3 * every && wallNow() - t0 > capMs) break
        samples[(i / every) * SAMPLE_FIELDS + S_PRODUCER_HEAP] = heap()
      }
      q.put(memoryItem(i))
    }
    samples[Math.ceil(i / every) * SAMPLE_FIELDS + S_PRODUCER_HEAP] = heap()
    result[4] = i
    q.put(null)
    return
  }
  const sample = (row: number, items: number): void => {
    const at = row * SAMPLE_FIELDS
    samples[at + S_ITEMS] = items
    samples[at + S_BLOCKS] = blocksInUse()
    samples[at + S_ARENA_BYTES] = arenaBytes().byteLength
    const mem = process.memoryUsage()
    samples[at + S_RSS] = mem.rss
    samples[at + S_CONSUMER_HEAP] = mem.heapUsed
  }
  sample(0, 0)
  let maxBlocks = samples[S_BLOCKS]!
  rendezvous(ctl, 2)
  const t0 = wallNow()
  let count = 0
  let sum = 0
  for (let x = q.get(); x !== null; x = q.get()) {
    const item = x as SmallObject
    if ((item.id & 1) === 1 && item.text !== TEXT) throw new Error(`Memory run: item ${item.id} arrived without its text`)
    sum += item.id
    count++
    if ((count & 4095) === 0) maxBlocks = Math.max(maxBlocks, blocksInUse())
    if (count % every === 0) sample(count / every, count)
  }
  const t1 = wallNow()
  if (count % every !== 0) sample(Math.ceil(count / every), count)
  peak[0] = maxBlocks
  result[0] = count
  result[1] = sum
  result[2] = t0
  result[3] = t1
}

/**
 * Source of the raw `postMessage` baseline's workers: plain CommonJS for
 * `new Worker(src, { eval: true })`, no Tandem. `workerData`: `{ role: 'producer' | 'consumer',
 * port, kind, ctl, reps, times, stats }` with the same layouts as {@link queueParty} (party 0
 * the producer, party 1 the consumer). The producer posts `n` items and a null sentinel per
 * repetition, one-way over a MessageChannel; the consumer receives them with a `message`
 * listener (the idiomatic way), counts and sums the ids, and after each repetition sizes the
 * next one (it alone sees when the last message arrived). One `ctl[SIZE]` word suffices here:
 * the consumer writes it only after the sentinel, which the producer posts after reading it. The items and the rendezvous are the
 * same as on the Tandem side.
 */
export const POST_MESSAGE_WORKER = String.raw`
const { workerData } = require('node:worker_threads')
const { role, port, kind, ctl, reps, times, stats } = workerData
const ARRIVED = 0, GENERATION = 1, SIZE = ${SIZE}, REP_MS = ${REP_MS}
const MIN_SIZE = ${MIN_SIZE}, MAX_SIZE = ${MAX_SIZE}
function rendezvous(parties) {
  const gen = Atomics.load(ctl, GENERATION)
  if (Atomics.add(ctl, ARRIVED, 1) === parties - 1) {
    Atomics.store(ctl, ARRIVED, 0)
    Atomics.add(ctl, GENERATION, 1)
    Atomics.notify(ctl, GENERATION)
    return
  }
  for (let i = 0; i < 1000000; i++) if (Atomics.load(ctl, GENERATION) !== gen) return
  while (Atomics.load(ctl, GENERATION) === gen) Atomics.wait(ctl, GENERATION, gen, 100)
}
const wallNow = () => performance.timeOrigin + performance.now()
const STRS = Array.from({ length: 1024 }, (_, k) => 'item-' + k)
const STR_INDEX = new Map(STRS.map((s, k) => [s, k]))
if (role === 'producer') {
  for (let r = 0; r < reps; r++) {
    rendezvous(2)
    const n = Atomics.load(ctl, SIZE)
    const t0 = wallNow()
    if (kind === 'int') for (let i = 0; i < n; i++) port.postMessage(i)
    else if (kind === 'str') for (let i = 0; i < n; i++) port.postMessage(STRS[i & 1023])
    else for (let i = 0; i < n; i++) port.postMessage({ id: i, name: 'item', done: false })
    port.postMessage(null)
    times[(r * 2) * 2] = t0
    times[(r * 2) * 2 + 1] = wallNow()
  }
} else {
  let r = 0, count = 0, sum = 0, n = 0, t0 = 0
  const start = () => {
    rendezvous(2)
    n = Atomics.load(ctl, SIZE)
    count = 0
    sum = 0
    t0 = wallNow()
  }
  const id = kind === 'int' ? (x) => x : kind === 'str' ? (x) => STR_INDEX.get(x) : (x) => x.id
  port.on('message', (x) => {
    if (x !== null) {
      count++
      sum += id(x)
      return
    }
    const t1 = wallNow()
    times[(r * 2 + 1) * 2] = t0
    times[(r * 2 + 1) * 2 + 1] = t1
    stats[r * 2] = count
    stats[r * 2 + 1] = sum
    const perMs = n / Math.max(t1 - t0, 0.001)
    Atomics.store(ctl, SIZE, Math.min(MAX_SIZE, n * 20, Math.max(MIN_SIZE, Math.round(perMs * Atomics.load(ctl, REP_MS)))))
    if (++r < reps) start()
    else port.close()
  })
  start()
}
`
