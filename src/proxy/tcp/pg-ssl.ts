/**
 * PostgreSQL's way into TLS (fly's `pg_tls` handler): a client sends an 8-byte SSLRequest and
 * waits for one byte, `S`, before its TLS ClientHello (protocol docs, "SSL Session Encryption").
 * The edge answers it, ends TLS itself and passes the plain protocol on to the machine, which
 * never sees TLS. Pure: it reads the client's first bytes and says what to do.
 *
 * - SSLRequest → answer `S`, then TLS.
 * - GSSENCRequest → answer `N` (no GSSAPI encryption); libpq then sends an SSLRequest or gives up.
 * - A TLS record first (PostgreSQL 17's `sslnegotiation=direct`) → TLS at once.
 * - Anything else (a startup message in the clear, `sslmode=disable`) → refused with a
 *   PostgreSQL error saying SSL is required: the service asked for TLS, and passwords must not
 *   cross the internet in the clear.
 */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export type PgOpening =
  | { kind: 'more' }
  | { kind: 'ssl'; rest: Buffer }
  | { kind: 'gssenc'; rest: Buffer }
  | { kind: 'direct-tls' }
  | { kind: 'plain' };

export function readPgOpening(b: Buffer): PgOpening {
  if (b.length >= 1 && b[0] === 0x16) return { kind: 'direct-tls' };
  if (b.length < 8) return { kind: 'more' };
  const len = b.readUInt32BE(0);
  const code = b.readUInt32BE(4);
  if (len === 8 && code === SSL_REQUEST) return { kind: 'ssl', rest: b.subarray(8) };
  if (len === 8 && code === GSSENC_REQUEST) return { kind: 'gssenc', rest: b.subarray(8) };
  return { kind: 'plain' };
}

/** A FATAL ErrorResponse (protocol 3): severity, SQLSTATE 08P01 (protocol violation), message. */
export function pgFatal(message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C08P01\0M${message}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head[0] = 0x45; // 'E'
  head.writeUInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}
