/**
 * `pnpm bench queue`: `@tandem/queue`'s Queue between worker threads against CPython's
 * `queue.Queue` (threads) and against raw Node `postMessage`, for small items (ints, short
 * strings, small objects), each baseline measured in the same run; plus a memory check that a
 * bounded Queue holds steady over a 10 M-item run. Worker code lives in `queue-workers.ts`.
 *
 * @module
 */
import { Worker } from 'node:worker_threads'
import { Queue } from '@tandem/queue'
import { blocksInUse } from '@tandem/sync/kit'
import { CONTROL_WORDS, REP_MS, SIZE } from './sync-workers.ts'
import { expectedSum, KINDS, POST_MESSAGE_WORKER, S_ARENA_BYTES, S_BLOCKS, S_CONSUMER_HEAP, S_ITEMS, S_PRODUCER_HEAP, S_RSS, SAMPLE_FIELDS, type Kind } from './queue-workers.ts'
import { idleFraction, pythonRuns, rounds, runThreads, sharedFloats, sharedInts, type BenchContext, type CheckRow, type Row, type Scenario } from './lib.ts'

const WORKERS = new URL('./queue-workers.ts', import.meta.url)

/** Capacity of every measured queue (Tandem and CPython). */
const MAXSIZE = 1024

/**
 * Sizes. Each measurement runs in `rounds` rounds alternating Tandem and its baselines, each
 * round a warm-up repetition and `reps` timed ones. The Tandem and postMessage runs size each
 * repetition from the previous one's rate to last about `repMs` (see `queue-workers.ts`),
 * starting from `warmup` items per producer; CPython runs fixed sizes per producer. `quick`
 * only checks that everything runs.
 */
function sizes(quick: boolean) {
  return quick
    ? { rounds: 1, reps: 2, repMs: 20, warmup: 5_000, pySpsc: 5_000, pyMpmc: 5_000, memoryItems: 200_000, memoryEvery: 50_000, memoryCapMs: 10_000 }
    : { rounds: 3, reps: 3, repMs: 250, warmup: 20_000, pySpsc: 150_000, pyMpmc: 75_000, memoryItems: 10_000_000, memoryEvery: 1_000_000, memoryCapMs: 60_000 }
}

/** Allowed RSS growth over the memory run, from the first checkpoint to the last. */
const RSS_BOUND_MIB = 64

const MiB = 2 ** 20

/** A control block for the parties of one run, with the warm-up size. */
function control(warmupSize: number, repMs: number): Int32Array {
  const ctl = sharedInts(CONTROL_WORDS)
  ctl[SIZE] = warmupSize
  ctl[REP_MS] = repMs
  return ctl
}

const KIND_NAMES: Record<Kind, string> = { int: 'ints', str: 'short strings', obj: 'small objects' }

