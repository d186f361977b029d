/**
 * Every error code of the platform, in one registry: the `code` a StarlingError (or an API's error
 * envelope) carries, what it means, and the part of src/ that raises it. Codes are stable: callers,
 * scripts and tests match on them, never on messages, which may be reworded at any time. `status`
 * is what an HTTP API answers for the code, when the code is an API's; a code without one is never
 * answered on purpose (an unexpected error becomes a 500 carrying its code). README and docs may
 * link here. test/unit/error-codes.test.ts checks that every code used in src/ is listed, and that
 * every listed code is still used.
 *
 * Dependency-free on purpose: anything may import it.
 */
export interface ErrorCodeInfo {
  /** What went wrong, for the person reading the error. */
  readonly means: string;
  /** The part of src/ that raises it. */
  readonly part: string;
  /** The HTTP status an API answers with this code, when it is an API's. */
  readonly status?: number;
}

export const ERROR_CODES = {
  // shared: src/shared (outside the HTTP kit)
  ERR_CONNECTION_LIMITS: { part: 'shared', means: 'Connection caps are invalid: they must be whole numbers with 1 <= per address <= total' },
  ERR_CONTROL_INSECURE: { part: 'shared', means: 'A control-plane URL is plain HTTP to a non-loopback address: tokens would travel in clear' },
  ERR_TLS_UNTRUSTED: { part: 'shared', means: "The server's TLS certificate is neither signed by a trusted CA nor the pinned one" },

  // images: src/images (OCI references, registries, layers, the host image store)
  ERR_IMAGE_REF: { part: 'images', status: 400, means: 'An image reference is not [registry/]repository[:tag][@sha256:digest]' },
  ERR_IMAGE_MEDIA_TYPE: { part: 'images', status: 400, means: 'A manifest, config or layer has a media type Starling does not run (Docker schema 1, a foreign layer, an unknown type)' },
  ERR_IMAGE_MANIFEST: { part: 'images', status: 400, means: 'A manifest, image index or image config is not valid JSON of its schema (every problem is listed)' },
  ERR_IMAGE_PLATFORM: { part: 'images', status: 400, means: 'The image index has no linux/amd64 image' },
  ERR_IMAGE_UNSAFE: { part: 'images', means: "A layer holds an entry that would escape or break the root filesystem ('..', a path through a symlink, a device node, a hard link outside the layer)" },
  ERR_IMAGE_DISK_FULL: { part: 'images', means: 'The host image store ran out of disk space; nothing half-written was kept' },
  ERR_REGISTRY_AUTH: { part: 'images', status: 401, means: 'The registry refused the credentials (or asked for some and none were given)' },
  ERR_REGISTRY_NOT_FOUND: { part: 'images', status: 404, means: 'The registry has no such repository, tag, manifest or blob' },
  ERR_REGISTRY_UNREACHABLE: { part: 'images', status: 502, means: 'The registry cannot be reached (connection refused, DNS, TLS, timeout)' },
  ERR_REGISTRY: { part: 'images', status: 502, means: 'The registry answered with an error; its message is quoted' },

  // http: the HTTP kit, src/http (router, server, JSON client)
  ERR_ANSWER_TOO_LARGE: { part: 'http', means: "A remote API's answer is larger than the client's size cap" },
  ERR_BAD_REQUEST: { part: 'http', status: 400, means: 'The request body, query or path parameters are malformed or fail validation' },
  ERR_REQUEST_TIMEOUT: { part: 'http', status: 408, means: 'The request (its body) did not arrive within the server\'s request timeout' },
  ERR_BODY_TOO_LARGE: { part: 'http', status: 413, means: 'The request body is larger than the API accepts' },
  ERR_INTERNAL: { part: 'http', status: 500, means: "The server failed while handling the request; the server's log says why" },
  ERR_METHOD_NOT_ALLOWED: { part: 'http', status: 405, means: 'The endpoint exists but does not accept this HTTP method' },
  ERR_NOT_FOUND: { part: 'http', status: 404, means: 'No API endpoint has this path' },
  ERR_PROTOCOL: { part: 'http', means: 'A remote API answered with something that is not JSON' },
  ERR_RATE_LIMITED: { part: 'http', status: 429, means: 'Too many requests from this caller; retry after the Retry-After delay' },
  ERR_UNREACHABLE: { part: 'http', means: 'A remote API cannot be reached (connection refused, timed out, name not resolved)' },

  // contract: the documents the parts share (app config)
  ERR_APP_CONFIG: { part: 'contract', status: 400, means: 'The app config (starling.toml or fly.toml) is invalid' },
  ERR_APP_CONFIG_READ: { part: 'contract', means: 'The app config file cannot be read' },
  ERR_PROCESS_GROUP: { part: 'contract', status: 400, means: "A process group is not one of the release's [processes] (or, scaling an app of several groups, none was named)" },

  // proxy
  ERR_LISTEN: { part: 'proxy', means: 'A daemon cannot listen on its configured address (in use, or permission denied)' },
  ERR_PROXY_LIMITS: { part: 'proxy', means: "The proxy's connection caps or response idle timeout are out of range" },
  ERR_REGION_UNKNOWN: { part: 'proxy', means: '--region names a region that is not in the catalog' },
  ERR_ROUTES_INVALID: { part: 'proxy', means: 'The routes file is invalid' },
  ERR_ROUTES_READ: { part: 'proxy', means: 'The routes file cannot be read' },
  ERR_ROUTES_WATCH: { part: 'proxy', means: "The routes file's directory cannot be watched for changes" },

  // certs
  ERR_ACME_CHALLENGE: { part: 'certs', means: 'The CA could not validate our challenge answer, or offers no challenge type we answer' },
  ERR_ACME_ORDER: { part: 'certs', means: 'The CA refused or failed the certificate order, or the name is not one a CA can validate' },
  ERR_ACME_WILDCARD: { part: 'certs', means: 'A wildcard certificate was asked for over ACME: that needs DNS-01, and no DNS-01 solver is configured or allowed' },
  ERR_CERT_CHAIN: { part: 'certs', status: 400, means: 'A certificate of the chain is not issued and signed by the one after it' },
  ERR_CERT_CHALLENGE: { part: 'certs', means: 'An HTTP-01 challenge answer is malformed (not <token>.<thumbprint>)' },
  ERR_CERT_EXPIRED: { part: 'certs', status: 400, means: 'The certificate has expired, or is not valid yet' },
  ERR_CERT_HOSTNAME_MISMATCH: { part: 'certs', means: 'The certificate does not cover the hostname it is filed under' },
  ERR_CERT_KEY: { part: 'certs', means: 'The private key is not a PEM key or cannot be parsed (encrypted keys are not supported)' },
  ERR_CERT_KEY_MISMATCH: { part: 'certs', means: 'The private key does not belong to the certificate' },
  ERR_HOSTNAME_NOT_FOUND: { part: 'control', status: 404, means: 'The app has no such hostname (certs add attaches one)' },
  ERR_HOSTNAME_INVALID: { part: 'control', status: 400, means: 'Not a hostname an app can have: not a DNS name, an IP address, a wildcard deeper than one label, or a name of the platform' },
  ERR_HOSTNAME_TAKEN: { part: 'control', status: 409, means: 'The hostname belongs to another app' },
  ERR_CERT_NAME: { part: 'certs', means: 'A hostname, ACME token, certificate source, challenge type or directory URL is malformed' },
  ERR_CERT_PARSE: { part: 'certs', means: 'The certificate is not valid PEM X.509, or its PEM also holds a private key' },
  ERR_CERT_READ: { part: 'certs', means: 'A file or directory of the certificate store cannot be read' },
  ERR_CERT_STORE_CORRUPT: { part: 'certs', means: 'A file in the certificate store is not a valid record' },
  ERR_CERT_WRITE: { part: 'certs', means: 'A file or directory of the certificate store cannot be written or removed' },
  ERR_DNS_CONFIG: { part: 'certs', means: 'The DNS-01 solver is misconfigured (server, TSIG algorithm or secret), or the server names no zone for the name' },
  ERR_DNS_PROPAGATION: { part: 'certs', means: 'The DNS server accepted the DNS-01 TXT record but did not answer it in time' },
  ERR_DNS_UNREACHABLE: { part: 'certs', means: 'The DNS server for DNS-01 updates cannot be reached, or did not reply in time' },
  ERR_DNS_UPDATE: { part: 'certs', means: 'The DNS server refused or failed a dynamic update (RFC 2136), or its TSIG-signed reply did not verify' },

  // announcer: BIRD and the anycast announcement
  ERR_BIRD_ARGUMENT: { part: 'announcer', means: 'A command, protocol name or path cannot be sent to BIRD safely' },
  ERR_BIRD_COMMAND: { part: 'announcer', means: 'BIRD rejected a command' },
  ERR_BIRD_CONFIG: { part: 'announcer', means: 'A value of the generated BIRD config holds a character or name BIRD cannot take' },
  ERR_BIRD_PROTOCOL: { part: 'announcer', means: "BIRD's control socket sent a malformed, oversized or truncated reply" },
  ERR_BIRD_SOCKET: { part: 'announcer', means: "BIRD's control socket cannot be reached, did not greet like BIRD, or was closed" },
  ERR_BIRD_START: { part: 'announcer', means: 'bird exited at start, or its control socket did not open in time' },
  ERR_BIRD_TIMEOUT: { part: 'announcer', means: 'BIRD did not answer a command in time' },

  // agent: agent.toml, the admin API and the local Machines API
  ERR_MACHINE_CONNECT: { part: 'agent', status: 502, means: "The agent cannot connect to the machine's port (nothing listens there)" },
  ERR_MACHINE_EXEC: { part: 'agent', means: 'The command to run inside the machine could not be started' },
  ERR_AGENT_API: { part: 'agent', means: "The agent's admin API answered an error without a code of its own" },
  ERR_AGENT_CONFIG: { part: 'agent', means: 'agent.toml is invalid' },
  ERR_MESH_KEY: { part: 'mesh', means: "The host's WireGuard key file cannot be read or does not hold a key" },
  ERR_MESH_DEVICE: { part: 'mesh', means: 'The WireGuard interface cannot be started or refused a change' },
  ERR_VOLUME_IO: { part: 'volumes', means: "A host could not make, mount, grow or remove a volume's filesystem (the command and its words say why)" },
  ERR_VOLUME_NOT_READY: { part: 'sync', means: "A machine that mounts a volume waits for this host to have the volume mounted (retried)" },
  ERR_VOLUME_UNPLACED: { part: 'sync', means: "A machine of a release that mounts a volume was placed without one: it is not made (destroy it and scale again)" },
  ERR_VOLUME_BUSY: { part: 'sync', means: 'Another machine of this host still mounts the volume: the new one starts once it is gone (retried)' },
  ERR_MESH_FILTER: { part: 'mesh', means: "The nftables table that keeps a gateway's WireGuard clients to their org cannot be set" },
  ERR_AGENT_CONFIG_READ: { part: 'agent', means: 'agent.toml cannot be read' },
  ERR_AGENT_TOKEN: { part: 'agent', means: "The agent's admin token_file cannot be read or created, or holds no valid token" },
  ERR_AGENT_UNREACHABLE: { part: 'agent', means: "The agent's admin API cannot be reached" },
  ERR_APP_NAME: { part: 'agent', status: 400, means: 'The app name in the request path is not a valid app name' },
  // The next four are the local Machines API's and the control plane's alike (contract/machines-api.ts).
  ERR_LEASE_HELD: { part: 'agent', status: 409, means: 'Another client holds a lease on the machine: send its nonce, or wait for it to expire' },
  ERR_LEASE_NOT_FOUND: { part: 'agent', status: 404, means: 'The machine holds no lease' },
  ERR_MACHINE_CONFIG: { part: 'agent', status: 400, means: 'The machine request sent to a Machines API is invalid (on the control plane: a config.image that is not the release\'s, another region in an update)' },
  ERR_WAIT_TIMEOUT: { part: 'agent', status: 408, means: 'The machine did not reach the awaited state in time' },

  // sync: the agent's link to the control plane (join, feed, reconcile, cache)
  ERR_AGENT_CREDENTIAL: { part: 'sync', means: "The host's control-plane credential_file cannot be read or is damaged" },
  ERR_AGENT_HOST_ID: { part: 'sync', means: '[control] host_id differs from the host name this host joined as' },
  ERR_AGENT_JOIN: { part: 'sync', means: 'Joining the control plane failed: a bad or used join token, or a wrong or unreachable URL' },
  ERR_AGENT_NOT_JOINED: { part: 'sync', means: 'The host has neither a control-plane credential nor a join token' },
  ERR_AGENT_REGION: { part: 'sync', means: 'agent.region differs from the region this host joined the control plane in' },
  ERR_CONTROL_PROTOCOL: { part: 'sync', means: 'The control plane answered the agent with something that is not JSON' },
  ERR_MACHINE_CREATE: { part: 'sync', means: 'Creating a placed machine failed with an error that has no code of its own' },
  ERR_SYNC_CACHE_INVALID: { part: 'sync', means: "The agent's sync cache file is not a valid sync cache" },
  ERR_SYNC_CACHE_IO: { part: 'sync', means: "The agent's sync cache file cannot be read or written" },
  ERR_SYNC_FAILED: { part: 'sync', means: 'Syncing with the control plane failed with an error that has no code of its own' },
  ERR_SYNC_INVALID: { part: 'sync', means: 'The sync was asked for collections it does not sync' },
  ERR_SYNC_PROTOCOL: { part: 'sync', means: "The control plane's feed answered in a shape the agent does not understand" },

  // runtime: images, machines and the sandbox driver
  ERR_IMAGE_CACHE: { part: 'runtime', means: 'An unpacked image cannot be moved into the image cache' },
  ERR_IMAGE_UNPACK: { part: 'runtime', means: 'An image .tar.gz cannot be unpacked (tar is missing, or the archive is bad)' },
  ERR_IMAGE_UNSUPPORTED: { part: 'runtime', means: 'The image is not a directory or .tar.gz, or holds an entry other than a file, dir or symlink' },
  ERR_MACHINE_DESTROY: { part: 'runtime', means: 'Destroying a machine left traces behind' },
  ERR_MACHINE_EXISTS: { part: 'runtime', means: 'A machine with this id already exists on this host' },
  ERR_MACHINE_NOT_FOUND: { part: 'runtime', status: 404, means: 'The app has no machine with this id (on this host, for the Machines API of an agent; anywhere, for the control plane)' },
  ERR_MACHINE_NOT_PREPARED: { part: 'runtime', means: 'The runtime driver was asked to start a machine it did not prepare' },
  ERR_MACHINE_RUNNING: { part: 'runtime', status: 409, means: 'The machine is running: stop it first, or destroy it with force' },
  ERR_MACHINE_SPEC: { part: 'runtime', means: 'The machine spec is invalid (a bad field, or a volume that is not a directory)' },
  ERR_MACHINE_START: { part: 'runtime', means: 'The runtime driver cannot start the machine' },
  ERR_MACHINE_NOT_STARTED: { part: 'runtime', status: 409, means: 'The machine is not running: a command cannot run inside it until it is started' },
  ERR_EXEC_UNSUPPORTED: { part: 'runtime', status: 501, means: "The host's runtime driver cannot run commands inside machines" },
  ERR_MACHINE_STATE: { part: 'runtime', status: 409, means: 'The machine is being destroyed or is destroyed: its state forbids the call' },
  ERR_SANDBOX_ARCH: { part: 'runtime', means: "The sandbox has no seccomp filter for this host's CPU architecture" },
  ERR_SANDBOX_CONFIG: { part: 'runtime', means: 'A sandbox setting is invalid (public port, machine network CIDR, uid base, image store or overlay layer path)' },
  ERR_SANDBOX_FIREWALL: { part: 'runtime', means: 'nft cannot be run, or the firewall table cannot be created' },
  ERR_SANDBOX_MISSING_TOOL: { part: 'runtime', means: 'A host tool the sandbox needs (bwrap, ip, nft, unshare, sh) is not installed' },
  ERR_SANDBOX_NETWORK: { part: 'runtime', means: "A machine's network cannot be set up (ip failed or cannot be run)" },
  ERR_SANDBOX_NETWORK_FULL: { part: 'runtime', means: 'The machine network has no free /30 left for another machine' },
  ERR_SANDBOX_NO_USERNS: { part: 'runtime', means: 'This host cannot give machines a user namespace mapped to their host uids' },
  ERR_SANDBOX_PATH: { part: 'runtime', means: 'Machines cannot pass through a directory above their data: it lacks o+x' },
  ERR_SANDBOX_SECCOMP: { part: 'runtime', means: 'The seccomp filter cannot be built (a missing syscall, or a program too large)' },
  ERR_SANDBOX_UIDS: { part: 'runtime', means: 'The uid-blocks file (which host uids each app owns) cannot be read or is invalid' },
  ERR_SANDBOX_UIDS_FULL: { part: 'runtime', means: 'No host uid block is left for another app' },

  // control: the control plane (API, auth, store, scheduler, secrets, deploys)
  ERR_APP_EXISTS: { part: 'control', status: 409, means: 'An app of this name exists already' },
  ERR_APP_NOT_FOUND: { part: 'control', status: 404, means: "No such app (in the caller's org, or on this host)" },
  // Two uses: control.toml is invalid (control), or the CLI's control-plane settings are (cli).
  ERR_CONTROL_CONFIG: { part: 'control', means: "control.toml is invalid, or the CLI's control-plane settings are missing or wrong" },
  ERR_CONTROL_CONFIG_READ: { part: 'control', means: 'control.toml cannot be read' },
  ERR_CONTROL_TLS: { part: 'control', means: "The control plane's TLS certificate or key cannot be read, or they are not a pair" },
  ERR_CONTROL_TOKEN: { part: 'control', means: "The control plane's operator token_file cannot be read or created, or holds no valid token" },
  ERR_DEPLOY_FINISHED: { part: 'control', status: 409, means: 'The deploy is in a state that cannot be resumed or rolled back' },
  ERR_PORT_UNAVAILABLE: { part: 'control', status: 409, means: "A host cannot listen on one of a release's public ports (another program holds it there)" },
  ERR_PORT_TAKEN: { part: 'control', status: 409, means: "A release's public port is another app's, or the platform's own (80, 443, BGP, a host's proxy or agent port)" },
  ERR_DEPLOY_INTERRUPTED: { part: 'control', status: 409, means: 'An interrupted deploy of the app must be resumed or rolled back first' },
  ERR_DEPLOY_IN_PROGRESS: { part: 'control', status: 409, means: 'The app has a deploy running: wait for it to end' },
  ERR_DEPLOY_NOT_FOUND: { part: 'control', status: 404, means: 'The app has no deploy with this id' },
  ERR_FORBIDDEN: { part: 'control', status: 403, means: "The caller's token or credential may not do this (scope, app, org or host)" },
  ERR_HOST_HAS_MACHINES: { part: 'control', status: 409, means: 'Machines are still placed on the host: scale them away, or remove it with force' },
  ERR_HOST_UNREACHABLE: { part: 'control', status: 503, means: "The host a machine is placed on did not answer the control plane (or has not registered)" },
  ERR_HOST_NOT_FOUND: { part: 'control', status: 404, means: 'No host of this name' },
  ERR_MESH_KEY_IN_USE: { part: 'control', status: 409, means: 'Another host is on the mesh with this WireGuard public key' },
  ERR_MESH_FULL: { part: 'control', status: 409, means: 'Every host number of the private network is taken' },
  ERR_WIREGUARD_PEER_EXISTS: { part: 'control', status: 409, means: 'The org has a WireGuard peer of this name (or one at its address): remove it first or choose another name' },
  ERR_WIREGUARD_PEER_NOT_FOUND: { part: 'control', status: 404, means: 'The org has no WireGuard peer of this name' },
  ERR_WIREGUARD_KEY_IN_USE: { part: 'control', status: 409, means: 'A host or another WireGuard peer has this public key: make a new key pair' },
  ERR_DEPLOY_STRATEGY: { part: 'control', status: 400, means: 'The deploy strategy cannot replace these machines (canary and bluegreen need a second machine beside each old one; a volume holds one)' },
  ERR_NO_VOLUME: { part: 'control', status: 400, means: 'The app mounts a volume and the region has too few of that name free: each machine needs its own (starling volumes create)' },
  ERR_SNAPSHOT_NOT_FOUND: { part: 'control', status: 404, means: 'The app has no volume snapshot of this id' },
  ERR_SNAPSHOT_NOT_READY: { part: 'control', status: 409, means: 'The snapshot is not taken yet (or failed): restore it once it is ready' },
  ERR_VOLUME_NOT_FOUND: { part: 'control', status: 404, means: 'The app has no volume of this id' },
  ERR_VOLUME_ATTACHED: { part: 'control', status: 409, means: 'A machine mounts the volume: destroy or scale away the machine first' },
  ERR_VOLUME_SIZE: { part: 'control', status: 400, means: 'A volume only grows: ask for more than its size' },
  ERR_HOST_HAS_VOLUMES: { part: 'control', status: 409, means: 'The host holds volumes: destroy them first, or remove it with force (their data is lost)' },
  ERR_PRIVATE_IP_EXISTS: { part: 'control', status: 409, means: 'The app has a private service address already' },
  ERR_PRIVATE_IP_NOT_FOUND: { part: 'control', status: 404, means: 'The app has no private service address' },
  ERR_NO_GATEWAY: { part: 'control', status: 409, means: 'No healthy host on the mesh (in the region asked for) can be the WireGuard gateway' },
  ERR_HOST_REGION: { part: 'control', status: 409, means: 'The host joined in another region: remove it before adding it in a new one' },
  ERR_IMAGE_DIGEST: { part: 'control', status: 400, means: "An image digest is not sha256:<64 hex digits>, or the image's bytes (or their size) do not match it" },
  // 404 on GET /v1/images/{digest}; POST /v1/apps/{app}/deploys answers it with 400 (the release names an image not held).
  ERR_IMAGE_NOT_FOUND: { part: 'control', status: 404, means: 'The image does not exist (the path given, or on the control plane)' },
  ERR_REGISTRY_MANIFEST: { part: 'control', status: 400, means: 'A manifest pushed to the platform registry is not an OCI or Docker schema 2 manifest or index (bad JSON, schema 1, an unknown media type)' },
  ERR_REGISTRY_MANIFEST_BLOB: { part: 'control', status: 400, means: "A manifest pushed to the platform registry references a blob or manifest the app's repository does not hold" },
  ERR_REGISTRY_NAME: { part: 'control', status: 400, means: 'A platform registry repository (an app name), tag or digest is not well-formed' },
  ERR_IMAGE_TOO_LARGE: { part: 'control', status: 413, means: 'The image upload is larger than the control plane accepts, or an image blob or unpacked rootfs is larger than the host allows' },
  ERR_NOT_DEPLOYED: { part: 'control', status: 400, means: 'The app has no deployed release to scale: deploy first' },
  ERR_NO_CAPACITY: { part: 'control', status: 400, means: 'Not enough healthy host capacity in a region for the machines asked for' },
  ERR_NO_RELEASE: { part: 'control', status: 400, means: 'The app has no release yet to deploy' },
  ERR_ORG_EXISTS: { part: 'control', status: 409, means: 'An org of this name exists already' },
  ERR_ORG_NOT_FOUND: { part: 'control', status: 404, means: 'No such org (or not one the caller can see)' },
  ERR_ORG_NETWORK_TAKEN: { part: 'control', status: 409, means: 'The org name hashes to the private network of an org that exists: choose another name' },
  ERR_PLACEMENT_INPUT: { part: 'control', means: 'The scheduler was given a host list naming a host twice' },
  ERR_RELEASE_NOT_FOUND: { part: 'control', status: 404, means: 'The app has no release with this version' },
  ERR_SCALE_COUNT: { part: 'control', means: 'A machine count to scale to is not a whole number, 0 or more' },
  ERR_SCALE_REGION: { part: 'control', means: 'A scale request names an empty region' },
  ERR_SECRETS_DECRYPT: { part: 'control', means: 'A stored secret cannot be decrypted (another secrets key, or a damaged envelope)' },
  ERR_SECRETS_KEY_EXISTS: { part: 'control', means: 'The secrets key file exists already: it is never overwritten' },
  ERR_SECRETS_KEY_INVALID: { part: 'control', means: 'The secrets key is not a 32-byte key (64 hex digits or base64)' },
  ERR_SECRETS_KEY_MISSING: { part: 'control', means: 'No secrets key is configured, or its key file does not exist' },
  ERR_SECRETS_KEY_MODE: { part: 'control', means: 'The secrets key file may be read by group or others: it must be 0600 or stricter' },
  ERR_SECRETS_KEY_READ: { part: 'control', means: 'The secrets key file cannot be opened, or is not a regular file' },
  ERR_SECRETS_KEY_WRITE: { part: 'control', means: 'The secrets key file cannot be created' },
  ERR_SECRET_NOT_FOUND: { part: 'control', status: 404, means: 'The app has no secret of this name' },
  ERR_STORE_CLOSED: { part: 'control', means: 'The state store was used after it was closed' },
  ERR_STORE_COMPACTED: { part: 'control', status: 410, means: 'The changes asked for were compacted away: resync from a snapshot' },
  ERR_STORE_CONFLICT: { part: 'control', status: 409, means: 'A document changed since it was read (compare-and-set failed): read it again' },
  ERR_STORE_FUTURE_REVISION: { part: 'control', status: 410, means: 'The revision asked for is ahead of the store: resync from a snapshot' },
  ERR_STORE_INVALID: { part: 'control', status: 400, means: 'A state-store call is malformed (collection, key, revision, limit, value or op)' },
  ERR_STORE_IO: { part: 'control', means: 'SQLite failed (disk full, I/O error or corruption)' },
  ERR_STORE_LOCKED: { part: 'control', means: 'The state database is in use by another process' },
  ERR_STORE_SCHEMA: { part: 'control', means: 'The database schema is newer than this Starling knows, or a migration is misnumbered' },
  ERR_STORE_TOO_LARGE: { part: 'control', status: 413, means: 'A document or transaction exceeds the state-store size limits' },
  ERR_TOKEN_EXPIRED: { part: 'control', status: 401, means: 'The token has expired: ask for a new one' },
  ERR_TOKEN_NOT_FOUND: { part: 'control', status: 404, means: 'No token with this id (or not one the caller can see)' },
  ERR_UNAUTHORIZED: { part: 'control', status: 401, means: 'The bearer token is missing, wrong, used already, or its host was removed' },

  // cli
  ERR_CLI_DEFINITION: { part: 'cli', means: "A command's declaration is inconsistent (a bug in the CLI's command table, found when it loads)" },
  ERR_CLI_VERSION: { part: 'cli', means: "The CLI cannot read its version from the package's package.json" },
  ERR_ACME_DIRECTORY: { part: 'cli', means: 'The ACME directory cannot be reached or used' },
  ERR_CERT_NOT_FOUND: { part: 'cli', means: 'The certificate store holds no certificate for this host' },
  ERR_CONTROL_API: { part: 'cli', means: 'The control plane answered an error without a code, or something that is not JSON' },
  ERR_CONTROL_PINS: { part: 'cli', means: "The CLI's TLS pins file cannot be read or is damaged" },
  ERR_NO_STARTED_MACHINE: { part: 'cli', means: 'The app has no started machine to run a command in or forward a port to' },
  ERR_EXEC_ENDED: { part: 'cli', means: 'The stream to a machine ended before the command inside it did (an agent or the control plane went away)' },
  ERR_CONTROL_UNREACHABLE: { part: 'cli', means: 'The control plane cannot be reached (from the CLI or an agent)' },
  ERR_BUILD: { part: 'cli', means: "Building the app's Dockerfile with buildah failed; its last lines are quoted" },
  ERR_BUILD_TOOL: { part: 'cli', means: 'A Dockerfile build needs buildah, which is not installed' },
  ERR_IMAGE_PACK: { part: 'cli', means: 'Packing the image directory into a .tar.gz failed' },
  ERR_LOGS_ENDED: { part: 'cli', means: 'The agent ended a followed log stream (it stopped, or the machine was destroyed)' },
  ERR_USAGE: { part: 'cli', means: 'The command line is wrong: a missing, unexpected or malformed argument or flag' },

  // lab: the local test lab (namespaces, routers, agents, probes)
  ERR_LAB_AGENT: { part: 'lab', means: 'An agent of the lab exited at start' },
  ERR_LAB_BUILD: { part: 'lab', means: 'Building the lab network failed at a step' },
  ERR_LAB_CATCHMENT: { part: 'lab', means: 'The simulated BGP catchment did not settle' },
  ERR_LAB_CONTROL: { part: 'lab', means: "The lab's control plane exited at start" },
  ERR_LAB_DEMO: { part: 'lab', means: 'The demo app the lab deploys is missing' },
  ERR_LAB_DEPLOY: { part: 'lab', means: 'Deploying or scaling the demo app in the lab failed' },
  ERR_LAB_DOWN: { part: 'lab', means: 'A city named as down is not a PoP of the topology' },
  ERR_LAB_EXEC: { part: 'lab', means: 'A command run inside the lab failed, or cannot be run' },
  ERR_LAB_EXISTS: { part: 'lab', means: 'The lab is up already, or its network namespaces exist already' },
  ERR_LAB_FAIL: { part: 'lab', means: 'The agent of the host to crash is not running: nothing to crash' },
  ERR_LAB_FAILED_ALREADY: { part: 'lab', means: 'A host to fail has failed already: heal it first' },
  ERR_LAB_ID: { part: 'lab', means: 'The lab id is not 1-8 characters of a-z and 0-9' },
  ERR_LAB_INTERRUPTED: { part: 'lab', means: 'lab up was interrupted' },
  ERR_LAB_NOT_FOUND: { part: 'lab', means: 'There is no lab of this name (no state recorded)' },
  ERR_LAB_NO_CLIENTS: { part: 'lab', means: 'No client city is served by the PoP to fail: a failover there is invisible' },
  ERR_LAB_PLAN: { part: 'lab', means: 'The lab plan is invalid (out of link subnets, an unknown router city, an unquotable path)' },
  ERR_LAB_POP: { part: 'lab', means: 'The lab has no PoP host of this name' },
  ERR_LAB_PRESET: { part: 'lab', means: 'There is no lab preset of this name' },
  ERR_LAB_PROBE: { part: 'lab', means: 'The prober inside the lab failed' },
  ERR_LAB_ROUTER: { part: 'lab', means: "A lab router's BIRD exited at start" },
  ERR_LAB_SERVING: { part: 'lab', means: 'A PoP host of the lab did not serve the demo app from its region in time' },
  ERR_LAB_SPAWN: { part: 'lab', means: 'A process cannot be started inside a lab namespace (ip or nsenter did not start)' },
  ERR_LAB_SPEC: { part: 'lab', means: 'The lab fabric spec is invalid' },
  ERR_LAB_STATE: { part: 'lab', means: "The lab's state file cannot be read, is invalid, or belongs to another lab" },
  ERR_LAB_STATE_GONE: { part: 'lab', means: 'The lab was torn down: its state file is gone' },
  ERR_LAB_TEARDOWN: { part: 'lab', means: 'The lab is not fully down: what is left is still recorded in its state' },
  ERR_LAB_TIE: { part: 'lab', means: 'The topology has ties BGP would break by router id' },
  ERR_LAB_TIMEOUT: { part: 'lab', means: 'A lab wait timed out' },
  ERR_LAB_TOPOLOGY: { part: 'lab', means: 'The lab topology file is invalid' },
  ERR_LAB_TOPOLOGY_READ: { part: 'lab', means: 'The lab topology file cannot be read' },
  ERR_LAB_USERNS: { part: 'lab', means: "The lab's user-namespace holder cannot be started, entered or stopped" },
  ERR_LAB_WHERE: { part: 'lab', means: 'The lab has no client city, PoP host or router of this name' },

  // certs: OCSP stapling (src/certs/ocsp*.ts)
  ERR_OCSP_CHAIN: { part: 'certs', means: 'A certificate names an OCSP responder but its stored chain holds no issuer for it' },
  ERR_OCSP_FETCH: { part: 'certs', means: 'The OCSP responder cannot be reached, timed out, or answered with an HTTP error or an oversized body' },
  ERR_OCSP_MISMATCH: { part: 'certs', means: 'An OCSP response says nothing about the certificate asked about (another serial or issuer)' },
  ERR_OCSP_RESPONSE: { part: 'certs', means: 'An OCSP response is malformed, not successful, or not a basic response' },
  ERR_OCSP_SIGNATURE: { part: 'certs', means: "An OCSP response is not signed by the certificate's issuer or a responder the issuer authorized" },
  ERR_OCSP_STALE: { part: 'certs', means: 'An OCSP response is past its nextUpdate, or its thisUpdate is in the future' },

  // private-dns: the `.internal` DNS of the private network (src/private-dns)
  ERR_PRIVATE_DNS_UPSTREAM: { part: 'private-dns', means: "The private DNS's upstream resolver is not an IP literal and a port 1..65535" },
} as const satisfies Record<`ERR_${string}`, ErrorCodeInfo>;

/** A registered code, or the fallback for a remote answer without one. */
export type ErrorCode = keyof typeof ERROR_CODES | `ERR_HTTP_${number}`;

const HTTP_FALLBACK = /^ERR_HTTP_\d{3}$/;

/** Whether `code` is registered, or the `ERR_HTTP_<status>` fallback of a remote answer without a code. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) || HTTP_FALLBACK.test(code);
}

/** The HTTP status registered for a code, if any. */
export function statusOf(code: string): number | undefined {
  if (!Object.hasOwn(ERROR_CODES, code)) return undefined;
  const info: ErrorCodeInfo = ERROR_CODES[code as keyof typeof ERROR_CODES];
  return info.status;
}
