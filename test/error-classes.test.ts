/**
 * Every error class of every package (each subclass of TandemError exported by
 * packages/*\/src/errors.ts) keeps its class, `code`, message and payload when it crosses to
 * another thread: it is registered with registerErrorClass (src/task.ts).
 */
import test from 'ava'
import * as futuresErrors from '@tandem/futures/errors'
import * as queueErrors from '@tandem/queue/errors'
import * as syncErrors from '@tandem/sync/errors'
import { TandemError } from '@tandem/sync/errors'
import { deserializeError, moduleRef, serializeError } from '@tandem/sync/task'
import { ThreadPoolExecutor } from '@tandem/futures'

const modules: Record<string, Record<string, unknown>> = { sync: syncErrors, queue: queueErrors, futures: futuresErrors }

/** Constructor arguments that give each class the message 'the message' (and a payload). */
function argsOf(name: string): unknown[] {
  if (name === 'QueueFull') return [{ job: 7 }, 'the message']
  return ['the message']
}

const classes = Object.entries(modules).flatMap(([pkg, m]) =>
  Object.entries(m)
    .filter(([, C]) => typeof C === 'function' && (C as Function).prototype instanceof TandemError)
    .map(([name, C]) => ({ pkg, name, C: C as new (...args: unknown[]) => TandemError })),
)

test('the errors modules export the classes this test walks', (t) => {
  const names = classes.map((c) => c.name)
  for (const name of ['LockNotOwnedError', 'QueueEmpty', 'QueueFull', 'QueueShutDown', 'CancelledError', 'BrokenThreadPool']) t.true(names.includes(name), name)
})

for (const { pkg, name, C } of classes) {
  test(`${pkg} ${name} survives serializeError/deserializeError with its class, code and message`, (t) => {
    const original = new C(...argsOf(name))
    const back = deserializeError(structuredClone(serializeError(original))) as TandemError & { item?: unknown }
    t.true(back instanceof C, `arrived as ${(back as Error).constructor?.name}`)
    t.is(back.constructor, C)
    t.is(back.code, original.code)
    t.is(back.message, 'the message')
    t.is(back.name, name)
    if (name === 'QueueFull') t.deepEqual(back.item, { job: 7 })
  })
}

test('errors thrown by a task in a worker arrive as their own classes (queue and futures errors)', async (t) => {
  await using pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  const thrower = moduleRef<(pkg: string, name: string, args: unknown[]) => never>(new URL('./fixtures/throw-error.ts', import.meta.url), 'throwError')
  for (const [pkg, name, C, code] of [
    ['queue', 'QueueEmpty', queueErrors.QueueEmpty, 'ERR_QUEUE_EMPTY'],
    ['queue', 'QueueFull', queueErrors.QueueFull, 'ERR_QUEUE_FULL'],
    ['queue', 'QueueShutDown', queueErrors.QueueShutDown, 'ERR_QUEUE_SHUT_DOWN'],
    ['futures', 'InvalidStateError', futuresErrors.InvalidStateError, 'ERR_INVALID_STATE'],
    ['sync', 'BrokenBarrierError', syncErrors.BrokenBarrierError, 'ERR_BROKEN_BARRIER'],
  ] as const) {
    const err = (await t.throwsAsync(pool.submit(thrower, pkg, name, argsOf(name)))) as TandemError & { item?: unknown }
    t.true(err instanceof (C as Function), `${name} arrived as ${err.constructor?.name}`)
    t.is(err.code, code)
    t.is(err.message, 'the message')
    if (name === 'QueueFull') t.deepEqual(err.item, { job: 7 })
  }
})