// CPython baseline: `kind n reps P C maxsize` -> JSON list of rates (items/s), one per timed
// repetition. The same shape as the Tandem side: P producer and C consumer threads on one
// queue.Queue(maxsize), released together by a Barrier and timed inside the threads; each
// producer puts n items then its consumers' None sentinels; consumers count and sum the ids and
// the script checks them; rate = P * n over the span from the first start to the last end;
// the first repetition is a warm-up. Loops are specialised per kind, with bound methods, to
// give CPython its best.
const PYTHON = String.raw`
import json, sys, threading, time, queue
kind, n, reps, P, C, maxsize = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
perf = time.perf_counter
STRS = ['item-%d' % k for k in range(1024)]
IDX = {s: k for k, s in enumerate(STRS)}

def produce(q, sentinels):
    put = q.put
    if kind == 'int':
        for i in range(n): put(i)
    elif kind == 'str':
        for i in range(n): put(STRS[i & 1023])
    else:
        for i in range(n): put({'id': i, 'name': 'item', 'done': False})
    for _ in range(sentinels): put(None)

def consume(q):
    get = q.get
    count = total = 0
    if kind == 'int':
        while True:
            x = get()
            if x is None: break
            count += 1
            total += x
    elif kind == 'str':
        while True:
            x = get()
            if x is None: break
            count += 1
            total += IDX[x]
    else:
        while True:
            x = get()
            if x is None: break
            count += 1
            total += x['id']
    return count, total

expected = sum((i & 1023) if kind == 'str' else i for i in range(n)) * P
out = []
for rep in range(reps + 1):
    q = queue.Queue(maxsize)
    parties = P + C
    barrier = threading.Barrier(parties)
    spans = [None] * parties
    got = [None] * C
    def run(k):
        barrier.wait()
        t0 = perf()
        if k < P: produce(q, sum(1 for c in range(C) if c % P == k))
        else: got[k - P] = consume(q)
        spans[k] = (t0, perf())
    threads = [threading.Thread(target=run, args=(k,)) for k in range(parties)]
    for t in threads: t.start()
    for t in threads: t.join()
    count, total = sum(c for c, _ in got), sum(s for _, s in got)
    if count != P * n or total != expected:
        raise SystemExit('lost items: got %d (sum %d), expected %d (sum %d)' % (count, total, P * n, expected))
    if rep > 0:
        out.append(P * n / (max(e for _, e in spans) - min(s for s, _ in spans)))
print(json.dumps(out))
`

/**
 * Total rate of each timed repetition (the first is a warm-up) from per-party [start, end]
 * spans and the items of each repetition.
 */
function spanRates(times: Float64Array, ops: Float64Array, parties: number, reps: number): number[] {
  const runs: number[] = []
  for (let r = 1; r < reps; r++) {
    let start = Infinity
    let end = -Infinity
    for (let k = 0; k < parties; k++) {
      start = Math.min(start, times[(r * parties + k) * 2]!)
      end = Math.max(end, times[(r * parties + k) * 2 + 1]!)
    }
    runs.push((ops[r]! * 1000) / (end - start))
  }
  return runs
}

/** Throws unless every repetition's consumers received exactly the items put, by count and id sum. */
function checkReceived(what: string, kind: Kind, P: number, counts: number[], sums: number[], perProducer: number[]): void {
  for (let r = 0; r < counts.length; r++) {
    const n = perProducer[r]!
    if (counts[r] !== P * n || sums[r] !== P * expectedSum(kind, n)) {
      throw new Error(
        `${what}, repetition ${r}: consumers received ${counts[r]} items (id sum ${sums[r]}) instead of ${P * n} (id sum ${P * expectedSum(kind, n)}); items were lost or duplicated`,
      )
    }
  }
}

/** One run of `P` producers and `C` consumers on a Tandem Queue(MAXSIZE); rates of the timed repetitions. */
async function tandemRuns(ctx: BenchContext, P: number, C: number, kind: Kind, sized: number[]): Promise<number[]> {
  const s = sizes(ctx.quick)
  const reps = s.reps + 1
  const parties = P + C
  const q = new Queue<unknown>(MAXSIZE)
  const ctl = control(s.warmup, s.repMs)
  const repSizes = sharedInts(reps)
  repSizes[0] = s.warmup
  const times = sharedFloats(reps * parties * 2)
  const ops = sharedFloats(reps)
  const stats = sharedFloats(reps * C * 2)
  const args = Array.from({ length: parties }, (_, k) => [k, P, C, q, kind, ctl, repSizes, times, ops, stats])
  await runThreads(WORKERS, 'queueParty', args, 120_000)
  const counts: number[] = []
  const sums: number[] = []
  const perProducer: number[] = []
  for (let r = 0; r < reps; r++) {
    let count = 0
    let sum = 0
    for (let c = 0; c < C; c++) {
      count += stats[(r * C + c) * 2]!
      sum += stats[(r * C + c) * 2 + 1]!
    }
    counts.push(count)
    sums.push(sum)
    perProducer.push(ops[r]! / P)
  }
  checkReceived(`Tandem Queue ${P}x${C} ${kind}`, kind, P, counts, sums, perProducer)
  if (q.qsize() !== 0) throw new Error(`Tandem Queue ${P}x${C} ${kind}: ${q.qsize()} items left in the queue`)
  for (let r = 1; r < reps; r++) sized.push(perProducer[r]!)
  return spanRates(times, ops, parties, reps)
}

