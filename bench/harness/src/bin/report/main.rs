//! `report RESULTS_DIR OUT.md OUT.svg SVG_LINK [NOTES.md]`: turns what
//! bench/run.sh measured into BENCHMARKS.md and its chart. NOTES.md, when
//! given, is hand-written analysis (where the time goes, what bounds each
//! target) placed after the targets, so it survives every new run.
//!
//! RESULTS_DIR holds two tab-separated files the script writes:
//!
//! - `runs.tsv`: one wrk run a line, with a header line naming the columns
//!   `server concurrency round threads rps p50_us p99_us peak_rss_kb errors
//!   requests`;
//! - `meta.tsv`: `key<TAB>value` lines: the command, the machine, the
//!   servers' command lines, the start-up and memory measurements (see
//!   [`Meta`] for the keys this reads).
//!
//! With several rounds per server and concurrency the report shows the run
//! with the median req/s (its own p50, p99 and RSS, so the numbers in a row
//! come from one run) and the spread of req/s. Every ratio is computed from
//! the rows shown. The chart goes to OUT.svg; OUT.md links it as SVG_LINK.
//! Sizes are in MB of 10^6 bytes, as the targets are.

mod chart;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// The servers, in table and chart order: id (as in runs.tsv) and label.
pub const SERVERS: [(&str, &str); 8] = [
    ("native", "native hyper hello"),
    ("sw-classic", "serverless-wasm, classic hello.wat"),
    ("sw-wasi-http", "serverless-wasm, wasi:http hello.wasm"),
    ("wasmtime-serve", "wasmtime serve, wasi:http hello.wasm"),
    (
        "sw-wasi-http-reuse",
        "serverless-wasm, wasi:http hello.wasm, instances reused",
    ),
    (
        "wasmtime-serve-reuse",
        "wasmtime serve, wasi:http hello.wasm, instances reused",
    ),
    (
        "sw-wasi-http-creuse",
        "serverless-wasm, wasi:http 0.3 hello.wasm, instances shared",
    ),
    (
        "wasmtime-serve-p3",
        "wasmtime serve, wasi:http 0.3 hello.wasm, its defaults",
    ),
];

/// The targets of the benchmark issue.
const CLASSIC_VS_NATIVE: f64 = 0.9;
const WASI_HTTP_VS_WASMTIME: f64 = 3.0;
/// Instances reused, one request after another or several at once.
const REUSE_VS_WASMTIME: f64 = 1.2;
const P99_OVER_P50: f64 = 3.0;
const P99_OVER_P50_AT: u32 = 64;
const IDLE_RSS_MB: f64 = 40.0;
const CONNECTIONS_RSS_MB: f64 = 100.0;
/// Other processes' CPU share above which a run is flagged as noisy.
const OTHER_CPU_NOISY: f64 = 10.0;

/// One wrk run.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub server: String,
    pub concurrency: u32,
    pub threads: u32,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub peak_rss_kb: Option<u64>,
    pub errors: u64,
    pub requests: u64,
    /// Percent of the machine's CPU used by neither the server nor wrk.
    pub other_cpu_pct: Option<f64>,
}

/// The run a table row shows for one server and concurrency, and the
/// spread of req/s over all its rounds.
#[derive(Clone, Debug)]
pub struct Row {
    pub run: Run,
    pub rounds: usize,
    pub min_rps: f64,
    pub max_rps: f64,
}

type Meta = BTreeMap<String, String>;
/// (server, concurrency) -> row.
type Rows = BTreeMap<(String, u32), Row>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (outputs, notes) = match args.as_slice() {
        [results, markdown, svg, svg_link] => ([results, markdown, svg, svg_link], None),
        [results, markdown, svg, svg_link, notes] => {
            ([results, markdown, svg, svg_link], Some(Path::new(notes)))
        }
        _ => {
            eprintln!("usage: report RESULTS_DIR OUT.md OUT.svg SVG_LINK [NOTES.md]");
            return ExitCode::from(2);
        }
    };
    let [results, markdown, svg, svg_link] = outputs;
    match write_report(
        Path::new(results),
        Path::new(markdown),
        Path::new(svg),
        svg_link,
        notes,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("report: {error}");
            ExitCode::FAILURE
        }
    }
}

