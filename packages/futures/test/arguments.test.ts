/**
 * Argument checks of ThreadPoolExecutor and ThreadPool options: the same validators as `Thread`
 * (`resourceLimits`), a string `threadNamePrefix`, array `initargs`, options objects; each bad
 * value throws `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` naming the value, before any worker starts.
 */
import test from 'ava'
import { ThreadPoolExecutor } from '../src/thread-pool-executor.ts'
import { ThreadPool } from '../src/thread-pool.ts'

const typeErr = (message: RegExp) => ({ instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message })
const rangeErr = (message: RegExp) => ({ instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message })

test('new ThreadPoolExecutor() rejects a non-string threadNamePrefix', (t) => {
  t.throws(() => new ThreadPoolExecutor({ maxWorkers: 1, threadNamePrefix: 5 as never }), typeErr(/"threadNamePrefix".*type number \(5\)/))
})

test('new ThreadPoolExecutor() and new ThreadPool() check resourceLimits as Thread does', (t) => {
  t.throws(() => new ThreadPoolExecutor({ maxWorkers: 1, resourceLimits: { maxOldGenerationSizeMb: -1 } }), rangeErr(/maxOldGenerationSizeMb.*received -1/))
  t.throws(() => new ThreadPoolExecutor({ maxWorkers: 1, resourceLimits: 5 as never }), typeErr(/resourceLimits must be an object.*type number \(5\)/))
  t.throws(() => new ThreadPool(1, { resourceLimits: { maxYoungGenerationSizeMb: 0 } }), rangeErr(/maxYoungGenerationSizeMb.*received 0/))
  t.throws(() => new ThreadPool(1, { resourceLimits: 'x' as never }), typeErr(/type string/))
})

test('new ThreadPoolExecutor()/ThreadPool() name the non-array initargs they received', (t) => {
  t.throws(() => new ThreadPoolExecutor({ maxWorkers: 1, initargs: 5 as never }), typeErr(/"initargs".*type number \(5\)/))
  t.throws(() => new ThreadPool(1, { initargs: 'ab' as never }), typeErr(/"initargs".*type string/))
})

test('ThreadPoolExecutor.shutdown()/shutdownAsync() take an options object', async (t) => {
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  t.throws(() => pool.shutdown(5 as never), typeErr(/\{ wait\?, cancelFutures\? \}; received type number \(5\)/))
  await t.throwsAsync(pool.shutdownAsync(true as never), typeErr(/received type boolean \(true\)/))
  await pool.shutdownAsync()
})
