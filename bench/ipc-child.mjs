/**
 * Child-process targets of the `ipc` benchmark (`ipc.bench.ts`), loaded in the Tandem child with
 * `moduleRef`. Plain JavaScript (no TypeScript) so that the same file runs under tsx against the
 * package sources (how `pnpm bench` runs) and under plain `node` against the compiled `dist/`.
 *
 * @module
 */
import { execFileSync } from 'node:child_process'

/**
 * Pins every thread of this process (its main thread and its I/O thread) to CPU `cpu`, with
 * `taskset -a -p`; `cpu < 0` leaves the placement alone.
 * @param {number} cpu
 */
export function pinSelf(cpu) {
  if (cpu >= 0) execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' })
}

/**
 * The child of the throughput runs: pins itself, then serves commands from the parent over `conn`
 * until a `null` command:
 * - `['rt', n]`: echoes `n` messages (round trips);
 * - `['ow', n]`: sends the ints `0..n-1` and then `null` (one way);
 * - `['q', n]`: puts the ints `0..n-1` and then `null` on the process queue `q`.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 * @param {import('@tandem/ipc/queue').Queue<number | null> | null} q
 * @param {number} cpu
 */
export function serve(conn, q, cpu) {
  pinSelf(cpu)
  conn.send('ready')
  for (;;) {
    const cmd = conn.recv()
    if (cmd === null) break
    const [what, n] = cmd
    if (what === 'rt') {
      for (let i = 0; i < n; i++) conn.send(conn.recv())
    } else if (what === 'ow') {
      for (let i = 0; i < n; i++) conn.send(i)
      conn.send(null)
    } else {
      for (let i = 0; i < n; i++) q.put(i)
      q.put(null)
    }
  }
  conn.close()
}

/**
 * The child of the start-up runs: sends its first message.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 */
export function first(conn) {
  conn.send('ready')
  conn.close()
}
