/**
 * Seed 001, section 6.7.2 (使用 Pipe): `Pipe()` gives two connected ends; a producer process
 * sends "bobby" on one, a consumer process receives it on the other and prints it.
 *
 * Python:                                                 Tandem:
 *   def producer(pipe):                                     function producer(pipe: Connection) {
 *       pipe.send("bobby")                                      pipe.send('bobby')
 *   def consumer(pipe):                                     function consumer(pipe: Connection) {
 *       print(pipe.recv())                                      console.log(pipe.recv())
 *   if __name__ == "__main__":
 *       recevie_pipe, send_pipe = Pipe()                    const [receivePipe, sendPipe] = Pipe()
 *       my_producer= Process(target=producer,               const myProducer = new Process({ target: producer, args: [sendPipe] })
 *                            args=(send_pipe, ))
 *       my_consumer = Process(target=consumer,              const myConsumer = new Process({ target: consumer, args: [receivePipe] })
 *                             args=(recevie_pipe,))
 *       my_producer.start()                                 myProducer.start()
 *       my_consumer.start()                                 myConsumer.start()
 *       my_producer.join()                                  myProducer.join()
 *       my_consumer.join()                                  myConsumer.join()
 *
 * Differences:
 * - The targets are shipped to the child processes by source text, so they cannot use this
 *   file's imports; they take everything from their arguments (the Connection arrives in the
 *   child as a working end of the same pipe). No main guard is needed: no child imports this file.
 * - `recevie_pipe, send_pipe` are `receivePipe, sendPipe`.
 * - Not in the seed: after "bobby" the same pipe carries a few more messages of other kinds (a
 *   number, an object, bytes with `sendBytes`), and the producer closing its end gives the
 *   consumer `EOFError` (`ERR_PIPE_EOF`), the way a reader learns that no more will come. The
 *   main process keeps its own copies of both ends unused and unclosed (the lazy idiom; closing
 *   them after `start()`, as CPython code often does, works too). The consumer checks what it got
 *   and throws otherwise (its exit code is then 1); the main process checks both exit codes
 *   (exit code 1 if either is not 0).
 */
import { type Connection, Pipe } from '@tandem/ipc/pipe'
import { Process } from '@tandem/ipc/process'

function producer(pipe: Connection) {
  pipe.send('bobby')
  // Not in the seed: a few more messages, then close: the consumer then reads EOF.
  pipe.send(42)
  pipe.send({ url: 'http://projectsedu.com/1', tags: ['a', 'b'] })
  pipe.sendBytes(new TextEncoder().encode('raw bytes'))
  pipe.close()
}

function consumer(pipe: Connection) {
  console.log(pipe.recv()) // the seed's one line: bobby
  // Not in the seed: the rest of what the producer sent, then EOF once it has closed its end.
  const rest = [pipe.recv(), pipe.recv(), new TextDecoder().decode(pipe.recvBytes())]
  let eof = 'no EOF'
  try {
    pipe.recv()
  } catch (e) {
    eof = `${(e as Error).name} ${(e as { code?: string }).code}`
  }
  console.log(`consumer also got: ${JSON.stringify(rest)}, then ${eof}`)
  const expected = JSON.stringify([42, { url: 'http://projectsedu.com/1', tags: ['a', 'b'] }, 'raw bytes'])
  if (JSON.stringify(rest) !== expected || eof !== 'EOFError ERR_PIPE_EOF') throw new Error(`expected ${expected}, then EOFError ERR_PIPE_EOF`)
}

// pipe只能适用于两个进程
const [receivePipe, sendPipe] = Pipe()
const myProducer = new Process({ target: producer, args: [sendPipe] })
const myConsumer = new Process({ target: consumer, args: [receivePipe] })
myProducer.start()
myConsumer.start()
myProducer.join()
myConsumer.join()

console.log(`exit codes: producer ${myProducer.exitCode}, consumer ${myConsumer.exitCode}`)
console.log(
  'Node: each Process is a separate node process with its own heap (no fork); the two ends crossed to them in args ' +
    'as working ends of one pipe, and messages are copied (v8 serialization, where CPython pickles).',
)
if (myProducer.exitCode !== 0 || myConsumer.exitCode !== 0) {
  console.error('FAIL: expected both exit codes 0 (the consumer exits with 1 if it did not get every message, then EOF)')
  process.exitCode = 1
}
