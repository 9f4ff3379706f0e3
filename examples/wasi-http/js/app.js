// Echo guest for wasi:http/proxy@0.2, built with ComponentizeJS.
//
// Replies 200 with the request body byte for byte, plus:
//   x-echo-method  the request method
//   x-echo-path    the request path, without the query
//   x-echo-query   the raw query string without '?' (only when non-empty)
//   content-type   copied from the request, else application/octet-stream
//
// StarlingMonkey's fetch-event feature maps wasi:http/incoming-handler#handle
// to a service-worker style `fetch` event. `request.body` (a ReadableStream
// over the incoming wasi:io stream) is handed to the Response unread, so the
// engine copies it to the outgoing body chunk by chunk; the script never
// collects it with arrayBuffer().

addEventListener("fetch", (event) => {
  event.respondWith(echo(event.request));
});

function echo(request) {
  // request.url is "scheme://authority" + the request target exactly as
  // received. Split it by hand rather than with `new URL()`, which would
  // normalise the path ("/a/../b" -> "/b").
  const target = request.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, "");
  const q = target.indexOf("?");
  const path = (q < 0 ? target : target.slice(0, q)) || "/";
  const query = q < 0 ? "" : target.slice(q + 1);

  const headers = new Headers();
  headers.set("x-echo-method", request.method);
  headers.set("x-echo-path", path);
  if (query !== "") {
    headers.set("x-echo-query", query);
  }
  headers.set(
    "content-type",
    request.headers.get("content-type") ?? "application/octet-stream",
  );

  return new Response(request.body, { status: 200, headers });
}
