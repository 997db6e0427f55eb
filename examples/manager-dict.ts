/**
 * Seed 001, section 6.7.3 (使用 Manager() 中的数据结构): `Manager()` starts a server process holding
 * shared objects (Manager 类中有 dict, array, list 等数据结构); two processes each write one key of
 * a `Manager().dict()`, and the main process prints the dict with both keys. The seed's warning,
 * 使用这种方式需要注意同步的问题,即需要加锁,保持数据一致性 (mind the synchronisation: take a lock),
 * is shown after it.
 *
 * Python:                                                 Tandem:
 *   from multiprocessing import Process, Manager          import { Manager } from '@tandem/ipc/manager'
 *                                                         import { Process } from '@tandem/ipc/process'
 *   def add_data(p_dict, key, value):                     function addData(pDict: DictProxy<string, number>, key: string, value: number) {
 *       p_dict[key] = value                                   pDict.set(key, value)
 *   if __name__ == "__main__":
 *                                                         using manager = Manager()
 *       progress_dict = Manager().dict()                  const progressDict = manager.dict<string, number>()
 *       first_progress = Process(target=add_data, args=(progress_dict, "bobby1", 22))
 *                                                         const firstProgress = new Process({ target: addData, args: [progressDict, 'bobby1', 22] })
 *       second_progress = Process(target=add_data, args=(progress_dict, "bobby2", 23))
 *                                                         const secondProgress = new Process({ target: addData, args: [progressDict, 'bobby2', 23] })
 *       first_progress.start()                            firstProgress.start()
 *       second_progress.start()                           secondProgress.start()
 *       first_progress.join()                             firstProgress.join()
 *       second_progress.join()                            secondProgress.join()
 *       print(progress_dict)                              console.log(progressDict.copy())
 *
 * Differences:
 * - The targets are shipped to the child processes by source text, so they cannot use this
 *   file's imports; the dict proxy arrives in each child as a working proxy on the one dict,
 *   which lives in the manager's server process. No main guard is needed: no child imports this
 *   file.
 * - A proxy has no operators: `p_dict[key] = value` is `pDict.set(key, value)` (Map's name), and
 *   printing the proxy does not print the dict (Python's `print(progress_dict)` asks the server
 *   for the dict's repr), so the demo prints `progressDict.copy()`, a `Map` fetched from the
 *   server: `Map(2) { 'bobby1' => 22, 'bobby2' => 23 }` where Python prints
 *   `{'bobby1': 22, 'bobby2': 23}`. The order is the order the two children wrote in, as in
 *   CPython: usually bobby1 first, but bobby2 can come first.
 * - The manager is kept in `using manager`, which shuts its server down at the end of the file;
 *   the seed drops the `Manager()` object at once and CPython ends its server with the proxies
 *   or at exit.
 * - Not in the seed, the warning shown rather than told: two processes add 1 to `hits` of
 *   another dict 500 times each (`p_dict["hits"] += 1`, a get then a set), first without a
 *   lock, then under a `manager.Lock()` (`with lock:` is `using _ = lock.hold()`). Both first
 *   meet at a `manager.Barrier(2)` so that their loops overlap. Without the lock, updates are
 *   lost (printed, not checked: it depends on how the calls interleave); with it the total is
 *   exactly 1000.
 * - Not in the seed: the demo checks that the dict holds exactly bobby1: 22 and bobby2: 23, that
 *   the locked total is 1000 and that every child exited with code 0 (exit code 1 otherwise).
 */
import { type BarrierProxy, type DictProxy, type LockProxy, Manager } from '@tandem/ipc/manager'
import { Process } from '@tandem/ipc/process'

function addData(pDict: DictProxy<string, number>, key: string, value: number) {
  pDict.set(key, value) // p_dict[key] = value
}

// ---- the seed ------------------------------------------------------------------------------
using manager = Manager()
const progressDict = manager.dict<string, number>()
const firstProgress = new Process({ target: addData, args: [progressDict, 'bobby1', 22] })
const secondProgress = new Process({ target: addData, args: [progressDict, 'bobby2', 23] })
firstProgress.start()
secondProgress.start()
firstProgress.join()
secondProgress.join()
console.log(progressDict.copy())

// ---- 需要加锁 (not in the seed) ---------------------------------------------------------------

/** `p_dict["hits"] += 1`, n times, with no lock: another process may write between the get and the set. */
function addHits(pDict: DictProxy<string, number>, n: number, go: BarrierProxy) {
  go.wait() // start together, so that the two loops overlap
  for (let i = 0; i < n; i++) pDict.set('hits', pDict.get('hits', 0) + 1)
}

/** The same under the manager lock (`with lock: p_dict["hits"] += 1`). */
function addHitsLocked(pDict: DictProxy<string, number>, n: number, go: BarrierProxy, lock: LockProxy) {
  go.wait()
  for (let i = 0; i < n; i++) {
    using _ = lock.hold()
    pDict.set('hits', pDict.get('hits', 0) + 1)
  }
}

const N = 500
/** Runs `target` in two processes on a new dict; the dict's `hits` and the children. */
function twoProcesses(target: typeof addHits | typeof addHitsLocked, ...extra: [] | [LockProxy]): [number, Process[]] {
  const hitsDict = manager.dict<string, number>({ hits: 0 })
  const go = manager.Barrier(2)
  const ps = [1, 2].map(() => new Process({ target, args: [hitsDict, N, go, ...extra] }))
  for (const p of ps) p.start()
  for (const p of ps) p.join()
  return [hitsDict.get('hits', 0), ps]
}

const [unlocked, unlockedPs] = twoProcesses(addHits)
console.log(`without a lock: 2 processes x ${N} p_dict["hits"] += 1 -> hits = ${unlocked} (${2 * N - unlocked} updates lost)`)
const [locked, lockedPs] = twoProcesses(addHitsLocked, manager.Lock())
console.log(`with manager.Lock(): 2 processes x ${N} p_dict["hits"] += 1 -> hits = ${locked} (${2 * N - locked} updates lost)`)

const children = [firstProgress, secondProgress, ...unlockedPs, ...lockedPs]
console.log(`exit codes: ${children.map((p) => p.exitCode).join(', ')}`)
console.log(
  `Node: a proxy has no operators, so p_dict[key] = value is pDict.set(key, value), and the proxy is not the dict (String(progressDict) is ${String(progressDict)}; ` +
    "CPython's print(progress_dict) asks the server for the dict's repr), so copy() fetches it; each child is a fresh node process (no fork) that got the proxy " +
    'in its args and calls the server over a pipe of its own (a lane), one round trip per get or set.',
)

const failures: string[] = []
const got = JSON.stringify([...progressDict.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
if (got !== '[["bobby1",22],["bobby2",23]]') failures.push(`progress_dict holds ${got}, not bobby1: 22 and bobby2: 23`)
if (locked !== 2 * N) failures.push(`hits under the lock is ${locked}, not ${2 * N}`)
if (children.some((p) => p.exitCode !== 0)) failures.push('a child exited with a code other than 0')
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`)
  process.exitCode = 1
}
