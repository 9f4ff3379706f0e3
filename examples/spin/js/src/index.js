// A Spin component in JavaScript (componentize-js, through the Spin JS SDK's
// @spinframework/build-tools), answering the same routes as the Rust SDK 5
// example (examples/spin/rust-sdk5) through fermyon:spin@2.0.0:
//
// - GET|POST /counter[?key=K]: adds one to the number under K (default
//   `counter`): 200 `N\n`, `x-counter-key: K`.
// - GET /kv (or /kv/): the keys, sorted, one per line; `x-key-count`.
// - GET /kv/K: 200 the value's bytes (application/octet-stream), or 404
//   `not found\n`; GET /kv/K?exists: 200 `true\n` or `false\n`.
// - PUT|POST /kv/K: set to the request body: 200 `stored\n`.
// - DELETE /kv/K: 200 `deleted\n`. Other methods: 405.
// - /info/...: 200, lines `method: M`, `uri: U`, `body-length: N`,
//   `var NAME: VALUE` (or `var NAME: error KIND: MESSAGE`) for greeting,
//   literal, not_declared and Bad-Name, then every `spin-*` request header
//   as `name: value`, sorted.
//
// K is percent-decoded; /counter and /kv take ?store=LABEL (default
// `default`). A key-value error answers 500 with `x-kv-error: KIND` and
// `error: KIND\n` (`error: KIND (opening "LABEL")\n` when open failed).
import { Store } from 'fermyon:spin/key-value@2.0.0';
import { get as getVariable } from 'fermyon:spin/variables@2.0.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function text(status, body, headers = {}) {
    return new Response(body, {
        status,
        headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
    });
}

// componentize-js throws a WIT `error` case as an Error whose `payload` is
// the variant: `{ tag: 'access-denied' }`, `{ tag: 'other', val: '...' }`.
function errorKind(error) {
    const payload = error && error.payload !== undefined ? error.payload : error;
    if (payload && typeof payload === 'object' && 'tag' in payload) {
        return payload.val === undefined ? payload.tag : `${payload.tag}: ${payload.val}`;
    }
    return `other: ${error}`;
}

function kvError(error, suffix = '') {
    const kind = errorKind(error);
    return text(500, `error: ${kind}${suffix}\n`, { 'x-kv-error': kind });
}

function decodeKey(raw) {
    try {
        return decodeURIComponent(raw);
    } catch {
        return raw;
    }
}

async function handle(request) {
    const url = new URL(request.url);
    const path = url.pathname;
    const body = new Uint8Array(await request.arrayBuffer());

    if (path === '/info' || path.startsWith('/info/')) {
        return info(request, body);
    }

    const label = url.searchParams.get('store') ?? 'default';
    let store;
    try {
        store = Store.open(label);
    } catch (e) {
        return kvError(e, ` (opening ${JSON.stringify(label)})`);
    }

    try {
        if (path === '/kv' || path === '/kv/') {
            if (request.method !== 'GET') return text(405, 'use GET on /kv\n');
            const keys = store.getKeys().sort();
            return text(200, keys.map((k) => `${k}\n`).join(''), { 'x-key-count': String(keys.length) });
        }
        if (path.startsWith('/kv/')) {
            const key = decodeKey(path.slice('/kv/'.length));
            switch (request.method) {
                case 'GET': {
                    if (url.searchParams.has('exists')) return text(200, `${store.exists(key)}\n`);
                    const value = store.get(key);
                    if (value == null) return text(404, 'not found\n');
                    return new Response(value, { status: 200, headers: { 'content-type': 'application/octet-stream' } });
                }
                case 'PUT':
                case 'POST':
                    store.set(key, body);
                    return text(200, 'stored\n');
                case 'DELETE':
                    store.delete(key);
                    return text(200, 'deleted\n');
                default:
                    return text(405, 'use GET, PUT, POST or DELETE on /kv/KEY\n');
            }
        }
        const key = url.searchParams.get('key') ?? 'counter';
        const current = store.get(key);
        const next = (current == null ? 0 : Number.parseInt(decoder.decode(current), 10) || 0) + 1;
        store.set(key, encoder.encode(String(next)));
        return text(200, `${next}\n`, { 'x-counter-key': key });
    } catch (e) {
        return kvError(e);
    }
}

function info(request, body) {
    let out = `method: ${request.method}\nuri: ${request.url}\nbody-length: ${body.length}\n`;
    for (const name of ['greeting', 'literal', 'not_declared', 'Bad-Name']) {
        let value;
        try {
            value = getVariable(name);
        } catch (e) {
            value = `error ${errorKind(e)}`;
        }
        out += `var ${name}: ${value}\n`;
    }
    const spinHeaders = [...request.headers].filter(([name]) => name.startsWith('spin-')).sort();
    for (const [name, value] of spinHeaders) out += `${name}: ${value}\n`;
    return text(200, out);
}

addEventListener('fetch', (event) => {
    event.respondWith(handle(event.request));
});