fn write_report(
    results: &Path,
    markdown: &Path,
    svg: &Path,
    svg_link: &str,
    notes: Option<&Path>,
) -> Result<(), String> {
    let meta = read_meta(&results.join("meta.tsv"))?;
    let runs = read_runs(&results.join("runs.tsv"))?;
    let rows = median_rows(&runs);
    let concurrencies: Vec<u32> = {
        let mut all: Vec<u32> = rows.keys().map(|(_, c)| *c).collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let title = format!(
        "Requests per second, GET /hello, wrk {} per run (higher is better)",
        get(&meta, "duration")
    );
    if !rows.is_empty() {
        write_file(svg, &chart::grouped_bars(&title, &concurrencies, &rows))?;
    }
    let notes = match notes {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?,
        ),
        None => None,
    };
    let text = render(&meta, &rows, &concurrencies, svg_link, notes.as_deref());
    write_file(markdown, &text)
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

fn read_meta(path: &Path) -> Result<Meta, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect())
}

fn read_runs(path: &Path) -> Result<Vec<Run>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_runs(&text).map_err(|error| format!("{}: {error}", path.display())),
        // The load runs were skipped.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

fn parse_runs(text: &str) -> Result<Vec<Run>, String> {
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|column| *column == name)
            .ok_or(format!("no column {name}"))
    };
    let [
        server,
        concurrency,
        threads,
        rps,
        p50,
        p99,
        rss,
        errors,
        requests,
    ] = [
        "server",
        "concurrency",
        "threads",
        "rps",
        "p50_us",
        "p99_us",
        "peak_rss_kb",
        "errors",
        "requests",
    ]
    .map(column);
    let (server, concurrency, threads, rps, p50, p99, rss, errors, requests) = (
        server?,
        concurrency?,
        threads?,
        rps?,
        p50?,
        p99?,
        rss?,
        errors?,
        requests?,
    );
    // Optional: older result files do not have it.
    let other = header.iter().position(|column| *column == "other_cpu_pct");
    lines
        .enumerate()
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            let field = |at: usize| fields.get(at).copied().unwrap_or_default();
            let number = |at: usize| {
                field(at)
                    .parse::<f64>()
                    .map_err(|_| format!("line {}: bad number {:?}", index + 2, field(at)))
            };
            Ok(Run {
                server: field(server).to_owned(),
                concurrency: number(concurrency)? as u32,
                threads: number(threads)? as u32,
                rps: number(rps)?,
                p50_us: number(p50)?,
                p99_us: number(p99)?,
                peak_rss_kb: field(rss).parse().ok(),
                errors: number(errors)? as u64,
                requests: number(requests)? as u64,
                other_cpu_pct: other.and_then(|at| field(at).parse().ok()),
            })
        })
        .collect()
}

/// Per server and concurrency, the run with the median req/s (the lower
/// middle one for an even count).
fn median_rows(runs: &[Run]) -> Rows {
    let mut groups: BTreeMap<(String, u32), Vec<&Run>> = BTreeMap::new();
    for run in runs {
        groups
            .entry((run.server.clone(), run.concurrency))
            .or_default()
            .push(run);
    }
    groups
        .into_iter()
        .map(|(key, mut group)| {
            group.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let row = Row {
                run: group[(group.len() - 1) / 2].clone(),
                rounds: group.len(),
                min_rps: group[0].rps,
                max_rps: group[group.len() - 1].rps,
            };
            (key, row)
        })
        .collect()
}

fn get<'a>(meta: &'a Meta, key: &str) -> &'a str {
    meta.get(key).map_or("?", String::as_str)
}

fn row<'a>(rows: &'a Rows, server: &str, concurrency: u32) -> Option<&'a Row> {
    rows.get(&(server.to_owned(), concurrency))
}

fn render(
    meta: &Meta,
    rows: &Rows,
    concurrencies: &[u32],
    svg_link: &str,
    notes: Option<&str>,
) -> String {
    let mut out = String::new();
    render_header(&mut out, meta);
    if rows.is_empty() {
        out.push_str("\n## Load\n\nNot measured in this run (BENCH_SKIP_LOAD=1).\n");
    } else {
        render_targets(&mut out, rows, concurrencies);
        render_memory_targets(&mut out, meta);
    }
    if let Some(notes) = notes {
        out.push('\n');
        out.push_str(notes.trim_end());
        out.push('\n');
    }
    if !rows.is_empty() {
        render_load(&mut out, meta, rows, concurrencies, svg_link);
    }
    render_startup(&mut out, meta);
    render_reproduce(&mut out, meta);
    out
}

