import test from 'ava'
import { Lock } from '../src/lock.ts'
import { joinAll, sharedInts, spawnMany } from './_helpers.ts'

test('Lock: 4 workers x 100k increments under one Lock give an exact total', async (t) => {
  t.timeout(60_000)
  const lock = new Lock()
  const counter = sharedInts(1)
  const threads = spawnMany(
    4,
    (_i: number, lock: Lock, counter: Int32Array) => {
      for (let k = 0; k < 100_000; k++) {
        lock.acquire()
        counter[0] = counter[0]! + 1
        lock.release()
      }
    },
    lock,
    counter,
  )
  await joinAll(threads)
  t.is(counter[0], 400_000)
})
