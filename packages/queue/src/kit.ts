/**
 * Building blocks for other Tandem packages (`@tandem/futures`): the item codec used for values
 * stored in shared memory. Not a user API: names may change between minor versions.
 * @module
 */
export { encodeItem, decodeItem, payloadBytes, type EncodedItem } from './internal/codec.ts'
/** The tag of an encoding that holds shareable markers (revived when it is decoded). */
export { TAG_V8_SHARED } from './internal/codec.ts'
/** The tag of Tandem's compact encoding of plain data (no shareables: the same bytes for a thread or a process). */
export { TAG_PLAIN, plainIntsHead } from './internal/codec.ts'
export type { Staged, RawItem } from './internal/base-queue.ts'
