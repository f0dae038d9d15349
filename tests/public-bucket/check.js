// Lists the public-blobs bucket of a stopped test worker (its --persist-to directory, through
// miniflare, which wrangler dev used) and checks it against what tests/worker.rs expects:
// every object is a blob's bytes under `<alg>/<hex>`, its content hashes to that digest, and
// the keys are exactly the expected ones.
// Usage: node tests/public-bucket/check.js STATE_DIR EXPECTED_JSON
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { Miniflare } = require(path.join(__dirname, "../../scripts/node_modules/miniflare"));

async function main() {
  const [state, expectedFile] = process.argv.slice(2);
  const expected = JSON.parse(fs.readFileSync(expectedFile, "utf8"));
  const key = (digest) => digest.replace(":", "/");
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response(null, { status: 404 }); } }",
    defaultPersistRoot: path.join(state, "v3"),
    r2Buckets: { PUBLIC_BLOBS_BUCKET: "edge-registry-public-blobs" },
  });
  const failures = [];
  const keys = [];
  try {
    const bucket = await mf.getR2Bucket("PUBLIC_BLOBS_BUCKET");
    let cursor;
    do {
      const page = await bucket.list({ cursor });
      for (const object of page.objects) keys.push(object.key);
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    for (const name of keys) {
      const match = /^(sha256)\/([0-9a-f]{64})$|^(sha512)\/([0-9a-f]{128})$/.exec(name);
      if (!match) {
        failures.push(`${name}: not a digest key`);
        continue;
      }
      const [algorithm, hex] = match[1] ? [match[1], match[2]] : [match[3], match[4]];
      const object = await bucket.get(name);
      const bytes = Buffer.from(await object.arrayBuffer());
      const actual = crypto.createHash(algorithm).update(bytes).digest("hex");
      if (actual !== hex) failures.push(`${name}: holds bytes of ${algorithm}:${actual}`);
    }
  } finally {
    await mf.dispose();
  }
  const held = expected.held.map(key).sort();
  if (held.length === 0) failures.push("the test expects nothing in the bucket");
  if (JSON.stringify([...keys].sort()) !== JSON.stringify(held)) {
    failures.push(`holds ${JSON.stringify(keys)}, expected ${JSON.stringify(held)}`);
  }
  for (const digest of expected.not_held) {
    if (keys.includes(key(digest))) failures.push(`holds ${digest}, which it must not`);
  }
  if (failures.length > 0) {
    console.error(`public-blobs bucket:\n  ${failures.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`public-blobs bucket: ${keys.length} object(s), each a public blob under its digest`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
