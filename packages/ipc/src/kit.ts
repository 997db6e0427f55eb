/**
 * Building blocks for the other Tandem packages (`@tandem/futures`' process pools). Not a user
 * API: names here may change between minor versions.
 * @module
 */
export { ensureIoThread } from './internal/hub-client.ts'
export { readChannelsHere } from './pipe.ts'