fn render_header(out: &mut String, meta: &Meta) {
    let _ = write!(
        out,
        "# Benchmarks\n\n\
         Written by `bench/run.sh` on {date}; do not edit by hand, run it again.\n\n\
         Command: `{command}`\n\n\
         | machine | |\n| --- | --- |\n\
         | CPU | {cpu} |\n| cores | {cores} |\n| memory | {memory} |\n| kernel | {kernel} |\n\
         | rustc | {rustc} |\n| wasmtime (serverless-wasm's and `wasmtime serve`'s) | {wasmtime} |\n\
         | load generator | {wrk} |\n| serverless-wasm | {git}; binary {binary} |\n\n\
         **Fairness.** wrk and the server under test share the same {cores} cores, so \
         every number here is lower than the server would reach alone and a faster \
         server also leaves wrk more CPU; the ratios are the point, not the absolute \
         numbers. The servers run one at a time (the others are idle), interleaved: \
         every server at one concurrency, then every server at the next. Latencies \
         are wrk's (closed loop, so they understate queueing under overload).{busy}\n",
        date = get(meta, "date"),
        command = get(meta, "command"),
        cpu = get(meta, "cpu"),
        cores = get(meta, "cores"),
        memory = get(meta, "memory"),
        kernel = get(meta, "kernel"),
        rustc = get(meta, "rustc"),
        wasmtime = get(meta, "wasmtime"),
        wrk = get(meta, "wrk"),
        git = get(meta, "git"),
        binary = get(meta, "server_binary"),
        busy = busy_note(meta, "busy_before_load", "the load test"),
    );
    out.push_str("\nThe servers, each answering `GET /hello` with a short text body:\n\n");
    for (id, label) in SERVERS {
        let _ = writeln!(
            out,
            "- **{label}**: `{}`",
            get(meta, &format!("server.{id}.command"))
        );
    }
    if let Some(note) = meta.get("servers.note") {
        let _ = writeln!(out, "\n{note}");
    }
}

