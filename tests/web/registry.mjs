// What the browser test pushes and reads through the registry API, with node's fetch: blobs
// (monolithic POST with ?digest=), manifests, tar layers built here, OSV advisory zips, scan
// reports awaited while the worker's queue scans, and cosign signatures made by the real cosign
// (tests/clients/setup installs it in tests/.tools/bin). Every digest is computed here and checked
// against what the registry answers.

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const CYCLONEDX = 'application/vnd.cyclonedx+json';
export const SCAN_REPORT = 'application/vnd.edge-registry.scan-report.v1+json';

/// How long a scan or an advisory match may take: as tests/common/scan.rs allows.
const PATIENCE_MS = 120_000;

export const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export const basic = (user, password) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/// Retries `attempt` every quarter second until it returns a value other than undefined; fails
/// after PATIENCE_MS with what the last attempt said (`attempt` returns {value} or {last}).
export async function waitUntil(what, attempt) {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const { value, last } = await attempt();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not after ${PATIENCE_MS} ms; last: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/// A ustar archive of regular files ([path, content] pairs), in order, with fixed metadata so
/// that the same files always make the same layer.
export function tar(files) {
  const blocks = [];
  for (const [name, content] of files) {
    const data = Buffer.from(content);
    const header = Buffer.alloc(512);
    const field = (offset, length, value) => header.write(value, offset, length, 'utf8');
    const octal = (offset, length, n) => field(offset, length, `${n.toString(8).padStart(length - 1, '0')}\0`);
    if (Buffer.byteLength(name) > 100) throw new Error(`${name}: too long for a test layer`);
    field(0, 100, name);
    octal(100, 8, 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, data.length);
    octal(136, 12, 1_700_000_000);
    header.fill(' ', 148, 156);
    field(156, 1, '0');
    field(257, 8, 'ustar\u000000');
    const checksum = header.reduce((sum, byte) => sum + byte, 0);
    field(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/// A gzipped layer of `files`: its bytes, digest, size, media type, and the diff_id its config
/// names.
export function gzipLayer(files) {
  const plain = tar(files);
  const bytes = zlib.gzipSync(plain);
  return { bytes, digest: sha256(bytes), size: bytes.length, mediaType: GZIP_LAYER, diffId: sha256(plain) };
}

/// A zip of [name, content] entries, deflated: an OSV export as PUT /_advisories/<ecosystem>
/// takes it.
export function zip(entries) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = Buffer.from(content);
    const deflated = zlib.deflateRawSync(data);
    const fileName = Buffer.from(name);
    const common = Buffer.alloc(26);
    common.writeUInt16LE(20, 0); // version needed
    common.writeUInt16LE(0, 2); // flags
    common.writeUInt16LE(8, 4); // deflate
    common.writeUInt32LE(0, 6); // time and date
    common.writeUInt32LE(zlib.crc32(data), 10);
    common.writeUInt32LE(deflated.length, 14);
    common.writeUInt32LE(data.length, 18);
    common.writeUInt16LE(fileName.length, 22);
    common.writeUInt16LE(0, 24); // extra length
    const local = Buffer.concat([u32(0x04034b50), common, fileName, deflated]);
    const tail = Buffer.alloc(14); // comment length, disk, attributes; then the local header's offset
    tail.writeUInt32LE(offset, 10);
    central.push(Buffer.concat([u32(0x02014b50), u16(20), common, tail, fileName]));
    locals.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u16(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

/// The registry at `base` (http://127.0.0.1:PORT) as one user (HTTP Basic).
export class Registry {
  constructor(base, user, password) {
    this.base = base;
    this.host = new URL(base).host;
    this.user = user;
    this.password = password;
    this.authorization = basic(user, password);
  }

  async send(method, route, { headers = {}, body } = {}) {
    const response = await fetch(this.base + route, {
      method,
      body,
      redirect: 'manual',
      headers: { Authorization: this.authorization, ...headers },
      signal: AbortSignal.timeout(30_000),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, bytes, text: () => bytes.toString('utf8') };
  }

  async expect(status, method, route, options) {
    const reply = await this.send(method, route, options);
    if (reply.status !== status) {
      throw new Error(`${method} ${route}: expected ${status}, got ${reply.status}: ${reply.text().slice(0, 500)}`);
    }
    return reply;
  }

  /// Pushes `bytes` as one monolithic upload; returns its digest.
  async pushBlob(name, bytes) {
    const digest = sha256(bytes);
    await this.expect(201, 'POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
    });
    return digest;
  }

  /// Pushes `document` (an object) as a manifest of `mediaType` under `reference`, and reads
  /// it back by digest; returns { digest, bytes }.
  async putManifest(name, reference, document, mediaType) {
    const bytes = Buffer.from(JSON.stringify(document));
    const digest = sha256(bytes);
    const put = await this.expect(201, 'PUT', `/v2/${name}/manifests/${reference}`, {
      headers: { 'Content-Type': mediaType },
      body: bytes,
    });
    if (put.headers.get('docker-content-digest') !== digest) {
      throw new Error(`PUT ${name}:${reference}: Docker-Content-Digest ${put.headers.get('docker-content-digest')}, expected ${digest}`);
    }
    const back = await this.expect(200, 'GET', `/v2/${name}/manifests/${digest}`, { headers: { Accept: mediaType } });
    if (sha256(back.bytes) !== digest) throw new Error(`GET ${name}@${digest} answers other bytes`);
    return { digest, bytes };
  }

  /// The digest `name:tag` resolves to (HEAD), or null when the tag is unknown.
  async tagDigest(name, tag) {
    const accept = [OCI_MANIFEST, OCI_INDEX].join(', ');
    const reply = await this.send('HEAD', `/v2/${name}/manifests/${tag}`, { headers: { Accept: accept } });
    return reply.status === 200 ? reply.headers.get('docker-content-digest') : null;
  }

  /// Pushes an image of `layers` (from gzipLayer) and `config` (an object; its rootfs is filled
  /// in) as `name:tag` (or untagged by digest when `tag` is null), with manifest `annotations`.
  /// Returns what the catalog should show of it.
  async pushImage(name, tag, { config, layers, annotations }) {
    const configBytes = Buffer.from(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
    const configDigest = await this.pushBlob(name, configBytes);
    for (const layer of layers) await this.pushBlob(name, layer.bytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
      ...(annotations ? { annotations } : {}),
    };
    const provisional = sha256(Buffer.from(JSON.stringify(manifest)));
    const { digest, bytes } = await this.putManifest(name, tag ?? provisional, manifest, OCI_MANIFEST);
    const platform = [config.os, config.architecture, config.variant].filter(Boolean).join('/');
    return {
      digest,
      manifestSize: bytes.length,
      bytes: configBytes.length + layers.reduce((sum, l) => sum + l.size, 0),
      platform,
      platformObject: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      layers: layers.map(({ digest: d, size, mediaType }) => ({ digest: d, size, mediaType })),
      config,
    };
  }

  /// Pushes an index of `images` (as pushImage returned them, pushed untagged) as `name:tag`.
  async pushIndex(name, tag, images, annotations) {
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: images.map((image) => ({
        mediaType: OCI_MANIFEST,
        digest: image.digest,
        size: image.manifestSize,
        platform: image.platformObject,
      })),
      annotations,
    };
    const { digest } = await this.putManifest(name, tag, index, OCI_INDEX);
    return { digest, bytes: images.reduce((sum, image) => sum + image.bytes, 0), platforms: images.map((i) => i.platform), images };
  }

  /// The scan report of `name@digest` (GET /v2/<name>/_scan/<digest>).
  async scan(name, digest) {
    const reply = await this.expect(200, 'GET', `/v2/${name}/_scan/${digest}`);
    return JSON.parse(reply.text());
  }

  /// The scan report once `ready(report)` holds.
  async waitForScan(what, name, digest, ready) {
    return waitUntil(what, async () => {
      const report = await this.scan(name, digest);
      return ready(report) ? { value: report } : { last: JSON.stringify(report).slice(0, 1000) };
    });
  }

  /// Loads `entries` as the OSV advisories of `ecosystem` (PUT /_advisories/<ecosystem>, 202).
  async putAdvisories(ecosystem, entries) {
    await this.expect(202, 'PUT', `/_advisories/${ecosystem}`, {
      headers: { 'Content-Type': 'application/zip' },
      body: zip(entries),
    });
  }

  /// What GET /_advisories says of `ecosystem`, if anything.
  async advisoryStatus(ecosystem) {
    const all = JSON.parse((await this.expect(200, 'GET', '/_advisories')).text());
    return (all.ecosystems ?? []).find((entry) => entry.ecosystem === ecosystem);
  }

  /// Signs `name@digest` with cosign and a key pair made for the purpose (no transparency log:
  /// loopback only), logging in through a Docker configuration of its own; returns the
  /// signature's tag, `sha256-<hex>.sig`, once the registry holds it.
  async cosignSign(cosign, name, digest) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'web-cosign-'));
    try {
      const auths = { [this.host]: { auth: Buffer.from(`${this.user}:${this.password}`).toString('base64') } };
      fs.mkdirSync(path.join(dir, 'docker'));
      fs.writeFileSync(path.join(dir, 'docker', 'config.json'), JSON.stringify({ auths }));
      const env = { ...process.env, DOCKER_CONFIG: path.join(dir, 'docker'), COSIGN_PASSWORD: '', HOME: dir };
      const run = (args) => promisify(execFile)(cosign, args, { cwd: dir, env, timeout: 60_000 });
      await run(['generate-key-pair']);
      await run(['sign', '-y', '--key', 'cosign.key', '--tlog-upload=false', '--allow-insecure-registry',
        `${this.host}/${name}@${digest}`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const tag = `${digest.replace(':', '-')}.sig`;
    if (!(await this.tagDigest(name, tag))) throw new Error(`cosign sign left no ${tag} in ${name}`);
    return tag;
  }
}
