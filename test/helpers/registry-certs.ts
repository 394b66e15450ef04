import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { requireTool } from "./tools.js";

/** Certificates made for one TLS test registry: a throwaway CA, a server pair and a client pair. */
export interface TestCertificates {
  /** PEM file of the CA that signed the server and client certificates. */
  caFile: string;
  /** The same CA as PEM text (for undici's `connect: { ca }`). */
  caPem: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A client certificate signed by the CA (for registries that require client certificates). */
  clientCertFile: string;
  clientKeyFile: string;
  /**
   * A directory in the containers-certs.d layout that skopeo's `--cert-dir` reads: `ca.crt`, and
   * `client.cert` + `client.key`.
   */
  certDir: string;
}

/** A self-signed signing certificate for the token issuer (ES256). */
export interface SigningCertificate {
  certFile: string;
  certPem: string;
  keyPem: string;
}

const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cairn test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

function openssl(args: string[], cwd: string): void {
  execFileSync(requireTool("openssl"), args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function serial(): string {
  return `0x${randomBytes(8).toString("hex")}`;
}

function writeConfig(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "openssl.cnf");
  writeFileSync(file, OPENSSL_CONFIG);
  return file;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function selfSigned(dir: string, cnf: string, name: string, cn: string): void {
  openssl(
    [
      "req",
      "-x509",
      "-config",
      cnf,
      "-extensions",
      "ca",
      ...EC_KEY,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-set_serial",
      serial(),
      "-subj",
      `/CN=${cn}`,
    ],
    dir,
  );
}

function signedByCa(dir: string, cnf: string, name: string, cn: string, extensions: string): void {
  openssl(
    [
      "req",
      "-new",
      "-config",
      cnf,
      ...EC_KEY,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
    ],
    dir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      serial(),
      "-days",
      "2",
      "-extfile",
      cnf,
      "-extensions",
      extensions,
      "-out",
      `${name}.crt`,
    ],
    dir,
  );
}

/**
 * Makes, with openssl, a CA plus a server certificate for `127.0.0.1` (IP SAN) and `localhost`, and
 * a client certificate, all under `dir`. Keys are P-256, valid for two days.
 *
 * @example
 * const certs = makeTestCertificates(path.join(tmp, "tls"));
 * new Agent({ connect: { ca: certs.caPem } });
 */
export function makeTestCertificates(dir: string): TestCertificates {
  const cnf = writeConfig(dir);
  selfSigned(dir, cnf, "ca", "cairn test CA");
  signedByCa(dir, cnf, "server", "127.0.0.1", "server");
  signedByCa(dir, cnf, "client", "cairn test client", "client");
  const certDir = path.join(dir, "certs.d");
  mkdirSync(certDir);
  copyFileSync(path.join(dir, "ca.crt"), path.join(certDir, "ca.crt"));
  copyFileSync(path.join(dir, "client.crt"), path.join(certDir, "client.cert"));
  copyFileSync(path.join(dir, "client.key"), path.join(certDir, "client.key"));
  return {
    caFile: path.join(dir, "ca.crt"),
    caPem: readFileSync(path.join(dir, "ca.crt"), "utf8"),
    serverCertFile: path.join(dir, "server.crt"),
    serverKeyFile: path.join(dir, "server.key"),
    clientCertFile: path.join(dir, "client.crt"),
    clientKeyFile: path.join(dir, "client.key"),
    certDir,
  };
}

/**
 * Makes a self-signed P-256 certificate for signing registry tokens; the registry trusts it as its
 * `rootcertbundle`, and tokens carry it in their `x5c` header.
 *
 * @example
 * const signer = makeSigningCertificate(path.join(tmp, "issuer"));
 */
export function makeSigningCertificate(dir: string): SigningCertificate {
  const cnf = writeConfig(dir);
  selfSigned(dir, cnf, "token", "cairn test token issuer");
  return {
    certFile: path.join(dir, "token.crt"),
    certPem: readFileSync(path.join(dir, "token.crt"), "utf8"),
    keyPem: readFileSync(path.join(dir, "token.key"), "utf8"),
  };
}
