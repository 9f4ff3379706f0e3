/*
 * echo.c: the WAGI (CGI-style) echo guest, in C. The server runs it once per
 * request, with the request in environment variables and its body on stdin;
 * it writes a CGI response to stdout: header lines, a blank line, the body.
 *
 * The response is "200 OK" with the request's body, byte for byte, and:
 *
 *   x-echo-method  REQUEST_METHOD
 *   x-echo-path    SCRIPT_NAME followed by PATH_INFO: the full path, without
 *                  the query string
 *   x-echo-query   QUERY_STRING, only when it is not empty
 *   Content-Type   CONTENT_TYPE, else application/octet-stream
 *
 * Other request headers arrive as HTTP_<NAME> variables (HTTP_ACCEPT, ...).
 *
 * Build: ./build.sh (zig cc --target=wasm32-wasi -Os echo.c -o echo.wasm).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of an environment variable, or "" when it is not set. */
static const char *env(const char *name) {
    const char *value = getenv(name);
    return value ? value : "";
}

/* Copies stdin to stdout: at most `limit` bytes, or everything when
 * `limited` is 0. fread/fwrite move raw bytes, so binary bodies survive:
 * WASI, like POSIX, has no "text mode" that would translate newlines. */
static int copy_body(int limited, unsigned long long limit) {
    static char buffer[64 * 1024];
    for (;;) {
        size_t want = sizeof buffer;
        if (limited && limit < want)
            want = (size_t)limit;
        if (want == 0)
            return 0;
        size_t got = fread(buffer, 1, want, stdin);
        if (got > 0 && fwrite(buffer, 1, got, stdout) != got)
            return -1;
        if (got < want) /* end of input, or an error */
            return ferror(stdin) ? -1 : 0;
        limit -= got;
    }
}

int main(void) {
    const char *query = env("QUERY_STRING");
    const char *content_type = env("CONTENT_TYPE");
    if (*content_type == '\0')
        content_type = "application/octet-stream";

    /* Fully buffered stdout: the body goes out in large writes. */
    setvbuf(stdout, NULL, _IOFBF, 64 * 1024);

    /* The CGI header block. "Status" gives the status code and reason; the
     * server turns the other lines into response headers. */
    printf("Status: 200 OK\n");
    printf("x-echo-method: %s\n", env("REQUEST_METHOD"));
    printf("x-echo-path: %s%s\n", env("SCRIPT_NAME"), env("PATH_INFO"));
    if (*query != '\0')
        printf("x-echo-query: %s\n", query);
    printf("Content-Type: %s\n", content_type);
    printf("\n"); /* a blank line ends the headers */

    /* The body: CONTENT_LENGTH bytes of stdin when it says how many, else
     * all of stdin. */
    const char *length = env("CONTENT_LENGTH");
    char *end;
    unsigned long long limit = strtoull(length, &end, 10);
    int limited = *length != '\0' && *end == '\0';

    if (copy_body(limited, limit) != 0 || fflush(stdout) != 0) {
        fputs("echo: copying the body failed\n", stderr);
        return 1;
    }
    return 0;
}
