/**
 * Type-level contract of @tandem/futures, checked by `tsc --noEmit` (part of `pnpm test`): the
 * `@ts-expect-error` lines fail the type check if a wrong call starts to compile, and the
 * `same<...>` assertions fail it if an inferred type changes. The ava test runs the same typed
 * calls for real, so the values behind the types are checked too.
 */
import test from 'ava'
import { moduleRef } from '@tandem/sync/task'
import {
  ALL_COMPLETED,
  asCompleted,
  type AsyncResult,
  FIRST_COMPLETED,
  Future,
  ThreadPool,
  ThreadPoolExecutor,
  wait,
  waitAsync,
  type DoneAndNotDone,
  type MapResult,
} from '../src/index.ts'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
function same<A, B>(_proof: Equal<A, B>): void {}

const add = (a: number, b: number): number => a + b
const greet = async (name: string): Promise<string> => `hi ${name}`

// Compiled, never called: only the type checker looks at this function.
function typeOnly(pool: ThreadPoolExecutor, tp: ThreadPool): void {
  const f = pool.submit(add, 1, 2)
  same<typeof f, Future<number>>(true)
  const g = pool.submit(greet, 'x')
  same<typeof g, Future<string>>(true) // async functions give the awaited type
  // @ts-expect-error wrong argument type
  pool.submit(add, 1, 'two')
  // @ts-expect-error missing argument
  pool.submit(add, 1)
  // @ts-expect-error not a function
  pool.submit(42)
  const m = pool.map((x: number) => x * 2, [1, 2], { chunksize: 2 })
  same<typeof m, MapResult<number>>(true)
  const w = wait([f], { returnWhen: FIRST_COMPLETED })
  same<typeof w, DoneAndNotDone<Future<number>>>(true)
  const mixed = wait([f, g])
  same<typeof mixed, DoneAndNotDone<Future<number> | Future<string>>>(true)
  const loose: Future<unknown> = f // covariant
  const _looseResult: AsyncResult<unknown> = tp.applyAsync(add, [1, 2])
  void loose, _looseResult
  // @ts-expect-error unknown returnWhen
  wait([f], { returnWhen: 'SOMETIMES' })
  const r = tp.applyAsync(add, [1, 2])
  same<typeof r, AsyncResult<number>>(true)
  // @ts-expect-error args do not match fn
  tp.applyAsync(add, ['1', 2])
  const mapped = tp.map((s: string) => s.length, ['a'])
  same<typeof mapped, number[]>(true)
  const ref = moduleRef<(n: number) => bigint>('./x.ts', 'big')
  same<ReturnType<typeof pool.submit<[number], bigint>>, Future<bigint>>(true)
  pool.submit(ref, 1)
  // @ts-expect-error a moduleRef's parameters are checked too
  pool.submit(ref, 'one')
}
void typeOnly

test('typed calls behave as their types say: submit, map, wait, asCompleted, ThreadPool.applyAsync', async (t) => {
  t.timeout(60_000)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  const tp = new ThreadPool(1)
  t.teardown(() => {
    pool.shutdown({ wait: false, cancelFutures: true })
    tp.terminate()
  })
  const f: Future<number> = pool.submit(add, 1, 2)
  const g: Future<string> = pool.submit(greet, 'x')
  t.is(await f, 3)
  t.is(await g, 'hi x')
  const doubled: number[] = []
  for await (const v of pool.map((x: number) => x * 2, [1, 2, 3], { chunksize: 2 })) doubled.push(v)
  t.deepEqual(doubled, [2, 4, 6])
  const { done, notDone } = await waitAsync([f, g, f], { returnWhen: ALL_COMPLETED })
  t.is(done.size, 2)
  t.is(notDone.size, 0)
  const seen: unknown[] = []
  for await (const h of asCompleted([f, g])) seen.push(h)
  t.true(seen.every((h) => h instanceof Future))
  const r: AsyncResult<number> = tp.applyAsync(add, [20, 22])
  t.is(await r, 42)
})
