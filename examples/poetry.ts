/**
 * Seed 001, section 4.2: 小爱 (XiaoAi) and 天猫精灵 (TianMao) recite a poem line by line,
 * handing the turn over with one Condition: each speaks, `notify()`s, then `wait()`s.
 *
 * Python:                                   Tandem:
 *   class XiaoAi(threading.Thread):           export class XiaoAi extends Thread {
 *       def __init__(self, cond):               static override module = import.meta.url
 *           super().__init__(name="小爱")        constructor(cond, ...) { super({ name: '小爱' }) }
 *       def run(self):                          override run() {
 *           with self.cond:                         using _ = this.cond.hold()
 *               self.cond.wait()                    this.cond.wait()
 *               print("{} : 在 ".format(self.name))  console.log(`${this.name} : 在 `)
 *               self.cond.notify()                  this.cond.notify()
 *
 * Start order. The seed starts xiaoai first and relies on it reaching `cond.wait()` before
 * tianmao enters `with self.cond` (「启动顺序很重要」); otherwise TianMao's first notify() finds
 * nobody waiting and both threads end up waiting forever. CPython usually gets that order from
 * the GIL; Tandem threads start in parallel workers, so it would be a race. The demo makes it
 * deterministic with one addition: XiaoAi sets an Event `waiting` while holding the condition's
 * lock, right before its first `wait()`, and the main thread starts TianMao only after that
 * Event is set. Since `wait()` releases the lock only once XiaoAi is queued as a waiter,
 * TianMao's `with self.cond` (D) cannot get in before XiaoAi waits, and its first notify()
 * always reaches her. Everything after that is ordered by the Condition alone.
 */
import { isMainThread } from 'node:worker_threads'
import { Condition } from '@tandem/sync/condition'
import { Event } from '@tandem/sync/event'
import { Thread } from '@tandem/sync/thread'

// 条件变量, 用于复杂的线程间同步
// 通过condition完成协同读诗
export class XiaoAi extends Thread {
  static override module = import.meta.url
  cond: Condition
  /** Tandem addition (see the top of the file): set once XiaoAi is about to wait. */
  waiting: Event

  constructor(cond: Condition, waiting: Event) {
    super({ name: '小爱' })
    this.cond = cond
    this.waiting = waiting
  }

  override run() {
    // 这里使用了 using 语句 (Python 的 with 语句),实际调用了 Condition 的 acquire 方法,并在块结束时 release。
    // 主线程先调用 Xiaoai 线程,当 Xiaoai 线程执行 with self.cond 时,Tianmao 是无法进入 with self.cond 的。
    // 当 Xiaoai 线程执行 wait() 方法时,自己被阻塞,Tianmao 线程开始执行。
    console.log('A')
    using _ = this.cond.hold()
    console.log('B')
    this.waiting.set()
    this.cond.wait()
    console.log(`${this.name} : 在 `)
    this.cond.notify()
    console.log('F')
    this.cond.wait()
    console.log(`${this.name} : 好啊 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 君住长江尾 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 共饮长江水 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 此恨何时已 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 定不负相思意 `)
    this.cond.notify()
  }
}

export class TianMao extends Thread {
  static override module = import.meta.url
  cond: Condition

  constructor(cond: Condition) {
    super({ name: '天猫精灵' })
    this.cond = cond
  }

  override run() {
    console.log('C')
    using _ = this.cond.hold()
    console.log('D')
    console.log(`${this.name} : 小爱同学 `)
    this.cond.notify()
    console.log('E')
    this.cond.wait()
    console.log('G')
    console.log(`${this.name} : 我们来对古诗吧 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 我住长江头 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 日日思君不见君 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 此水几时休 `)
    this.cond.notify()
    this.cond.wait()
    console.log(`${this.name} : 只愿君心似我心 `)
    this.cond.notify()
    this.cond.wait()
  }
}

if (isMainThread) {
  const cond = new Condition()
  const waiting = new Event()
  const xiaoai = new XiaoAi(cond, waiting)
  const tianmao = new TianMao(cond)

  // 启动顺序很重要
  // 在调用with cond之后才能调用wait或者notify方法
  // condition有两层锁, 一把底层锁会在线程调用了 wait 方法的时候释放, 上面的锁会在每次调用 wait 的时候分配一把并放入到 cond 的等待队列中,等到 notify 方法的唤醒
  xiaoai.start()
  // Tandem addition: XiaoAi holds the lock and is about to wait (see the top of the file).
  if (!waiting.wait(60_000)) fail('XiaoAi never reached cond.wait()')
  tianmao.start()

  // Not in the seed (its main just returns): fail the demo instead of hanging if the exchange breaks.
  if (!xiaoai.join(60_000) || !tianmao.join(60_000)) fail('the poem did not finish within 60 s')
}

function fail(why: string): never {
  console.error(`FAIL: ${why}`)
  process.exit(1)
}
