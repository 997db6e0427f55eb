/**
 * `Executor.map` for every executor: `ThreadPoolExecutor.map` and the coming
 * `ProcessPoolExecutor.map` both call {@link mapCalls}, so argument parsing, `chunksize`,
 * `buffersize`, the deadline, lazy submission and cancel-on-early-exit behave the same whatever
 * runs the calls. An executor hands in a {@link MapSubmitter}; nothing here knows where the
 * calls run.
 *
 * @module
 */
import { rangeError, typeError } from '@tandem/sync/errors'
import { checkInt, describe } from '@tandem/sync/kit'
import type { Future } from '../future.ts'
import { CALL, CHUNK_MAP, CHUNK_STAR } from './executor-core.ts'

/** Options of `map`. */
export interface MapOptions {
  /** Longest wait in ms, from the call to `map`, for all results. @default Infinity */
  timeout?: number
  /**
   * Calls per work item: the worker runs a chunk of calls and sends back their results at once,
   * which saves per-item overhead for tiny calls (CPython's ThreadPoolExecutor ignores it).
   * @default 1
   */
  chunksize?: number
  /**
   * Most work items submitted ahead of the iteration: the iterables are read lazily and a new
   * item is submitted as each result is taken (Python 3.14's `buffersize`). Without it, every
   * item is submitted by the call.
   */
  buffersize?: number
}

/** Results of `map`: iterate blocking (`for...of`) or async (`for await`). */
export interface MapResult<R> extends Iterable<R>, AsyncIterable<R> {}

/**
 * What the shared calls of the executors (here) and pools (`pool-calls.ts`) need of them: an
 * `ExecutorCore`'s `task` and `submit`, and the owner's own state check.
 */
export interface Submitter {
  /** Throws unless the executor or pool takes new calls (shut down, closed, broken); `method` names the call. */
  check(method: string): void
  /** The handle of the task function `fn` (see `ExecutorCore.task`). */
  task(fn: unknown): number
  /** Queues one work item (see `ExecutorCore.submit`). */
  submit(task: number, mode: number, payload: unknown[]): Future<unknown>
}

/** What {@link mapCalls} needs of an executor. */
export interface MapSubmitter extends Submitter {
  /** True once the executor is shut down: a lazy map then submits no more items. */
  readonly isShutdown: boolean
}

/** True for what `for...of` takes: an object or a string with a `[Symbol.iterator]` method. */
export function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && (typeof x === 'object' || typeof x === 'string') && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function'
}

// A result that times out in map's iteration cancels its call too (CPython's _result_or_cancel).
function resultOrCancel<T>(f: Future<T>, timeout: number | undefined): T {
  try {
    return f.result(timeout)
  } catch (err) {
    f.cancel()
    throw err
  }
}

async function resultOrCancelAsync<T>(f: Future<T>, timeout: number | undefined): Promise<T> {
  try {
    return await f.resultAsync(timeout)
  } catch (err) {
    f.cancel()
    throw err
  }
}

/**
 * `fn` over the zipped iterables on `pool`, results in order: the body of an executor's
 * `map(fn, ...iterables, opts?)`. The calls are submitted here (or, with `buffersize`, as the
 * results are taken); leaving the iteration early cancels the calls not yet started.
 * @param iterablesAndOpts the iterables, then optionally a {@link MapOptions} (any non-iterable object)
 * @param what the executor's class name, for error messages (`ThreadPoolExecutor`)
 */
export function mapCalls(pool: MapSubmitter, fn: unknown, iterablesAndOpts: unknown[], what: string): MapResult<unknown> {
  let opts: MapOptions = {}
  let iterables = iterablesAndOpts as Iterable<unknown>[]
  const last = iterablesAndOpts[iterablesAndOpts.length - 1]
  if (last !== undefined && typeof last === 'object' && last !== null && !(Symbol.iterator in (last as object))) {
    opts = last as MapOptions
    iterables = iterablesAndOpts.slice(0, -1) as Iterable<unknown>[]
  }
  for (const it of iterables) {
    if (!isIterable(it)) throw typeError(`${what}.map(): expected iterables; received ${describe(it)}`)
  }
  const chunksize = opts.chunksize === undefined ? 1 : checkInt(opts.chunksize, 'chunksize', 1)
  const buffersize = opts.buffersize === undefined ? Infinity : checkInt(opts.buffersize, 'buffersize', 1)
  const timeout = opts.timeout
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0))) throw rangeError(`map(): timeout must be >= 0 ms; received ${timeout}`)
  const deadline = timeout === undefined ? Infinity : Date.now() + timeout
  pool.check('map')
  const task = pool.task(fn)
  const its = iterables.map((it) => it[Symbol.iterator]())
  const nextArgs = (): unknown[] | undefined => {
    if (its.length === 0) return undefined
    const args: unknown[] = []
    for (const it of its) {
      const r = it.next()
      if (r.done) return undefined
      args.push(r.value)
    }
    return args
  }
  let exhausted = false
  const submitNext = (): boolean => {
    if (exhausted) return false
    if (chunksize === 1) {
      const args = nextArgs()
      if (args === undefined) return !(exhausted = true)
      futures.push(pool.submit(task, CALL, args))
      return true
    }
    const chunk: unknown[] = []
    if (its.length === 1) {
      // One iterable: the items themselves, fn(item) each (an array of one-item argument arrays
      // would cost an object per item on every hop, encoded and decoded).
      const it = its[0]!
      for (let r: IteratorResult<unknown>; chunk.length < chunksize && !(r = it.next()).done; ) chunk.push(r.value)
    } else {
      for (let args; chunk.length < chunksize && (args = nextArgs()) !== undefined; ) chunk.push(args)
    }
    if (chunk.length < chunksize) exhausted = true
    if (chunk.length === 0) return false
    futures.push(pool.submit(task, its.length === 1 ? CHUNK_MAP : CHUNK_STAR, chunk))
    return true
  }
  const futures: Future<unknown>[] = []
  let head = 0
  for (let n = 0; n < buffersize && submitNext(); n++);
  const left = (): number | undefined => (deadline === Infinity ? undefined : Math.max(0, deadline - Date.now()))
  const take = (): Future<unknown> => {
    const f = futures[head]!
    futures[head++] = undefined as never
    if (head > 1024 && head * 2 > futures.length) {
      futures.splice(0, head)
      head = 0
    }
    if (buffersize !== Infinity && !pool.isShutdown) submitNext()
    return f
  }
  const cancelRest = (): void => {
    for (let i = head; i < futures.length; i++) futures[i]!.cancel()
    futures.length = head = 0
  }
  const chunked = chunksize > 1
  return {
    *[Symbol.iterator]() {
      try {
        while (head < futures.length) {
          // Yielded without a local: a paused iterator must not keep the last result alive.
          if (chunked) yield* resultOrCancel(take(), left()) as unknown[]
          else yield resultOrCancel(take(), left())
        }
      } finally {
        cancelRest()
      }
    },
    async *[Symbol.asyncIterator]() {
      try {
        while (head < futures.length) {
          if (chunked) yield* (await resultOrCancelAsync(take(), left())) as unknown[]
          else yield await resultOrCancelAsync(take(), left())
        }
      } finally {
        cancelRest()
      }
    },
  }
}
