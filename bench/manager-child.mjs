/**
 * Child-process targets of the `ipc` benchmark's manager scenarios (`manager-driver.mjs` starts
 * them with `moduleRef`). Each receives a command `Pipe` end and a manager proxy in its args,
 * answers `'ready'`, then serves commands until a `null` one: a command is a size `n`, the child
 * runs its loop of `n` proxy calls and answers what it did (checked by the driver). Plain
 * JavaScript (no TypeScript) so that the same file runs under tsx against the package sources
 * (how `pnpm bench` runs) and under plain `node` against the compiled `dist/`.
 *
 * @module
 */

import { pinSelf } from './ipc-child.mjs'

/**
 * Runs `body(n)` for every command received on `conn` and sends back its result.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 * @param {(n: number) => unknown} body
 */
function serveCommands(conn, body) {
  conn.send('ready')
  for (let n = conn.recv(); n !== null; n = conn.recv()) conn.send(body(n))
  conn.close()
}

/**
 * Dict writer: `d.set(key, i)` for i in `0..n-1` per command; answers `n`.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 * @param {import('@tandem/ipc/manager').DictProxy<string, number>} d
 * @param {string} key
 * @param {number} cpu
 */
export function setter(conn, d, key, cpu) {
  pinSelf(cpu)
  serveCommands(conn, (n) => {
    for (let i = 0; i < n; i++) d.set(key, i)
    return n
  })
}

/**
 * Lock user: `n` times `lock.acquire()` then `lock.release()`; answers how many acquires returned true.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 * @param {import('@tandem/ipc/manager').LockProxy} lock
 * @param {number} cpu
 */
export function locker(conn, lock, cpu) {
  pinSelf(cpu)
  serveCommands(conn, (n) => {
    let acquired = 0
    for (let i = 0; i < n; i++) {
      if (lock.acquire()) acquired++
      lock.release()
    }
    return acquired
  })
}

/**
 * Queue producer: puts the ints `0..n-1` and then `null` on `q`; answers `n`.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 * @param {import('@tandem/ipc/manager').QueueProxy<number | null>} q
 * @param {number} cpu
 */
export function producer(conn, q, cpu) {
  pinSelf(cpu)
  serveCommands(conn, (n) => {
    for (let i = 0; i < n; i++) q.put(i)
    q.put(null)
    return n
  })
}

/**
 * Queue consumer: gets from `q` until `null`; answers `[count, id sum]` of what it got.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 * @param {import('@tandem/ipc/manager').QueueProxy<number | null>} q
 * @param {number} cpu
 */
export function consumer(conn, q, cpu) {
  pinSelf(cpu)
  serveCommands(conn, () => {
    let count = 0
    let sum = 0
    for (let x = q.get(); x !== null; x = q.get()) {
      count++
      sum += x
    }
    return [count, sum]
  })
}
