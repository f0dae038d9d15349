// The platform's ceiling, for scripts/bench: the least a worker can do to store a request body
// in R2 and serve an object back. No registry logic and no wasm: whatever the registry does
// beyond this is its own cost.
//
// `PUT /key?multipart` stores the body as the registry stores a blob of unknown length: a
// multipart upload of 16 MiB parts (the registry's default part size). R2 reads such objects
// back part by part, and miniflare's local R2 does it far more slowly than it reads an object
// of one put, so the registry's pulls are compared with both.
const PART_SIZE = 16 * 1024 * 1024;

async function putMultipart(bucket, key, body) {
  const upload = await bucket.createMultipartUpload(key);
  const parts = [];
  const reader = body.getReader();
  let part = new Uint8Array(PART_SIZE);
  let filled = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (let offset = 0; offset < value.length; ) {
      const take = Math.min(PART_SIZE - filled, value.length - offset);
      part.set(value.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === PART_SIZE) {
        parts.push(await upload.uploadPart(parts.length + 1, part));
        part = new Uint8Array(PART_SIZE);
        filled = 0;
      }
    }
  }
  if (filled > 0 || parts.length === 0) {
    parts.push(await upload.uploadPart(parts.length + 1, part.subarray(0, filled)));
  }
  await upload.complete(parts);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = url.pathname.slice(1);
    if (request.method === "PUT") {
      if (url.searchParams.has("multipart")) {
        await putMultipart(env.BUCKET, key, request.body);
      } else {
        // R2 needs a body of known length: the bench sends a Content-Length.
        await env.BUCKET.put(key, request.body);
      }
      return new Response(null, { status: 201 });
    }
    const object = await env.BUCKET.get(key);
    if (object === null) {
      return new Response("not found", { status: 404 });
    }
    return new Response(object.body, {
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(object.size),
      },
    });
  },
};
