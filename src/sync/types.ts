/** What the agent's `[control]` section resolves to (src/agent/config-control.ts checks it). */
export interface ControlSection {
  url: string;
  /** This host's credential, written (0600) when the agent joins: `{ host, region, credential, peer_key, fingerprint }`. */
  credential_file: string;
  /** The one-time join token `starling hosts add` printed; read once, when there is no credential yet. */
  join_token_file: string;
  /** The control plane's certificate fingerprint (64 hex digits) to pin; else the join token's, else a CA must vouch. */
  fingerprint: string | undefined;
  /** Allow plain http:// to a non-loopback control plane (tokens in clear: trusted networks and tests only). */
  insecure: boolean;
  /** The host id the operator gave (`hosts add NAME`); undefined: whatever the join token says. */
  host_id: string | undefined;
  capacity: { machines: number; volume_gb?: number | undefined };
  /** `IP:PORT` where other hosts' proxies reach this host's proxy. */
  proxy_address: string;
  /** Each control-plane app is served at `<app>.<apps_domain>`. */
  apps_domain: string;
  cache_file: string;
}
