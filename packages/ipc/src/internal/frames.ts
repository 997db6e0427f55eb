/**
 * Frame types of the channels between processes (`channel.ts`), read by the I/O thread
 * (`hub.ts`) and by the threads that use a channel directly (`direct.ts`).
 *
 * @module
 */
/** A child's boot record (the first frame a child receives). */
export const T_BOOT = 1
/** A message from an importer to the end it imported (ID: export id). */
export const T_MSG_TO_EXPORT = 2
/** A message from an exported end to the process that imported it (ID: export id). */
export const T_MSG_TO_IMPORT = 3
/** An importer attaches to an exported end (ID: export id). */
export const T_ATTACH = 4
export const T_CLOSE_TO_EXPORT = 5
export const T_CLOSE_TO_IMPORT = 6
/** A process announces a descendant (ID: its pid), so that frames for it are routed down. */
export const T_ANNOUNCE = 7
/** A process died (ID: its pid). */
export const T_GONE = 8
/** Process queues: request, reply, cancel, and an unbounded put that needs no reply. */
export const T_QREQ = 9
export const T_QREP = 10
export const T_QCANCEL = 11
export const T_QPUT = 12
/**
 * An importer reads the end it imported (ID: export id): from now on the exporting process
 * forwards what arrives for that end. Until then it keeps it, so a process that imports an end
 * and only closes it (the Python idiom: every process closes the ends it does not use) takes no
 * message from the processes that do read it.
 */
export const T_WANT = 13
export const LAST_TYPE = 13
