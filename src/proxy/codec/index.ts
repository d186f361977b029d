export {
  MAX_HEAD_BYTES,
  HeadError,
  findHeadEnd,
  parseRequestHead,
  parseResponseHead,
  isIdempotent,
  responseHasNoBody,
  headerValue,
  type HeadErrorCode,
  type HeadFields,
  type RequestHead,
  type ResponseHead,
} from './head.js';
export { ChunkedScanner, type ChunkErrorCode } from './chunked.js';
