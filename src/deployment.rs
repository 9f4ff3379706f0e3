//! The apps being served and their routing table, as one [`Deployment`]
//! swapped whole on reload: a request looks the current one up once and runs
//! on it to the end, so it sees either the old apps or the new, never a mix,
//! and requests in flight finish on the version they started on. Each app's
//! admission [`Gate`] is carried from one deployment to the next by name, so
//! a reload neither forgets the requests waiting nor lets twice as many run.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::admission::Gate;
use crate::app::{App, Apps};
use crate::router::{Lookup, Router};

/// A set of apps and the routes to them.
pub struct Deployment {
    apps: Apps,
    router: Router,
    /// `gates[i]` admits the requests of app `i`.
    gates: Vec<Arc<Gate>>,
}

/// An app a request was routed to, and the gate it enters by.
pub struct Routed<'a> {
    pub app: &'a Arc<App>,
    pub gate: &'a Arc<Gate>,
}

impl Deployment {
    /// The deployment of `apps`, keeping the gates of `previous`' apps of
    /// the same names.
    pub fn new(apps: Apps, previous: Option<&Deployment>) -> Deployment {
        let router = Router::new(
            apps.iter()
                .map(|app| (app.config.route.clone(), app.config.methods.clone())),
        );
        let (count, pool) = (apps.len(), apps.max_instances());
        let gates = apps
            .iter()
            .map(|app| {
                let settings = app.config.limits.admission;
                match previous.and_then(|previous| previous.gate_of(&app.config.name)) {
                    Some(gate) => gate.carried_over(settings, count, pool),
                    None => Arc::new(Gate::new(settings, count, pool)),
                }
            })
            .collect();
        Deployment {
            apps,
            router,
            gates,
        }
    }

    fn gate_of(&self, name: &str) -> Option<&Arc<Gate>> {
        let index = self.apps.iter().position(|app| app.config.name == name)?;
        self.gates.get(index)
    }

    /// The admission gate of the app at `index` of [`apps`](Self::apps).
    pub fn gate(&self, index: usize) -> Option<&Arc<Gate>> {
        self.gates.get(index)
    }

    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// The app for `method` and `path`, or why there is none.
    pub fn lookup(&self, method: &http::Method, path: &str) -> Result<&Arc<App>, Lookup> {
        self.route(method, path).map(|routed| routed.app)
    }

    /// The app for `method` and `path` with its gate, or why there is none.
    pub fn route(&self, method: &http::Method, path: &str) -> Result<Routed<'_>, Lookup> {
        match self.router.lookup(method, path) {
            Lookup::Found(index) => match (self.apps.get(index), self.gates.get(index)) {
                (Some(app), Some(gate)) => Ok(Routed { app, gate }),
                _ => Err(Lookup::NotFound),
            },
            other => Err(other),
        }
    }
}

/// The deployment in force, replaced atomically.
pub struct Current(ArcSwap<Deployment>);

impl Current {
    pub fn new(deployment: Deployment) -> Current {
        Current(ArcSwap::from_pointee(deployment))
    }

    /// The deployment a request should run on, for as long as it runs.
    pub fn get(&self) -> Arc<Deployment> {
        self.0.load_full()
    }

    /// Makes `apps` the ones new requests see; the old deployment lives on
    /// until its last request ends.
    pub fn replace(&self, apps: Apps) {
        let previous = self.0.load();
        self.0
            .store(Arc::new(Deployment::new(apps, Some(&previous))));
    }
}
