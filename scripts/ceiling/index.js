// The platform's ceiling, for scripts/bench: the least a worker can do to store a request body
// in R2 and serve an object back. No registry logic and no wasm: whatever the registry does
// beyond this is its own cost.
export default {
  async fetch(request, env) {
    const key = new URL(request.url).pathname.slice(1);
    if (request.method === "PUT") {
      // R2 needs a body of known length: the bench sends a Content-Length.
      await env.BUCKET.put(key, request.body);
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
