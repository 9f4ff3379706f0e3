//! The apps being served and their routing table, as one [`Deployment`]
//! swapped whole on reload: a request looks the current one up once and runs
//! on it to the end, so it sees either the old apps or the new, never a mix,
//! and requests in flight finish on the version they started on.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::app::{App, Apps};
use crate::router::{Lookup, Router};

/// A set of apps and the routes to them.
pub struct Deployment {
    apps: Apps,
    router: Router,
}

impl Deployment {
    pub fn new(apps: Apps) -> Deployment {
        let router = Router::new(
            apps.iter()
                .map(|app| (app.config.route.clone(), app.config.methods.clone())),
        );
        Deployment { apps, router }
    }

    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// The app for `method` and `path`, or why there is none.
    pub fn lookup(&self, method: &http::Method, path: &str) -> Result<&Arc<App>, Lookup> {
        match self.router.lookup(method, path) {
            Lookup::Found(index) => self.apps.get(index).ok_or(Lookup::NotFound),
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

    /// Makes `deployment` the one new requests see; the old one lives on
    /// until its last request ends.
    pub fn replace(&self, deployment: Deployment) {
        self.0.store(Arc::new(deployment));
    }
}