/** Waits for a raw worker to exit cleanly. */
function exited(w: Worker, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    w.once('error', reject)
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what} worker exited with code ${code}`))))
  })
}

/**
 * One run of the raw postMessage baseline: a producer worker posts to a consumer worker over a
 * MessageChannel (plain node:worker_threads workers, no Tandem); rates of the timed repetitions.
 */
async function postMessageRuns(ctx: BenchContext, kind: Kind, sized: number[]): Promise<number[]> {
  const s = sizes(ctx.quick)
  const reps = s.reps + 1
  const ctl = control(s.warmup, s.repMs)
  const times = sharedFloats(reps * 2 * 2)
  const stats = sharedFloats(reps * 2)
  const { port1, port2 } = new MessageChannel()
  // Repetition sizes, as the parties read them: reconstructed from the received counts below.
  const common = { kind, ctl, reps, times, stats }
  const producer = new Worker(POST_MESSAGE_WORKER, { eval: true, workerData: { ...common, role: 'producer', port: port1 }, transferList: [port1] })
  const consumer = new Worker(POST_MESSAGE_WORKER, { eval: true, workerData: { ...common, role: 'consumer', port: port2 }, transferList: [port2] })
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('postMessage baseline still running after 120 s; the benchmark is stuck or the machine overloaded')), 120_000)
  })
  try {
    await Promise.race([Promise.all([exited(producer, 'postMessage producer'), exited(consumer, 'postMessage consumer')]), timeout])
  } finally {
    clearTimeout(timer)
    await Promise.all([producer.terminate(), consumer.terminate()])
  }
  // The consumer stops at the sentinel, so its count is the repetition's size if nothing was
  // lost; the id sum checks that.
  const counts = Array.from({ length: reps }, (_, r) => stats[r * 2]!)
  const sums = Array.from({ length: reps }, (_, r) => stats[r * 2 + 1]!)
  checkReceived(`postMessage ${kind}`, kind, 1, counts, sums, counts)
  const ops = new Float64Array(counts)
  for (let r = 1; r < reps; r++) sized.push(counts[r]!)
  return spanRates(times, ops, 2, reps)
}

async function spsc(ctx: BenchContext, kind: Kind, sized: Record<string, number[]>): Promise<Row[]> {
  const s = sizes(ctx.quick)
  ctx.log(`SPSC ${kind}: Queue(${MAXSIZE}), 1 producer + 1 consumer worker, ${s.rounds} x ${s.reps} runs of ~${s.repMs} ms; CPython ${s.pySpsc}; postMessage ~${s.repMs} ms`)
  const m = await rounds(s.rounds, () => tandemRuns(ctx, 1, 1, kind, (sized[`spsc-${kind}`] ??= [])), [
    () => pythonRuns(ctx, PYTHON, [kind, s.pySpsc, s.reps, 1, 1, MAXSIZE], 120_000),
    () => postMessageRuns(ctx, kind, (sized[`post-${kind}`] ??= [])),
  ])
  return [
    {
      scenario: `Queue(${MAXSIZE}) SPSC, 2 workers, ${KIND_NAMES[kind]}`,
      unit: 'items/s',
      tandem: m.tandem,
      baselineName: `CPython queue.Queue(${MAXSIZE}), 2 threads`,
      baseline: m.baselines[0]!,
      target: 2,
      idleBefore: m.idleBefore,
    },
    {
      scenario: `Queue(${MAXSIZE}) SPSC vs postMessage, worker to worker, ${KIND_NAMES[kind]}`,
      unit: 'items/s',
      tandem: m.tandem,
      baselineName: 'raw postMessage over a MessageChannel',
      baseline: m.baselines[1]!,
      target: 1,
      idleBefore: m.idleBefore,
    },
  ]
}

async function mpmc(ctx: BenchContext, kind: Kind, sized: Record<string, number[]>): Promise<Row> {
  const s = sizes(ctx.quick)
  ctx.log(`MPMC ${kind}: Queue(${MAXSIZE}), 2 producer + 2 consumer workers, ${s.rounds} x ${s.reps} runs of ~${s.repMs} ms; CPython 2 x ${s.pyMpmc}`)
  const m = await rounds(s.rounds, () => tandemRuns(ctx, 2, 2, kind, (sized[`mpmc-${kind}`] ??= [])), [
    () => pythonRuns(ctx, PYTHON, [kind, s.pyMpmc, s.reps, 2, 2, MAXSIZE], 120_000),
  ])
  return {
    scenario: `Queue(${MAXSIZE}) MPMC, 2 producers x 2 consumers, ${KIND_NAMES[kind]}`,
    unit: 'items/s',
    tandem: m.tandem,
    baselineName: `CPython queue.Queue(${MAXSIZE}), 2+2 threads`,
    baseline: m.baselines[0]!,
    target: 1,
    idleBefore: m.idleBefore,
  }
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`
const signedMib = (bytes: number): string => `${bytes >= 0 ? '+' : '-'}${mib(Math.abs(bytes))}`

