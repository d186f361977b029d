// The HTTP kit every API of the platform is built on: one socket-free router, one node:http
// adapter, the OpenAPI document from the route table, and one JSON client.
export { HttpError, answerError, errorBody, parseErrorBody, remoteCode, statusFor, type ErrorDetail } from './errors.js';
export {
  Router,
  errorResponse,
  json,
  rawRoute,
  route,
  validate,
  type Admitted,
  type Authenticated,
  type HandlerInput,
  type Headers,
  type HttpRequest,
  type HttpResponse,
  type Route,
  type RouterOptions,
} from './router.js';
export { serveHttp, tooLarge, tooMany, type HttpServer, type ServeOptions } from './node.js';
export { openApiDocument } from './openapi.js';
export { HttpMetrics } from './metrics.js';
export { callJson, readCapped, type JsonCall } from './client.js';
