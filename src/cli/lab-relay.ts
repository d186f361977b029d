/**
 * One TCP connection, relayed over stdio (lab-target.ts starts it): `ip netns exec NS node
 * lab-relay.js HOST PORT` connects to
 * HOST:PORT inside the lab namespace NS and copies stdin to the connection and the connection to
 * stdout until either side ends. The CLI on the host reaches the lab's control plane this way
 * (`--lab`, `starling lab use`): bytes only, TLS runs end to end between the CLI and the control
 * plane, so this process sees neither the token nor the answers.
 */
import { connect } from 'node:net';

const [host, portText] = process.argv.slice(2);
const port = Number(portText);
if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('lab-relay: usage: lab-relay.js HOST PORT\n');
  process.exit(2);
}
const socket = connect({ host, port });
socket.on('error', (e) => {
  process.stderr.write(`lab-relay: ${host}:${port}: ${e.message}\n`);
  process.exit(1);
});
// The client closing its side (stdin ends) half-closes the connection; the server's end ends stdout.
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('close', () => process.exit(0));
