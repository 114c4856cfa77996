/**
 * TLS material for the gRPC frontend and client tests: a throw-away self-signed certificate
 * for the name triton.test only (not 127.0.0.1, so a client must name the server), made by
 * the system's openssl (EC P-256: fast to generate).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';

/** The one name the certificate holds. */
export const TLS_SERVER_NAME = 'triton.test';

export interface SelfSignedCert {
  /** PEM certificate: the server's, and the CA a client trusts to reach it. */
  cert: Buffer;
  /** PEM private key of the certificate. */
  key: Buffer;
}

export function makeSelfSignedCert(): SelfSignedCert {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        `/CN=${TLS_SERVER_NAME}`,
        '-addext',
        `subjectAltName=DNS:${TLS_SERVER_NAME}`,
      ],
      { stdio: 'ignore' },
    );
    return {
      cert: fs.readFileSync(path.join(dir, 'cert.pem')),
      key: fs.readFileSync(path.join(dir, 'key.pem')),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** grpc-js server credentials for the certificate, client certificates not asked for. */
export function grpcServerCredentials({ cert, key }: SelfSignedCert): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false);
}
