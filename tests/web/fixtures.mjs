// The repositories the browser test pushes, and what the catalog must show of them. Their
// content is fixed, so a second run against the same worker pushes the same digests.

import { gzipLayer, waitUntil } from './registry.mjs';

export const HOSTILE = {
  script: '<script>alert(1)</script>',
  attribute: '"><img src=x onerror=alert(1)>',
  single: "'><svg onload=alert(1)>",
  table: '</td></tr></table><script>alert(2)</script>',
  javascriptUrl: 'javascript:alert(1)',
};

export const NAMES = {
  multiarch: 'web/multiarch',
  signed: 'web/signed',
  scanned: 'web/scanned',
  hostile: 'web/hostile',
  private: 'private/web-secret',
};

export const MULTIARCH_ANNOTATIONS = {
  'org.opencontainers.image.description': 'A multi-arch test image for the web catalog',
  'org.opencontainers.image.source': 'https://example.com/web/multiarch',
  'org.opencontainers.image.licenses': 'Apache-2.0',
  'org.opencontainers.image.version': '1.0.0',
};

const CREATED = '2026-01-02T03:04:05Z';

function config(architecture, variant, extra = {}) {
  return {
    created: CREATED,
    architecture,
    ...(variant ? { variant } : {}),
    os: 'linux',
    config: {
      Entrypoint: ['/hello'],
      Cmd: ['--greet', 'world'],
      Env: ['PATH=/usr/local/bin:/usr/bin', `GREETING=hello from ${architecture}`],
      ExposedPorts: { '8080/tcp': {} },
      Labels: { 'org.example.team': 'web-catalog' },
      ...extra,
    },
    history: [
      { created: CREATED, created_by: `COPY hello-${architecture} /hello` },
      { created: CREATED, created_by: 'CMD ["--greet", "world"]', empty_layer: true },
    ],
  };
}

const DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n';

function stanza(name, version) {
  return `Package: ${name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: ${version}\nDescription: ${name}, a test package\n`;
}

/// An OSV advisory on Debian 12's `name`, fixed in `fixed`, rated by Debian's own word.
function advisory(id, name, fixed, severity) {
  const document = {
    schema_version: '1.6.0',
    id,
    modified: '2026-01-01T00:00:00Z',
    summary: `${name}: a test vulnerability`,
    affected: [{
      package: { ecosystem: 'Debian:12', name },
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }],
    }],
    database_specific: { severity },
  };
  return [`${id}.json`, JSON.stringify(document)];
}

/// The vulnerabilities the scanned image must be reported with, as [id, severity].
export const FINDINGS = [['TEST-WEB-CRITICAL-1', 'critical'], ['TEST-WEB-HIGH-1', 'high']];