fn render_targets(out: &mut String, rows: &Rows, concurrencies: &[u32]) {
    out.push_str("\n## Targets\n\nEach ratio compares rows of the same run below.\n\n| target |");
    for c in concurrencies {
        let _ = write!(out, " c={c} |");
    }
    out.push_str("\n| --- |");
    out.push_str(&" ---: |".repeat(concurrencies.len()));
    out.push('\n');
    let rps_ratio = |a: &str, b: &str, target: Option<f64>| {
        let mut cells = String::new();
        for &c in concurrencies {
            let cell = match (row(rows, a, c), row(rows, b, c)) {
                (Some(a), Some(b)) if b.run.rps > 0.0 => {
                    let ratio = a.run.rps / b.run.rps;
                    format!("{ratio:.2}{}", target.map_or("", |t| mark(ratio >= t)))
                }
                _ => "—".to_owned(),
            };
            let _ = write!(cells, " {cell} |");
        }
        cells
    };
    let _ = writeln!(
        out,
        "| req/s, classic hello.wat / native (≥ {CLASSIC_VS_NATIVE}) |{}",
        rps_ratio("sw-classic", "native", Some(CLASSIC_VS_NATIVE))
    );
    let _ = writeln!(
        out,
        "| req/s, wasi:http: serverless-wasm / `wasmtime serve` (≥ {WASI_HTTP_VS_WASMTIME}) |{}",
        rps_ratio(
            "sw-wasi-http",
            "wasmtime-serve",
            Some(WASI_HTTP_VS_WASMTIME)
        )
    );
    out.push_str("| p99, wasi:http: serverless-wasm vs `wasmtime serve` (no worse) |");
    for &c in concurrencies {
        let cell = match (row(rows, "sw-wasi-http", c), row(rows, "wasmtime-serve", c)) {
            (Some(a), Some(b)) => format!(
                "{} vs {}{}",
                latency(a.run.p99_us),
                latency(b.run.p99_us),
                mark(a.run.p99_us <= b.run.p99_us)
            ),
            _ => "—".to_owned(),
        };
        let _ = write!(out, " {cell} |");
    }
    // Ratios shown for context: (what, numerator server, denominator server).
    let untargeted = [
        ("wasi:http hello.wasm / native", "sw-wasi-http", "native"),
        ("`wasmtime serve` / native", "wasmtime-serve", "native"),
    ];
    out.push('\n');
    let reuse_rows = [
        (
            "wasi:http with instances reused: serverless-wasm / `wasmtime serve`",
            "sw-wasi-http-reuse",
            "wasmtime-serve-reuse",
        ),
        (
            "wasi:http 0.3 with instances shared (`concurrent_reuse`): serverless-wasm / \
             `wasmtime serve`'s defaults",
            "sw-wasi-http-creuse",
            "wasmtime-serve-p3",
        ),
    ];
    for (what, a, b) in reuse_rows {
        let _ = writeln!(
            out,
            "| req/s, {what} (≥ {REUSE_VS_WASMTIME}) |{}",
            rps_ratio(a, b, Some(REUSE_VS_WASMTIME))
        );
    }
    for (what, a, b) in untargeted {
        let _ = writeln!(
            out,
            "| req/s, {what} (no target) |{}",
            rps_ratio(a, b, None)
        );
    }
    let _ = write!(
        out,
        "\np99 / p50 at c={P99_OVER_P50_AT} (≤ {P99_OVER_P50}): "
    );
    let cells: Vec<String> = SERVERS
        .iter()
        .map(|(id, label)| match row(rows, id, P99_OVER_P50_AT) {
            Some(row) => {
                let ratio = row.run.p99_us / row.run.p50_us;
                format!("{label} {ratio:.1}{}", mark(ratio <= P99_OVER_P50))
            }
            None => format!("{label} —"),
        })
        .collect();
    let _ = writeln!(out, "{}.", cells.join("; "));
}

/// One line on the memory targets, whose details are in the start-up section.
fn render_memory_targets(out: &mut String, meta: &Meta) {
    let mut parts = Vec::new();
    if let Some(kb) = kb(meta, "memory.idle_rss_kb") {
        parts.push(format!(
            "idle RSS {} (≤ {IDLE_RSS_MB} MB{})",
            megabytes(kb),
            mark(mb(kb) <= IDLE_RSS_MB)
        ));
    }
    if let Some((added, held)) = connections_added(meta) {
        parts.push(format!(
            "{} idle connections add {} (≤ {CONNECTIONS_RSS_MB} MB per 10,000{})",
            thousands(held as f64),
            megabytes(added),
            mark(connections_ok(added, held))
        ));
    }
    if !parts.is_empty() {
        let _ = writeln!(
            out,
            "\nMemory with {} apps ([details](#start-up-and-memory-with-many-apps)): {}.",
            get(meta, "startup.apps"),
            parts.join("; ")
        );
    }
}

fn kb(meta: &Meta, key: &str) -> Option<u64> {
    meta.get(key).and_then(|kb| kb.parse().ok())
}

/// The RSS the idle connections added (kB) and how many were held.
fn connections_added(meta: &Meta) -> Option<(u64, u64)> {
    connections_added_to(meta, "memory")
}

/// The same for the server whose keys start with `prefix`.
fn connections_added_to(meta: &Meta, prefix: &str) -> Option<(u64, u64)> {
    let before = kb(meta, &format!("{prefix}.one_request_rss_kb"))?;
    let after = kb(meta, &format!("{prefix}.held_rss_kb"))?;
    let held = kb(meta, &format!("{prefix}.held"))?;
    Some((after.saturating_sub(before), held))
}

/// The target is for 10,000 connections; fewer (a low `ulimit -n`) scale it.
fn connections_ok(added_kb: u64, held: u64) -> bool {
    held > 0 && mb(added_kb) * 10_000.0 / held as f64 <= CONNECTIONS_RSS_MB
}