/**
 * Memory: 1 producer and 1 consumer worker pass `memoryItems` small objects through one
 * Queue(MAXSIZE), every other one carrying a 200-character text so that it takes an arena block
 * (the others sit inline in their entry); the consumer samples arena blocks, arena size, RSS and
 * heaps every `memoryEvery` items. Passes if the items did take arena blocks, the blocks in use
 * return to their value before the run and stay within MAXSIZE + 2 of it meanwhile, and RSS
 * grows by at most RSS_BOUND_MIB from the first checkpoint to the last. On a slow or loaded machine the producer stops at the first
 * checkpoint after `memoryCapMs` (but not before the third); the row then names the count reached.
 */
async function memory(ctx: BenchContext): Promise<CheckRow> {
  const s = sizes(ctx.quick)
  const every = s.memoryEvery
  ctx.log(
    `Memory: Queue(${MAXSIZE}), ${s.memoryItems.toLocaleString('en')} objects, half with a 200-character text (time cap ${s.memoryCapMs / 1000} s), 1 producer + 1 consumer worker, samples every ${every.toLocaleString('en')}`,
  )
  const idleBefore = [await idleFraction()]
  const q = new Queue<unknown>(MAXSIZE)
  const samples = sharedFloats((s.memoryItems / every + 1) * SAMPLE_FIELDS)
  const peak = sharedFloats(1)
  const result = sharedFloats(5)
  const ctl = control(0, 0)
  const before = blocksInUse()
  await runThreads(
    WORKERS,
    'memoryParty',
    [0, 1].map((k) => [k, q, s.memoryItems, every, s.memoryCapMs, ctl, samples, peak, result]),
    600_000,
  )
  const after = blocksInUse()
  const n = result[4]!
  if (result[0] !== n || result[1] !== expectedSum('obj', n)) {
    throw new Error(`Memory run: the consumer received ${result[0]} items (id sum ${result[1]}) instead of ${n} (id sum ${expectedSum('obj', n)})`)
  }
  const rows = n / every + 1
  const row = (i: number): number[] => Array.from(samples.subarray(i * SAMPLE_FIELDS, (i + 1) * SAMPLE_FIELDS))
  const first = row(0)
  const one = row(1)
  const last = row(rows - 1)
  const blocks0 = first[S_BLOCKS]!
  const blocksEnd = last[S_BLOCKS]!
  const peakBlocks = peak[0]!
  const arenaGrowth = last[S_ARENA_BYTES]! - one[S_ARENA_BYTES]!
  const rssGrowth = last[S_RSS]! - one[S_RSS]!
  const maxRss = Math.max(...Array.from({ length: rows }, (_, i) => row(i)[S_RSS]!))
  const pass = peakBlocks > blocks0 && blocksEnd === blocks0 && peakBlocks <= blocks0 + MAXSIZE + 2 && rssGrowth <= RSS_BOUND_MIB * MiB
  const seconds = (result[3]! - result[2]!) / 1000
  const capped = n < s.memoryItems
  const millions = (x: number): string => `${(x / 1e6).toLocaleString('en')} M`
  const checkpoints = [1, Math.round(rows / 2) - 1, rows - 1].filter((i, j, a) => i > 0 && a.indexOf(i) === j)
  const plus = (x: number): string => `${x >= 0 ? '+' : ''}${x}`
  const at = (i: number): string => {
    const r = row(i)
    return `after ${millions(r[S_ITEMS]!)}: blocks ${plus(r[S_BLOCKS]! - blocks0)}, arena ${mib(r[S_ARENA_BYTES]!)}, RSS ${mib(r[S_RSS]!)}, consumer heap ${mib(r[S_CONSUMER_HEAP]!)}, producer heap ${mib(r[S_PRODUCER_HEAP]!)}`
  }
  return {
    kind: 'check',
    scenario: `Queue(${MAXSIZE}) memory over ${millions(n)} objects, half in arena blocks${capped ? ` (time cap: ${millions(s.memoryItems)} planned)` : ''}`,
    measured: `arena blocks ${plus(blocksEnd - blocks0)} after (peak +${peakBlocks - blocks0}), RSS ${signedMib(rssGrowth)}`,
    bound: `items took blocks (peak > 0), blocks back to baseline (peak <= +${MAXSIZE + 2}), RSS growth <= ${RSS_BOUND_MIB} MiB`,
    pass,
    details:
      `${n.toLocaleString('en')} items in ${seconds.toFixed(1)} s (${(n / seconds / 1e3).toFixed(0)} k items/s)${capped ? ` (stopped by the ${s.memoryCapMs / 1000} s time cap)` : ''}; before the run: ${blocks0} arena blocks in use (the queue, its lock and conditions, other live handles), arena ${mib(first[S_ARENA_BYTES]!)}, RSS ${mib(first[S_RSS]!)}; ` +
      `${checkpoints.map(at).join('; ')}; peak blocks in use +${peakBlocks - blocks0} (sampled every 4096 items); highest RSS ${mib(maxRss)}; growth from the first checkpoint to the last: RSS ${signedMib(rssGrowth)}, arena ${signedMib(arenaGrowth)} (the arena grows by doubling when a size class runs out of free blocks, e.g. when the queue is fuller than at any time before; blocks in use are what a leak would raise); ` +
      `main thread: ${before} blocks in use before the threads started, ${after} after they were joined`,
    idleBefore,
  }
}

