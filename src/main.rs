//! The `serverless-wasm` command line: `serve`, `check` and `run`. It only
//! parses arguments and prints; everything it calls lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt as _;
use serverless_wasm::abi::{RequestBody, ResponseBody, full_body};
use serverless_wasm::admin::{Admin, AdminListener, Health};
use serverless_wasm::app::{Apps, Loader};
use serverless_wasm::compile_cache::{CompileCache, prune};
use serverless_wasm::config::{AppConfig, Config, Variables};
use serverless_wasm::deployment::Deployment;
use serverless_wasm::fetch::{fetch_all, human_age};
use serverless_wasm::kv::Stores;
use serverless_wasm::logging::LogFormat;
use serverless_wasm::reload::{Overrides, Reloader};
use serverless_wasm::router::Lookup;
use serverless_wasm::server::Server;
use serverless_wasm::service::Service;
use serverless_wasm::sources::{SourceOptions, Sources, install_tls_provider};
use std::sync::Arc;

/// Runs WebAssembly functions behind one HTTP server.
#[derive(Parser)]
#[command(
    name = "serverless-wasm",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// How log lines are written to stderr: `text` for people, `json` (one
    /// object per line, the same fields) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default when only a config file is given).
    Serve(ServeArgs),
    /// Load and compile every module, validate the config, print the routes.
    Check {
        /// The TOML config file, or a Spin app's spin.toml.
        config: PathBuf,
        /// Spin's runtime config (key-value stores) for a spin.toml.
        #[arg(long, value_name = "FILE")]
        runtime_config_file: Option<PathBuf>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run one request through a module, without a server, and print the response.
    Run(RunArgs),
    /// Show the compile cache (where, how many entries, how big), or prune it.
    Cache {
        /// First remove the least recently used entries until the cache holds
        /// at most --cache-max-mb (0: remove all).
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// The TOML config file, or a Spin app's spin.toml.
    config: Option<PathBuf>,
    /// Spin's runtime config (key-value stores) for a spin.toml.
    #[arg(long, value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Listen on this address instead of the config's `listen_address`.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Keep the embedded key-value store in DIR instead of the config's
    /// `data_dir` [default: .serverless-wasm beside the config file].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Reload when the config file or a local module changes (as SIGHUP does).
    #[arg(long)]
    watch: bool,
    /// Load every app in the background as soon as the server is up, as if
    /// each said `preload = true`, instead of on its first request.
    #[arg(long)]
    preload: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

/// Where compiled modules are kept between runs.
#[derive(Args)]
struct CacheArgs {
    /// Keep compiled modules in DIR [default: $XDG_CACHE_HOME/serverless-wasm
    /// or ~/.cache/serverless-wasm].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every module, neither reading nor writing the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Keep the cache within N MiB, removing the least recently used entries.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    cache_max_mb: u64,
}

impl CacheArgs {
    fn cache(&self) -> CompileCache {
        if self.no_cache {
            return CompileCache::disabled();
        }
        match self.cache_dir.clone().or_else(CompileCache::default_dir) {
            Some(dir) => CompileCache::at(dir).with_max_bytes(self.cache_max_mb << 20),
            None => CompileCache::disabled(),
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// The module (.wasm or .wat), or a config or spin.toml (.toml) to route
    /// the request through.
    module: PathBuf,
    /// Spin's runtime config (key-value stores) for a spin.toml.
    #[arg(long, value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,
    /// The exported function to call.
    #[arg(long, default_value = "handle")]
    function: String,
    #[arg(long, default_value = "GET")]
    method: String,
    /// Path and optional query, e.g. `/hello?name=x`.
    #[arg(long, default_value = "/")]
    path: String,
    /// A request header, `Name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The request body.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the request body from a file.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// An env entry the guest reads with `db_get`, `KEY=VALUE`; repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Wall-clock deadline in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Keep the module's key-value store (`db_*`, `wasi:keyvalue`) in DIR;
    /// without it the store lasts for this run only.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
}

fn main() -> ExitCode {
    keep_backtraces_for_panics();
    // Before any HTTPS client exists (module sources, guests' outgoing HTTPS).
    install_tls_provider();
    let cli = Cli::parse();
    let log_writer = match serverless_wasm::logging::init(cli.log_format) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: cannot start the log writer: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Check {
            config,
            runtime_config_file,
            cache,
        }) => {
            let overrides = Overrides {
                runtime_config: runtime_config_file,
                ..Overrides::default()
            };
            check(&config, &overrides, cache.cache())
        }
        Some(Command::Run(args)) => run(args),
        Some(Command::Cache { prune, cache }) => cache_command(prune, &cache),
        None => serve(cli.serve),
    };
    // Flushes the log lines still queued, so they come before the error.
    drop(log_writer);
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The config at `path` with the Spin apps it mounts, or the Spin app at
/// `RUST_BACKTRACE=1`, common in development shells and containers, also
/// makes every `anyhow` error capture a backtrace (`RUST_LIB_BACKTRACE`
/// falls back to it), and a guest's failures and outgoing calls create such
/// errors on their normal path. Panics keep their backtraces; library errors
/// capture one only when `RUST_LIB_BACKTRACE` itself asks.
fn keep_backtraces_for_panics() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: the first thing `main` does, before any thread exists
        // that could read the environment.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

/// `path`, with the command line's overrides applied.
fn load_config(path: &Path, overrides: &Overrides) -> anyhow::Result<Config> {
    let config = overrides
        .load(path)
        .map_err(|errors| anyhow::anyhow!("invalid config:\n{errors}"))?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

fn cannot_load(problems: Vec<String>) -> anyhow::Error {
    anyhow::anyhow!("cannot load apps:\n{}", problems.join("\n"))
}

fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    Stores::open(&config.key_value_stores, &config.data_dir).with_context(|| {
        format!(
            "cannot open the key-value stores of {}",
            config.file.display()
        )
    })
}

/// Module sources, caching remote modules in `data_dir/modules`.
fn open_sources(config: &Config) -> anyhow::Result<Sources> {
    let options = SourceOptions {
        s3_endpoint: config.s3_endpoint.clone(),
        ..SourceOptions::default()
    };
    Sources::new(&config.data_dir, options).with_context(|| {
        format!(
            "cannot open the module cache in {}",
            config.data_dir.display()
        )
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = args.config else {
        bail!("no config file given; usage: serverless-wasm [serve] CONFIG.toml (see --help)");
    };
    let overrides = Overrides {
        data_dir: args.data_dir,
        listen: args.listen,
        runtime_config: args.runtime_config_file,
        preload: args.preload,
    };
    let config = load_config(&path, &overrides)?;
    let stores = open_stores(&config)?;
    let sources = open_sources(&config)?;
    let loader =
        Loader::new(args.cache.cache(), config.server.max_instances).map_err(cannot_load)?;
    let address = overrides
        .listen
        .clone()
        .unwrap_or_else(|| config.listen_address.clone());
    let health = Arc::new(Health::new());
    runtime()?.block_on(async {
        let modules = fetch_all(&config.apps, &sources).await;
        let apps = loader
            .load(&config.apps, &modules, Some(&config.file), &stores, None)
            .map_err(cannot_load)?;
        apps.preload();
        let service = Arc::new(Service::new(apps));
        tokio::spawn(service.clone().release_idle_apps());
        let server = Server::bind(&address, &config.server, service.clone()).await?;
        let settings = config.server.clone();
        let reloader = Arc::new(Reloader::new(
            path,
            overrides,
            loader,
            sources,
            stores,
            service.clone(),
            config,
        ));
        tokio::spawn(reloader.clone().on_hangup());
        tokio::spawn(reloader.clone().poll_sources());
        // Bound before anything is logged, so that a taken admin port stops
        // the start-up before the server says it is listening.
        let admin = match &settings.admin_address {
            Some(admin_address) => Some(
                AdminListener::bind(
                    admin_address,
                    Admin {
                        service,
                        reloader: reloader.clone(),
                        health: health.clone(),
                        token: settings.admin_token.clone(),
                    },
                )
                .await?,
            ),
            None => None,
        };
        tracing::info!(
            "listening on {}://{}",
            server.scheme(),
            server.local_addr()?
        );
        let admin = admin.map(AdminListener::spawn).transpose()?;
        if args.watch {
            tokio::spawn(reloader.watch());
        }
        health.set_ready();
        let served = server
            .run(shutdown_signal(health, settings.shutdown_delay))
            .await;
        // The admin listener answers through the drain (`/readyz` says 503)
        // and stops with the public one.
        if let Some(admin) = admin {
            admin.stop().await;
        }
        served
    })?;
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path, overrides: &Overrides, cache: CompileCache) -> anyhow::Result<ExitCode> {
    let config = load_config(path, overrides)?;
    let sources = open_sources(&config)?;
    let modules = runtime()?.block_on(fetch_all(&config.apps, &sources));
    // Opening no store keeps `check` from locking a running server's data.
    let apps = Loader::new(cache, config.server.max_instances)
        .and_then(|loader| {
            loader.load_all(&config.apps, &modules, Some(&config.file), &Stores::none())
        })
        .map_err(cannot_load)?;
    println!(
        "{}: {} apps, all modules compiled and linked",
        path.display(),
        config.apps.len()
    );
    for app in apps.iter() {
        let config = &app.config;
        println!(
            "  {:<16} {:<24} -> {} ({}, {}, {})",
            config.methods.to_string(),
            config.route.to_string(),
            config.name,
            app.abi().name(),
            config.source,
            config.function
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cache_command(prune_first: bool, args: &CacheArgs) -> anyhow::Result<ExitCode> {
    let cache = args.cache();
    let Some(dir) = cache.dir() else {
        bail!("there is no compile cache (--no-cache, or no $XDG_CACHE_HOME or $HOME)");
    };
    let max_bytes = args.cache_max_mb << 20;
    if prune_first {
        let pruned = prune::prune(dir, max_bytes)
            .with_context(|| format!("cannot prune {}", dir.display()))?;
        println!(
            "{}: removed {} entries, {}",
            dir.display(),
            pruned.entries,
            megabytes(pruned.bytes)
        );
    }
    let entries = prune::entries(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let total: u64 = entries.iter().map(|entry| entry.bytes).sum();
    println!(
        "{}: {} entries, {} (limit {})",
        dir.display(),
        entries.len(),
        megabytes(total),
        megabytes(max_bytes)
    );
    for entry in &entries {
        let age = entry.used.elapsed().unwrap_or_default().as_secs();
        println!(
            "  {:>10}  used {:>6} ago  {}",
            megabytes(entry.bytes),
            human_age(age),
            entry.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let request = run_request(&args)?;
    let scratch;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.as_path(),
        None => {
            scratch = tempfile::tempdir().context("cannot make a scratch data directory")?;
            scratch.path()
        }
    };
    let routed = args.module.extension().is_some_and(|ext| ext == "toml");
    let configs = if routed {
        let overrides = Overrides {
            data_dir: Some(data_dir.to_owned()),
            runtime_config: args.runtime_config_file.clone(),
            ..Overrides::default()
        };
        load_config(&args.module, &overrides)?
    } else {
        Config {
            apps: vec![module_app(&args)?],
            ..Config::empty(&args.module, data_dir)
        }
    };
    let stores = Stores::open(&configs.key_value_stores, data_dir)
        .with_context(|| format!("cannot open the key-value store in {}", data_dir.display()))?;
    let apps = Apps::load(&configs.apps, None, args.cache.cache(), &stores)
        .map_err(|problems| anyhow::anyhow!("{}", problems.join("\n")))?;
    let deployment = Deployment::new(apps, None);
    let path = request.uri().path().to_owned();
    let app = match deployment.lookup(request.method(), &path) {
        Ok(app) => app,
        Err(Lookup::NotFound) => bail!("no app of {} serves {path}", args.module.display()),
        Err(Lookup::MethodNotAllowed { allow }) => bail!(
            "no app of {} serves {} {path} (allowed: {})",
            args.module.display(),
            request.method(),
            allow.to_str().unwrap_or("")
        ),
        Err(Lookup::Found(_)) => bail!("the module did not load"),
    };
    runtime()?.block_on(async {
        match app.handle(request).await {
            Ok(response) => {
                print_response(response).await?;
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {error} ({})", error.status());
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

/// The one app `run` makes of a module: every method and path, the given
/// function, deadline and env.
fn module_app(args: &RunArgs) -> anyhow::Result<AppConfig> {
    let mut app = AppConfig::for_module(args.module.clone());
    app.function = args.function.clone();
    app.limits.timeout = Duration::from_millis(args.timeout_ms);
    app.env = args
        .env
        .iter()
        .map(|entry| split_pair(entry, '='))
        .collect::<anyhow::Result<_>>()?;
    app.variables = Variables(app.env.clone());
    Ok(app)
}

fn run_request(args: &RunArgs) -> anyhow::Result<Request<RequestBody>> {
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("invalid method {:?}", args.method))?;
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => Bytes::from(body.clone()),
        (None, Some(file)) => Bytes::from(
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
        ),
        (None, None) => Bytes::new(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(&args.path)
        .header(http::header::HOST, "localhost");
    for header in &args.headers {
        let (name, value) = split_pair(header, ':')?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .with_context(|| format!("invalid header name in {header:?}"))?;
        let value = HeaderValue::from_str(&value)
            .with_context(|| format!("invalid header value in {header:?}"))?;
        request = request.header(name, value);
    }
    request
        .body(full_body(body))
        .with_context(|| format!("invalid path {:?}", args.path))
}

fn split_pair(entry: &str, separator: char) -> anyhow::Result<(String, String)> {
    let (key, value) = entry
        .split_once(separator)
        .with_context(|| format!("expected `KEY{separator}VALUE`, got {entry:?}"))?;
    Ok((key.trim().to_string(), value.trim_start().to_string()))
}

/// Prints the response as it would go on the wire (HTTP/1.1, full body).
async fn print_response(response: Response<ResponseBody>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("the response body failed: {e}"))?
        .to_bytes();
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or(parts.status.canonical_reason().map(str::to_string))
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    write!(out, "HTTP/1.1 {} {reason}\r\n", parts.status.as_u16())?;
    for (name, value) in &parts.headers {
        write!(out, "{name}: ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    write!(out, "content-length: {}\r\n\r\n", body.len())?;
    out.write_all(&body)?;
    out.flush()?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on SIGINT or SIGTERM, having marked the server draining first,
/// so that `/readyz` fails before the public listener starts its drain.
/// Resolves when the server should stop accepting: on SIGINT or SIGTERM,
/// after `delay`, during which `/readyz` already says 503 and requests are
/// still served, so that a balancer stops sending any before the listener
/// closes.
async fn shutdown_signal(health: Arc<Health>, delay: std::time::Duration) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!("cannot listen for SIGTERM: {error}");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {},
            () = terminate => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    health.start_draining();
    if delay.is_zero() {
        tracing::info!("shutdown signal received");
    } else {
        tracing::info!(
            "shutdown signal received: readiness is 503; serving on for {} ms",
            delay.as_millis()
        );
        tokio::time::sleep(delay).await;
    }
}
