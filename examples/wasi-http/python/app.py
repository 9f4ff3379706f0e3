"""Echo guest for wasi:http/proxy@0.2, built with componentize-py.

Replies 200 with the request body byte for byte, plus:
  x-echo-method  the request method
  x-echo-path    the request path, without the query
  x-echo-query   the raw query string without '?' (only when non-empty)
  content-type   copied from the request, else application/octet-stream

The body is streamed in chunks through wasi:io/streams: each chunk read from
the incoming body is written to the outgoing body before the next is read,
so memory use does not grow with the body size.
"""

from componentize_py_types import Ok, Err
from wit_world import exports
from wit_world.imports import types
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

# Bytes asked for per read. The host may return fewer.
READ_CHUNK = 64 * 1024
# blocking-write-and-flush accepts at most 4096 bytes per call.
WRITE_CHUNK = 4096

_METHODS = {
    types.Method_Get: "GET",
    types.Method_Head: "HEAD",
    types.Method_Post: "POST",
    types.Method_Put: "PUT",
    types.Method_Delete: "DELETE",
    types.Method_Connect: "CONNECT",
    types.Method_Options: "OPTIONS",
    types.Method_Trace: "TRACE",
    types.Method_Patch: "PATCH",
}


def method_name(method: types.Method) -> str:
    if isinstance(method, types.Method_Other):
        return method.value
    return _METHODS[type(method)]


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path_with_query = request.path_with_query() or "/"
        path, sep, query = path_with_query.partition("?")

        content_type = b"application/octet-stream"
        with request.headers() as req_headers:
            values = req_headers.get("content-type")
            if values:
                content_type = values[0]

        headers = [
            ("x-echo-method", method_name(request.method()).encode()),
            ("x-echo-path", path.encode()),
        ]
        if sep and query:
            headers.append(("x-echo-query", query.encode()))
        headers.append(("content-type", content_type))

        response = OutgoingResponse(Fields.from_list(headers))
        response.set_status_code(200)
        out_body = response.body()
        # Send the status and headers now; the body follows as it is read.
        ResponseOutparam.set(response_out, Ok(response))

        in_body = request.consume()
        # Child resources (the streams) must be dropped before their parent
        # body is finished, hence the `with` blocks.
        with in_body.stream() as src, out_body.write() as dst:
            while True:
                try:
                    chunk = src.blocking_read(READ_CHUNK)
                except Err as e:
                    if isinstance(e.value, StreamError_Closed):
                        break  # end of the request body
                    raise
                for i in range(0, len(chunk), WRITE_CHUNK):
                    dst.blocking_write_and_flush(chunk[i : i + WRITE_CHUNK])

        with IncomingBody.finish(in_body):
            pass  # no use for request trailers; drop the future
        OutgoingBody.finish(out_body, None)
