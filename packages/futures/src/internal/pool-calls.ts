/**
 * The calls of the `multiprocessing.Pool` API (`applyAsync`, `mapAsync`/`starmapAsync`, `imap`,
 * `imapUnordered`) for every pool: `ThreadPool` and the coming process `Pool` both call these,
 * so argument checks, chunking and result order are the same whatever runs the calls. A pool
 * hands in a {@link PoolSubmitter}; nothing here knows where the calls run.
 *
 * @module
 */
import { typeError } from '@tandem/sync/errors'
import { checkInt, describe } from '@tandem/sync/kit'
import { asCompleted } from '../as-completed.ts'
import type { Future } from '../future.ts'
import { AsyncResult, checkCallbacks, type ResultCallbacks } from './async-result.ts'
import { CALL, CHUNK_MAP, CHUNK_STAR } from './executor-core.ts'
import { isIterable, type Submitter } from './map.ts'

/** Results of `imap`/`imapUnordered`: iterate blocking (`for...of`) or async (`for await`). */
export interface IMapIterator<R> extends Iterable<R>, AsyncIterable<R> {}

/** What the calls here need of a pool. */
export interface PoolSubmitter extends Submitter {
  /** Number of workers: the default chunksize makes about four chunks per worker. */
  readonly size: number
}

function first(values: unknown[]): unknown {
  return values[0]
}

function flat(values: unknown[]): unknown[] {
  if (values.length === 1) return values[0] as unknown[]
  // Array.prototype.flat is several times slower than this on V8 11, and so is push: 500 chunks
  // of 1000 take 8 ms with push, 2 ms into an array made at its final length.
  let n = 0
  for (const chunk of values as unknown[][]) n += chunk.length
  const out: unknown[] = new Array(n)
  let k = 0
  for (const chunk of values as unknown[][]) for (let i = 0; i < chunk.length; i++) out[k++] = chunk[i]
  return out
}

/** Submits `fn` over the items of `iterable` in chunks (each resolves to an array of results). */
function submitChunks(
  pool: PoolSubmitter,
  fn: unknown,
  iterable: Iterable<unknown>,
  chunksize: number | undefined,
  star: boolean,
  what: string,
  method: string,
): Future<unknown>[] {
  pool.check(method)
  const task = pool.task(fn)
  if (!isIterable(iterable)) throw typeError(`${what}.${method}(): expected an iterable; received ${describe(iterable)}`)
  const items = Array.isArray(iterable) ? iterable : [...iterable]
  let size: number
  if (chunksize === undefined) {
    size = Math.ceil(items.length / (pool.size * 4)) || 1
  } else {
    size = checkInt(chunksize, 'chunksize', 1)
  }
  if (star) {
    for (const args of items) if (!Array.isArray(args)) throw typeError(`${what}.${method}(): every item must be an array of arguments; received ${describe(args)}`)
  }
  const mode = star ? CHUNK_STAR : CHUNK_MAP
  const futures: Future<unknown>[] = []
  for (let i = 0; i < items.length; i += size) futures.push(pool.submit(task, mode, items.slice(i, i + size)))
  return futures
}

/**
 * The body of `applyAsync(fn, args?, callbacks?)`: one call of `fn(...args)`.
 * @param what the pool's class name, for error messages (`ThreadPool`)
 */
export function applyCall<R>(pool: PoolSubmitter, fn: unknown, args: unknown[] | undefined, callbacks: ResultCallbacks<R> | undefined, what: string): AsyncResult<R> {
  pool.check('applyAsync')
  checkCallbacks(callbacks)
  const a = args ?? []
  if (!Array.isArray(a)) throw typeError(`${what}.applyAsync(): args must be an array; received ${describe(a)}`)
  const f = pool.submit(pool.task(fn), CALL, a)
  return new AsyncResult<R>([f], first as (v: unknown[]) => R, callbacks)
}

/**
 * The body of `mapAsync` (`star` false: `fn(item)`) and `starmapAsync` (`star` true:
 * `fn(...item)`): the results array, in order, from chunks of `chunksize` items (default: about
 * four chunks per worker, as CPython).
 * @param what the pool's class name, for error messages (`ThreadPool`)
 */
export function mapChunks<R>(
  pool: PoolSubmitter,
  fn: unknown,
  iterable: Iterable<unknown>,
  chunksize: number | undefined,
  star: boolean,
  callbacks: ResultCallbacks<R[]> | undefined,
  what: string,
): AsyncResult<R[]> {
  checkCallbacks(callbacks)
  const futures = submitChunks(pool, fn, iterable, chunksize, star, what, star ? 'starmapAsync' : 'mapAsync')
  return new AsyncResult(futures, flat as (v: unknown[]) => R[], callbacks)
}

/**
 * The body of `imap` (`ordered`: results in order) and `imapUnordered` (in completion order of
 * the chunks): every chunk is submitted at once.
 * @param what the pool's class name, for error messages (`ThreadPool`)
 */
export function imapChunks<R>(pool: PoolSubmitter, fn: unknown, iterable: Iterable<unknown>, chunksize: number, ordered: boolean, what: string): IMapIterator<R> {
  const futures = submitChunks(pool, fn, iterable, chunksize, false, what, ordered ? 'imap' : 'imapUnordered')
  if (ordered) {
    return {
      *[Symbol.iterator]() {
        for (const f of futures) yield* f.result() as R[]
      },
      async *[Symbol.asyncIterator]() {
        for (const f of futures) yield* (await f.resultAsync()) as R[]
      },
    }
  }
  return {
    *[Symbol.iterator]() {
      for (const f of asCompleted(futures)) yield* f.result() as R[]
    },
    async *[Symbol.asyncIterator]() {
      for await (const f of asCompleted(futures)) yield* (f as Future<unknown>).result() as R[]
    },
  }
}
