/** Placeholder: the process-queue server of the I/O thread (filled in with process queues). */
import type { Frame } from './link.ts'
import type { Command } from './hub-client.ts'

export class QueueServer {
  readonly hub: unknown
  constructor(hub: unknown) {
    this.hub = hub
  }
  onFrame(_f: Frame): void {}
  command(_c: Command): void {}
  processGone(_pid: number): void {}
}
