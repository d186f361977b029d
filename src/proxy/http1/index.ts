export { ClientConnection } from './connection.js';
