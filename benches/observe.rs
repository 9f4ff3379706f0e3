//! What the access log and the metrics cost a request: everything the
//! service does per request besides routing and running the guest — the
//! request span, the in-flight gauge, the app's counters and histogram,
//! the `requests_total` series, and the access line formatted into the
//! batched log writer — in both log formats. The budget is 1 µs.
//!
//!     cargo bench --bench observe

use std::time::Duration;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use http::Method;
use serverless_wasm::logging::{self, BatchedWriter, LogFormat};
use serverless_wasm::metrics;
use serverless_wasm::service::Answer;
use tracing_subscriber::EnvFilter;

/// A request's answer as the service records it.
fn answer() -> Answer<'static> {
    Answer {
        method: &Method::GET,
        path: black_box("/hello"),
        status: 200,
        elapsed: Duration::from_micros(180),
        request_id: "0123456789abcdef",
    }
}

fn per_request(c: &mut Criterion) {
    let app = metrics::global().app("hello");
    for format in [LogFormat::Text, LogFormat::Json] {
        let (writer, _guard) = BatchedWriter::spawn(std::io::sink()).expect("log writer");
        let subscriber = logging::subscriber(format, EnvFilter::new("info"), writer, false);
        tracing::subscriber::with_default(subscriber, || {
            c.bench_function(
                &format!("observe: access log + metrics ({format:?})"),
                |b| {
                    b.iter(|| {
                        // As in the service: the guest runs within the span,
                        // the access line is written after it has closed.
                        {
                            let span = tracing::error_span!(
                                "request",
                                request_id = black_box("0123456789abcdef"),
                                app = "hello"
                            );
                            let _entered = span.enter();
                            drop(app.running());
                        }
                        answer().record(Some(&app));
                    })
                },
            );
        });
    }
}

/// The parts of [`per_request`] alone, in the text format: where the time goes.
fn parts(c: &mut Criterion) {
    let app = metrics::global().app("hello");
    c.bench_function("observe part: metrics only", |b| {
        b.iter(|| {
            drop(app.running());
            app.answered(200, Duration::from_micros(180));
            metrics::global().request(&app, black_box(&Method::GET), 200);
        })
    });
    let (writer, _guard) = BatchedWriter::spawn(std::io::sink()).expect("log writer");
    let subscriber = logging::subscriber(LogFormat::Text, EnvFilter::new("info"), writer, false);
    tracing::subscriber::with_default(subscriber, || {
        c.bench_function("observe part: request span only", |b| {
            b.iter(|| {
                let span = tracing::error_span!(
                    "request",
                    request_id = black_box("0123456789abcdef"),
                    app = "hello"
                );
                let _entered = span.enter();
            })
        });
        c.bench_function("observe part: access line only", |b| {
            b.iter(|| answer().record(None))
        });
    });
}

criterion_group!(benches, per_request, parts);
criterion_main!(benches);