fn render_load(out: &mut String, meta: &Meta, rows: &Rows, concurrencies: &[u32], svg_link: &str) {
    let _ = write!(
        out,
        "\n## Load\n\n![req/s per server and concurrency]({svg_link})\n\n\
         `wrk --latency -t T -c C -d {duration} --timeout 5s http://127.0.0.1:PORT/hello` \
         (T = 1 at c=1, else {threads}), after a {warmup} warm-up at c=16 per server; \
         {rounds} round(s) per cell{median}. Peak RSS is the server's VmHWM during that \
         run{rss_reset}. Errors are wrk's socket errors plus non-2xx answers. Other CPU \
         is the share of the machine's CPU time during the run that neither the server \
         nor wrk used (from /proc/stat, approximate): above {OTHER_CPU_NOISY}% someone \
         else was busy and the row is noisy.{noisy}\n",
        duration = get(meta, "duration"),
        threads = get(meta, "threads"),
        warmup = get(meta, "warmup"),
        rounds = get(meta, "rounds"),
        median = if get(meta, "rounds") == "1" {
            ""
        } else {
            ", the row shows the run with the median req/s and the req/s range of all rounds"
        },
        noisy = noisy_runs(rows),
        rss_reset = if get(meta, "rss_reset") == "yes" {
            " (reset before each run through /proc/PID/clear_refs)"
        } else {
            " (this kernel refused to reset it, so it is the peak since start-up)"
        },
    );
    for &c in concurrencies {
        let _ = write!(
            out,
            "\n### c = {c}\n\n\
             | server | req/s | p50 | p99 | p99/p50 | peak RSS | errors | other CPU |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        );
        for (id, label) in SERVERS {
            let Some(row) = row(rows, id, c) else {
                let _ = writeln!(out, "| {label} | — | — | — | — | — | — | — |");
                continue;
            };
            let run = &row.run;
            let spread = if row.rounds > 1 {
                format!(" ({}–{})", thousands(row.min_rps), thousands(row.max_rps))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {label} | {}{spread} | {} | {} | {:.1} | {} | {} | {} |",
                thousands(run.rps),
                latency(run.p50_us),
                latency(run.p99_us),
                run.p99_us / run.p50_us,
                run.peak_rss_kb.map_or("—".to_owned(), megabytes),
                run.errors,
                run.other_cpu_pct
                    .map_or("—".to_owned(), |pct| format!("{pct:.0}%")),
            );
        }
    }
    out.push_str("\nPeak RSS over the whole load test (the highest of its runs' peaks): ");
    let peaks: Vec<String> = SERVERS
        .iter()
        .map(|(id, label)| {
            let peak = meta
                .get(&format!("server.{id}.hwm_kb"))
                .and_then(|kb| kb.parse().ok())
                .map_or("—".to_owned(), megabytes);
            format!("{label} {peak}")
        })
        .collect();
    let _ = writeln!(out, "{}.", peaks.join("; "));
    let _ = writeln!(
        out,
        "\nserverless-wasm's access log is on for all of its servers (RUST_LOG unset, \
         so `info`), written to a file, as a deployment would keep it. The statuses it \
         logged (warm-up and checks included): classic {}; wasi:http {}; wasi:http with \
         instances reused {}; wasi:http 0.3 with instances shared {}.",
        get(meta, "server.sw-classic.statuses"),
        get(meta, "server.sw-wasi-http.statuses"),
        get(meta, "server.sw-wasi-http-reuse.statuses"),
        get(meta, "server.sw-wasi-http-creuse.statuses"),
    );
}

/// A warning naming the rows during which other processes were busy.
fn noisy_runs(rows: &Rows) -> String {
    let noisy: Vec<String> = rows
        .values()
        .filter(|row| row.run.other_cpu_pct.unwrap_or(0.0) > OTHER_CPU_NOISY)
        .map(|row| format!("{} at c={}", row.run.server, row.run.concurrency))
        .collect();
    let which = match noisy.len() {
        0 => return String::new(),
        1..=4 => format!(" ({})", noisy.join(", ")),
        _ => String::new(),
    };
    format!(
        " **Warning: other processes were busy during {} of the {} rows{which}; \
         compare those with care, or run again on a quiet machine.**",
        noisy.len(),
        rows.len(),
    )
}

fn render_startup(out: &mut String, meta: &Meta) {
    out.push_str("\n## Start-up and memory with many apps\n\n");
    let Some(apps) = meta.get("startup.apps") else {
        let _ = writeln!(
            out,
            "Not measured in this run ({}).",
            get(meta, "startup.skipped")
        );
        return;
    };
    let _ = writeln!(
        out,
        "One serverless-wasm process serving {apps} apps, each a distinct module: \
         {classic} generated classic WAT modules (hello.wat with its own greeting) and \
         {components} copies of the wasi:http hello.wasm made distinct by a trailing \
         custom section. Start-up is the time from starting the process to its \
         `listening on http://` line on stderr (polled every 10 ms); RSS is VmRSS \
         from /proc/PID/status, read 1 s after the event it follows.{busy}\n",
        classic = get(meta, "startup.classic_apps"),
        components = get(meta, "startup.component_apps"),
        busy = busy_note(meta, "busy_before_startup", "this test"),
    );
    out.push_str("| measurement | value | target |\n| --- | ---: | --- |\n");
    let startups = [
        (
            "nocache",
            "start-up without the compile cache (`--no-cache`)",
        ),
        ("cold", "start-up, cold (`--cache-dir`, empty)"),
        ("warm", "start-up, warm (the same `--cache-dir` again)"),
        (
            "preload",
            "start-up with `--preload`, the cache still empty (the cold start compiled nothing)",
        ),
    ];
    let cache = get(meta, "startup.cache_dir") == "yes";
    for (key, what) in startups {
        let Some(ms) = meta.get(&format!("startup.{key}_ms")) else {
            continue;
        };
        let what = if cache {
            what
        } else {
            "start-up (this binary has no compile cache: every start compiles)"
        };
        let detail = meta
            .get(&format!("startup.{key}_detail"))
            .filter(|detail| !detail.is_empty())
            .map_or(String::new(), |detail| format!(" (server: “{detail}”)"));
        let _ = writeln!(out, "| {what}{detail} | {} | |", seconds(ms));
    }
    if !cache {
        out.push_str(
            "| start-up, cold and warm | not measured: this binary has no `--cache-dir` | |\n",
        );
    }
    let rss = |key: &str| meta.get(key).and_then(|kb| kb.parse::<u64>().ok());
    if let Some(kb) = rss("memory.cold_idle_rss_kb") {
        let _ = writeln!(
            out,
            "| idle RSS after the cold start | {} | |",
            megabytes(kb)
        );
    }
    if let Some(detail) = meta.get("startup.preloaded_detail") {
        let _ = writeln!(
            out,
            "| `--preload`: every app compiled into that cache and linked, in the background (server: “{detail}”) | | |"
        );
    }
    if let Some(kb) = rss("memory.preloaded_rss_kb") {
        let _ = writeln!(
            out,
            "| RSS with every app loaded (`--preload`) | {} | |",
            megabytes(kb)
        );
    }
    if let Some(kb) = rss("memory.idle_rss_kb") {
        let _ = writeln!(
            out,
            "| idle RSS after start-up{} | {} | ≤ {IDLE_RSS_MB} MB{} |",
            if cache { " (the warm start)" } else { "" },
            megabytes(kb),
            mark(mb(kb) <= IDLE_RSS_MB)
        );
    }
    render_connections(out, meta);
    if let Some(note) = meta.get("startup.note") {
        let _ = writeln!(out, "\n{note}");
    }
    let _ = writeln!(
        out,
        "\nThe script ran with `ulimit -n` {} (the server and hold-connections inherit it).{}",
        get(meta, "memory.nofile"),
        meta.get("memory.nofile_note")
            .map_or(String::new(), |note| format!(" {note}"))
    );
}

/// The rows of the idle-connection test, with the RSS the connections add
/// judged per 10,000 (fewer are held when `ulimit -n` is low).
fn render_connections(out: &mut String, meta: &Meta) {
    let (Some((added, held)), Some(before), Some(after)) = (
        connections_added(meta),
        kb(meta, "memory.one_request_rss_kb"),
        kb(meta, "memory.held_rss_kb"),
    ) else {
        return;
    };
    let _ = writeln!(
        out,
        "| RSS after one request to `{}` | {} | |",
        get(meta, "memory.path"),
        megabytes(before),
    );
    let _ = writeln!(
        out,
        "| RSS with {} idle keep-alive connections open ({} failed) | {} | |",
        thousands(held as f64),
        get(meta, "memory.held_failed"),
        megabytes(after),
    );
    let _ = writeln!(
        out,
        "| added by those connections | {} ({:.1} KB each) | ≤ {CONNECTIONS_RSS_MB} MB per 10,000{} |",
        megabytes(added),
        mb(added) * 1000.0 / held.max(1) as f64,
        mark(connections_ok(added, held))
    );
    if let Some((added, held)) = connections_added_to(meta, "native_memory") {
        let _ = writeln!(
            out,
            "| for comparison: what {} such connections add to native hyper hello | {} ({:.1} KB each) | |",
            thousands(held as f64),
            megabytes(added),
            mb(added) * 1000.0 / held.max(1) as f64,
        );
    }
}

/// A sentence about other processes' CPU use just before a test.
fn busy_note(meta: &Meta, key: &str, test: &str) -> String {
    match meta.get(key).and_then(|busy| busy.parse::<u32>().ok()) {
        Some(busy) if busy > 10 => format!(
            " **Warning: other processes were using {busy}% of the CPU just before \
             {test}, so its numbers are noisy; run it again on a quiet machine.**"
        ),
        Some(busy) => format!(" Other processes used {busy}% of the CPU just before {test}."),
        None => String::new(),
    }
}

fn render_reproduce(out: &mut String, meta: &Meta) {
    let _ = write!(
        out,
        "\n## How to reproduce\n\n\
         ```sh\n\
         bench/run.sh                                   # the defaults\n\
         BENCH_DURATION=3s BENCH_SKIP_BUILD=1 bench/run.sh   # quick, with the binaries already built\n\
         BENCH_ROUNDS=3 bench/run.sh                    # steadier numbers: the median of 3 runs per cell\n\
         ```\n\n\
         The run that wrote this file took {minutes} min. The script builds serverless-wasm (release), the harness crate (bench/harness: \
         the native baseline and the connection holder) and the wasi:http hello component; \
         installs wasmtime-cli {wasmtime_version} into target/tools/ if it is not there; \
         raises `ulimit -n` for the idle-connection test; and writes this file and the \
         chart. Its other knobs are described at the top of bench/run.sh. The raw wrk \
         output and the TSV files behind this report are in target/bench/ after a run. \
         Benchmarks are not part of `cargo test`; CI only builds the harness and checks \
         the script's syntax.\n",
        minutes = get(meta, "elapsed_minutes"),
        wasmtime_version = get(meta, "wasmtime_version"),
    );
}

fn mark(ok: bool) -> &'static str {
    if ok { " ✓" } else { " ✗" }
}

fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

fn megabytes(kb: u64) -> String {
    format!("{:.1} MB", mb(kb))
}

fn seconds(ms: &str) -> String {
    ms.parse::<f64>()
        .map_or_else(|_| ms.to_owned(), |ms| format!("{:.2} s", ms / 1000.0))
}

/// A latency in microseconds, in the unit that reads best.
pub fn latency(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// A whole number with thousands separators: 41152.7 -> "41,153".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNS: &str = "server\tconcurrency\tround\tthreads\trps\tp50_us\tp99_us\tpeak_rss_kb\terrors\trequests\n\
        native\t16\t1\t2\t300\t10\t30\t2048\t0\t900\n\
        native\t16\t2\t2\t100\t10\t30\t2048\t0\t300\n\
        native\t16\t3\t2\t200\t20\t40\t\t1\t600\n";

    #[test]
    fn the_median_run_is_shown_whole() {
        let rows = median_rows(&parse_runs(RUNS).unwrap());
        let row = row(&rows, "native", 16).unwrap();
        assert_eq!(row.rounds, 3);
        assert_eq!((row.min_rps, row.max_rps), (100.0, 300.0));
        assert_eq!(row.run.rps, 200.0);
        assert_eq!(row.run.p50_us, 20.0);
        assert_eq!(row.run.peak_rss_kb, None);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(41152.7), "41,153");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(latency(812.0), "812 µs");
        assert_eq!(latency(1234.0), "1.23 ms");
        assert_eq!(latency(2_500_000.0), "2.50 s");
    }

    #[test]
    fn a_missing_column_is_an_error() {
        assert!(parse_runs("server\tconcurrency\n").is_err());
    }
}
