/**
 * Argument checks of @tandem/sync's public constructors and methods: `blocking` read by its
 * truthiness (as Python does), `waitFor` predicates, the Barrier options object, Thread stack
 * sizes and heap limits. Every bad value throws `ERR_INVALID_ARG_TYPE` or `ERR_OUT_OF_RANGE` with a
 * message naming the value received, at the call, not later in a worker.
 */
import test from 'ava'
import { Barrier } from '../src/barrier.ts'
import { Condition } from '../src/condition.ts'
import { Lock } from '../src/lock.ts'
import { RLock } from '../src/rlock.ts'
import { Semaphore } from '../src/semaphore.ts'
import { stackSize, Thread } from '../src/thread.ts'

const typeErr = (message: RegExp) => ({ instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message })
const rangeErr = (message: RegExp) => ({ instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message })

test('Lock.acquire({ blocking }) reads blocking by truthiness: 0, "", null do not block', (t) => {
  const lock = new Lock()
  t.true(lock.acquire())
  for (const blocking of [0, '', null, Number.NaN, false]) {
    // A held Lock acquired again without timeout would throw DeadlockError if this blocked.
    t.false(lock.acquire({ blocking: blocking as unknown as boolean }), `blocking: ${String(blocking)}`)
  }
  lock.release()
  t.true(lock.acquire({ blocking: 0 as unknown as boolean }), 'a free lock is taken')
  lock.release()
})

test('acquire({ blocking: truthy, timeout }) waits; a falsy blocking with a timeout is ERR_OUT_OF_RANGE', (t) => {
  const lock = new Lock()
  lock.acquire()
  t.false(lock.acquire({ blocking: 1 as unknown as boolean, timeout: 1 }))
  t.false(lock.acquire({ blocking: 'yes' as unknown as boolean, timeout: 1 }))
  t.throws(() => lock.acquire({ blocking: 0 as unknown as boolean, timeout: 5 }), rangeErr(/timeout cannot be combined/))
  lock.release()
})

test('RLock, Semaphore and Condition.acquire({ blocking: 0 }) do not block', (t) => {
  const sem = new Semaphore(0)
  t.false(sem.acquire({ blocking: 0 as unknown as boolean }))
  const rlock = new RLock()
  const cond = new Condition(new Lock())
  t.true(cond.acquire())
  t.false(cond.acquire({ blocking: 0 as unknown as boolean }))
  cond.release()
  t.true(rlock.acquire({ blocking: 0 as unknown as boolean }))
  rlock.release()
})

test('Condition.waitFor/waitForAsync(nonFunction) throw ERR_INVALID_ARG_TYPE naming the value', async (t) => {
  const cond = new Condition(new Lock())
  using _ = cond.hold()
  t.throws(() => cond.waitFor(5 as unknown as () => boolean, 0), typeErr(/"predicate".*type number \(5\)/))
  t.throws(() => cond.waitFor(undefined as unknown as () => boolean), typeErr(/"predicate".*type undefined/))
  await t.throwsAsync(cond.waitForAsync('x' as unknown as () => boolean, 0), typeErr(/"predicate".*type string \("x"\)/))
})

test('new Barrier(parties, opts) takes an options object: a number, null or a function is ERR_INVALID_ARG_TYPE', (t) => {
  t.throws(() => new Barrier(2, 5 as never), typeErr(/options object \{ action\?, timeout\? \}; received type number \(5\)/))
  t.throws(() => new Barrier(2, null as never), typeErr(/received null/))
  t.throws(() => new Barrier(2, (() => {}) as never), typeErr(/received function/))
  t.throws(() => new Barrier(2, { timeout: -1 }), rangeErr(/-1/))
  t.is(new Barrier(2, { timeout: 5 }).parties, 2)
  t.is(new Barrier(2, undefined).parties, 2)
})

test('new Thread({ stackSize }) checks 0 or 128 KiB to 1 GiB at once (not EAGAIN when the worker starts)', (t) => {
  t.throws(() => new Thread({ target: () => {}, stackSize: 1e9 }), rangeErr(/between 128 and 1048576 KiB.*received 1000000000/))
  t.throws(() => new Thread({ target: () => {}, stackSize: 1024 * 1024 + 1 }), rangeErr(/received 1048577/))
  t.throws(() => new Thread({ target: () => {}, stackSize: 64 }), rangeErr(/received 64/))
  t.throws(() => new Thread({ target: () => {}, stackSize: '512' as unknown as number }), typeErr(/type string \("512"\)/))
  t.notThrows(() => new Thread({ target: () => {}, stackSize: 1024 * 1024 }))
  t.notThrows(() => new Thread({ target: () => {}, stackSize: 0 }))
  t.throws(() => stackSize(1e9), rangeErr(/received 1000000000/))
  t.is(stackSize(), 0, 'the default is unchanged by the rejected call')
})

test('new Thread({ resourceLimits }) checks the object and each limit, naming the value', (t) => {
  t.throws(() => new Thread({ target: () => {}, resourceLimits: 5 as never }), typeErr(/resourceLimits must be an object.*type number \(5\)/))
  t.throws(() => new Thread({ target: () => {}, resourceLimits: { maxOldGenerationSizeMb: -1 } }), rangeErr(/maxOldGenerationSizeMb.*received -1/))
  t.throws(() => new Thread({ target: () => {}, resourceLimits: { codeRangeSizeMb: '8' as never } }), typeErr(/codeRangeSizeMb.*type string/))
  // A key Node would take but Tandem would drop is refused, not ignored.
  t.throws(() => new Thread({ target: () => {}, resourceLimits: { stackSizeMb: 4 } as never }), typeErr(/stackSizeMb.*stackSize option/))
  t.throws(() => new Thread({ target: () => {}, resourceLimits: { maxOldGenSizeMb: 4 } as never }), typeErr(/maxOldGenSizeMb is not a heap limit/))
  t.notThrows(() => new Thread({ target: () => {}, resourceLimits: { maxOldGenerationSizeMb: 64 } }))
})
