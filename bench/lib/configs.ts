/**
 * Config files for the benchmark's processes. Every path nginx would otherwise take from its
 * compiled-in defaults (/etc, /var/lib/nginx, /run) points into the benchmark's temp dir; nothing
 * listens anywhere but 127.0.0.1; no access logs.
 */
import { join } from 'node:path';

export const BODY = 'hello\n';
export const BENCH_HOST = 'bench.local';

/**
 * Directives every nginx here shares: pid, error log and temp paths inside `dir`, named after `name`
 * (the caller creates `${name}-temp/{client_body,proxy,fastcgi,uwsgi,scgi}`).
 */
function nginxCommon(dir: string, name: string, workers: number): string {
  return `worker_processes ${workers};
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
events { worker_connections 4096; }
`;
}

function nginxHttpCommon(dir: string, name: string): string {
  const t = (sub: string) => join(dir, `${name}-temp`, sub);
  return `  access_log off;
  client_body_temp_path ${t('client_body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  # nginx closes a keep-alive connection after 1000 requests by default; HAProxy does not. Lift the
  # limit so neither the load generator nor the proxies reconnect mid-run.
  keepalive_requests 1000000;
`;
}

/** The origin: a static 200 with a small body, any Host. */
export function nginxOriginConf(dir: string, name: string, port: number, workers: number): string {
  return `${nginxCommon(dir, name, workers)}
http {
${nginxHttpCommon(dir, name)}
  server {
    listen 127.0.0.1:${port} default_server;
    location / {
      default_type text/plain;
      return 200 ${JSON.stringify(BODY)};
    }
  }
}
`;
}

/** nginx as reverse proxy: keep-alive to the origin (HTTP/1.1, Connection ""), any Host. */
export function nginxProxyConf(dir: string, name: string, port: number, originPort: number, workers: number): string {
  return `${nginxCommon(dir, name, workers)}
http {
${nginxHttpCommon(dir, name)}
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} default_server;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** HAProxy in HTTP mode, keep-alive on both sides, connection reuse to the origin, no logging. */
export function haproxyConf(port: number, originPort: number, threads: number): string {
  return `global
  nbthread ${threads}
  maxconn 1000

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s

frontend bench
  bind 127.0.0.1:${port}
  default_backend origin

backend origin
  server origin1 127.0.0.1:${originPort}
`;
}

/**
 * Starling's routes file: one app on bench.local, one machine (the origin). The schema's defaults
 * make the machine `started` and healthy.
 */
export function starlingRoutes(originPort: number): string {
  const routes = {
    apps: [
      {
        name: 'bench',
        hostnames: [BENCH_HOST],
        service: { internal_port: originPort, concurrency: { type: 'requests', soft_limit: 1000 } },
        machines: [
          { id: 'origin1', region: 'fra', address: '127.0.0.1', port: originPort },
        ],
      },
    ],
  };
  return `${JSON.stringify(routes, null, 2)}\n`;
}

/**
 * nginx as TLS-terminating reverse proxy (`npm run bench:tls`): the same proxying as
 * nginxProxyConf, behind `listen … ssl` with one certificate, TLS 1.3 only, and no session tickets
 * (`NumTickets 0`), so that a client which opens a new connection for every request makes a full
 * handshake each time instead of resuming. Without a session cache (nginx's default) there is no
 * other way to resume.
 */
export function nginxTlsProxyConf(
  dir: string,
  name: string,
  port: number,
  originPort: number,
  tls: { certFile: string; keyFile: string },
): string {
  return `${nginxCommon(dir, name, 1)}
http {
${nginxHttpCommon(dir, name)}
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} ssl default_server;
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    ssl_protocols TLSv1.3;
    ssl_conf_command NumTickets 0;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}