const range = (xs: readonly number[]): string => (xs.length === 0 ? '-' : `${Math.min(...xs).toLocaleString('en')}-${Math.max(...xs).toLocaleString('en')}`)

const scenario: Scenario = {
  title: '@tandem/queue Queue',
  async run(ctx) {
    const s = sizes(ctx.quick)
    const spscRows: Row[] = []
    const postRows: Row[] = []
    const mpmcRows: Row[] = []
    const sized: Record<string, number[]> = {}
    for (const kind of KINDS) {
      const [vsPython, vsPost] = await spsc(ctx, kind, sized)
      spscRows.push(vsPython!)
      postRows.push(vsPost!)
    }
    for (const kind of KINDS) mpmcRows.push(await mpmc(ctx, kind, sized))
    const mem = await memory(ctx)
    return {
      rows: [...spscRows, ...postRows, ...mpmcRows, mem],
      notes: [
        `Runs: every measurement is ${s.rounds} rounds; a round is a CPU-idle sample, the Tandem runs, then each baseline's runs (the SPSC rows share their Tandem runs between the CPython and the postMessage baseline). Each side runs a warm-up then ${s.reps} timed repetitions per round, so ${s.rounds * s.reps} runs per side; the table shows the best run of each side.`,
        `Items: ints (the id, an int32), short strings (\`item-<id & 1023>\`, 6-9 Latin-1 characters), small objects (a new \`{ id, name: 'item', done: false }\` per item). Put copies each item into the queue's shared memory and get rebuilds it (at the time of writing all three kinds fit inline in a queue entry: ints as a word, strings as Latin-1 bytes, objects in the queue's compact plain-data encoding). CPython puts the same values by reference (an int, a str from a list of 1024, a new dict per item).`,
        `Tandem: Queue(${MAXSIZE}) shared by Tandem Threads (\`moduleRef\` targets in \`bench/queue-workers.ts\`), a fresh queue and threads per round; blocking \`put\`/\`get\`. Each producer puts n items then one \`null\` sentinel per consumer it serves; consumers get until a sentinel and add up the item ids; the count and id sum of every repetition are checked against what was put (a lost or duplicated item fails the run), and the queue must be empty at the end.`,
        `Rate = items put over the span from the first thread's start to the last thread's end; the threads of a repetition start together (an Atomics rendezvous), so worker start-up and module loading are excluded. Tandem and postMessage repetitions size themselves from the previous repetition's rate to last about ${s.repMs} ms: items per producer per repetition in this report: SPSC ${KINDS.map((k) => `${k} ${range(sized[`spsc-${k}`] ?? [])}`).join(', ')}; MPMC ${KINDS.map((k) => `${k} ${range(sized[`mpmc-${k}`] ?? [])}`).join(', ')}; postMessage ${KINDS.map((k) => `${k} ${range(sized[`post-${k}`] ?? [])}`).join(', ')}.`,
        `CPython: a child process (\`python3 -c\`, script inline in \`bench/queue.bench.ts\`) with the same shape: \`queue.Queue(${MAXSIZE})\`, threads released by a \`threading.Barrier\` and timed inside, sentinels, count and id-sum check, warm-up repetition, loops specialised per item kind with bound \`put\`/\`get\`. SPSC ${s.pySpsc.toLocaleString('en')} items per repetition, MPMC 2 x ${s.pyMpmc.toLocaleString('en')}.`,
        'postMessage: two plain `node:worker_threads` workers (no Tandem; source in `POST_MESSAGE_WORKER` in `bench/queue-workers.ts`) joined by a `MessageChannel`; the producer calls `port.postMessage(item)` n times then posts a `null` sentinel, the consumer receives with a `message` listener and counts and sums the ids; the rate is items received over the span from the start of the repetition to the arrival of the sentinel. postMessage is unbounded (no backpressure: the producer can run ahead by the whole repetition), whereas the Tandem queue holds at most 1024 items.',
        `Memory: one producer and one consumer Tandem worker pass ${s.memoryItems.toLocaleString('en')} objects through one Queue(${MAXSIZE}) without pause: even ids \`{ id, name: 'item', done: false }\` (small enough to sit inline in a queue entry), odd ids the same plus a 200-character \`text\` (too big for an entry: each takes an arena block, allocated by put and freed by get; the consumer checks the text); the consumer samples the arena's \`blocksInUse()\` and size, the process RSS and its V8 heapUsed every ${s.memoryEvery.toLocaleString('en')} items (the producer samples its own heapUsed at the same counts). At most ${(s.memoryCapMs / 1000).toFixed(0)} s: on a slow or loaded machine the producer stops at the first checkpoint after that (not before the third) and the row names the count reached. Pass: the items did take arena blocks (peak above the baseline), blocks in use back to their value before the run (and never more than ${MAXSIZE} + 2 above it: the queued items plus blocks being staged), and RSS growth from the first checkpoint to the last of at most ${RSS_BOUND_MIB} MiB (a leak of 8 bytes per item would add ~${Math.round((8 * (s.memoryItems - s.memoryEvery)) / MiB)} MiB between those checkpoints; V8 heaps of the two workers and the main thread float by tens of MiB between garbage collections).`,
      ],
    }
  },
}

export default scenario