/// Pushes every repository as `admin` (a Registry) and signs one with `cosign`; returns what
/// was pushed.
export async function pushAll(admin, cosign) {
  const pushed = {};

  // web/multiarch: 0.9, one amd64 image, then 1.0, an index of amd64 and arm64/v8 images
  // (pushed later, so listed first), annotated on the index and on its images.
  const old = await admin.pushImage(NAMES.multiarch, '0.9', {
    config: config('amd64', null),
    layers: [gzipLayer([['hello', 'hello 0.9\n']])],
    annotations: { ...MULTIARCH_ANNOTATIONS, 'org.opencontainers.image.version': '0.9.0' },
  });
  const amd64 = await admin.pushImage(NAMES.multiarch, null, {
    config: config('amd64', null),
    layers: [gzipLayer([['hello', 'hello from amd64\n']]), gzipLayer([['etc/motd', 'multi-arch\n'.repeat(40)]])],
    annotations: MULTIARCH_ANNOTATIONS,
  });
  const arm64 = await admin.pushImage(NAMES.multiarch, null, {
    config: config('arm64', 'v8'),
    layers: [gzipLayer([['hello', 'hello from arm64, the larger one\n'.repeat(20)]])],
    annotations: MULTIARCH_ANNOTATIONS,
  });
  const index = await admin.pushIndex(NAMES.multiarch, '1.0', [amd64, arm64], MULTIARCH_ANNOTATIONS);
  pushed.multiarch = { old, index };

  // web/signed: an image signed by cosign (a sha256-<hex>.sig tag).
  const signed = await admin.pushImage(NAMES.signed, 'v1', {
    config: config('amd64', null),
    layers: [gzipLayer([['hello', 'signed\n']])],
  });
  signed.signatureTag = await admin.cosignSign(cosign, NAMES.signed, signed.digest);
  pushed.signed = signed;

  // web/scanned: a Debian 12 image whose packages the loaded advisories name.
  const scanned = await admin.pushImage(NAMES.scanned, 'bookworm', {
    config: config('amd64', null),
    layers: [gzipLayer([
      ['etc/os-release', DEBIAN_12],
      ['var/lib/dpkg/status', [stanza('libfoo1', '1.2-3'), stanza('bar', '2.0-1'), stanza('baz', '1.0-1')].join('\n')],
    ])],
  });
  await admin.waitForScan(`the scan of ${NAMES.scanned}`, NAMES.scanned, scanned.digest,
    (report) => {
      if (['failed', 'unsupported'].includes(report.status)) throw new Error(`scan ${report.status}: ${JSON.stringify(report)}`);
      return report.status === 'complete';
    });
  await admin.putAdvisories('Debian', [
    advisory(FINDINGS[0][0], 'libfoo1', '1.2-4', 'critical'),
    advisory(FINDINGS[1][0], 'bar', '2.0-2', 'high'),
    // Installed at the fixed version: no finding.
    advisory('TEST-WEB-FIXED-1', 'baz', '1.0-1', 'critical'),
  ]);
  const wanted = FINDINGS.map(([id, severity]) => `${id} ${severity}`).sort().join(',');
  scanned.report = await waitUntil(`the findings of ${NAMES.scanned}`, async () => {
    const loaded = await admin.advisoryStatus('Debian');
    if (loaded?.status === 'failed') throw new Error(`the advisories' load failed: ${JSON.stringify(loaded)}`);
    const report = await admin.scan(NAMES.scanned, scanned.digest);
    const found = (report.vulnerabilities ?? []).map((v) => `${v.id} ${v.severity}`).sort().join(',');
    return found === wanted ? { value: report } : { last: JSON.stringify(report).slice(0, 1000) };
  });
  if (!scanned.report.sbom_digest || !scanned.report.report_digest) {
    throw new Error(`the scan report names no SBOM or report: ${JSON.stringify(scanned.report)}`);
  }
  pushed.scanned = scanned;

  // web/hostile: markup and attribute breakers in annotations, labels (keys and values), env,
  // cmd, history and the platform's variant.
  pushed.hostile = await admin.pushImage(NAMES.hostile, 'latest', {
    config: {
      ...config('amd64', HOSTILE.attribute, {
        Cmd: [HOSTILE.script],
        Env: [`EVIL=${HOSTILE.attribute}`],
        Labels: {
          'org.example.script': HOSTILE.script,
          [HOSTILE.attribute]: HOSTILE.single,
          'org.example.table': HOSTILE.table,
        },
      }),
      history: [{ created: CREATED, created_by: HOSTILE.attribute }],
    },
    layers: [gzipLayer([['hostile', HOSTILE.script]])],
    annotations: {
      'org.opencontainers.image.description': `${HOSTILE.script} ${HOSTILE.attribute}`,
      'org.opencontainers.image.source': HOSTILE.javascriptUrl,
      'org.opencontainers.image.url': HOSTILE.attribute,
      'org.opencontainers.image.licenses': HOSTILE.table,
      'org.opencontainers.image.version': HOSTILE.single,
    },
  });

  // private/web-secret: only users who may pull private/* see it.
  pushed.private = await admin.pushImage(NAMES.private, 'v1', {
    config: config('amd64', null),
    layers: [gzipLayer([['secret', 'private\n']])],
  });
  return pushed;
}
