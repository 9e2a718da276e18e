//! A consumer as the workspace lists it: the one list (`tally::local::CONSUMERS`) holds a
//! [`Consumer`] per consumer crate, and the deploy templates, the local pipeline and
//! `tally new consumer` all work from it.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Declaration, LocalConsumer};

/// One consumer: its name, its declaration, and how its local implementation opens on a data
/// directory. A consumer crate exports one as `CONSUMER` (a `&'static dyn Consumer`).
pub trait Consumer: Sync {
    /// Its name, the declaration's: it prefixes its bus rules.
    fn name(&self) -> &'static str;

    /// Its rule patterns, targets and policies, said once.
    fn declaration(&self) -> Declaration;

    /// Opens its local implementation on the data directory `data`, its files in a place of its
    /// own under it, recovering what a killed process left.
    fn open_local(&self, data: &Path) -> Result<Opened, OpenError>;
}

/// A [`Consumer`] made of its name and two functions: what a consumer crate's `CONSUMER` usually
/// is (`&Listing { name: NAME, declaration, open_local }`).
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    /// The consumer's name.
    pub name: &'static str,
    /// Its declaration.
    pub declaration: fn() -> Declaration,
    /// Opens its local implementation on a data directory.
    pub open_local: fn(&Path) -> Result<Opened, OpenError>,
}

impl Consumer for Listing {
    fn name(&self) -> &'static str {
        self.name
    }

    fn declaration(&self) -> Declaration {
        (self.declaration)()
    }

    fn open_local(&self, data: &Path) -> Result<Opened, OpenError> {
        (self.open_local)(data)
    }
}

/// An opened local consumer: as the bus takes it, and as its own type for the code that reads
/// it (the dashboard reads the counters, the archive's ticker writes due objects).
#[derive(Clone)]
pub struct Opened {
    local: Arc<dyn LocalConsumer>,
    typed: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("name", &self.local.declaration().name)
            .finish()
    }
}

impl Opened {
    /// `consumer`, opened.
    pub fn new<T: LocalConsumer>(consumer: T) -> Self {
        let consumer = Arc::new(consumer);
        Opened {
            local: Arc::clone(&consumer) as Arc<dyn LocalConsumer>,
            typed: consumer,
        }
    }

    /// The consumer as the bus takes it.
    pub fn local(&self) -> &Arc<dyn LocalConsumer> {
        &self.local
    }

    /// The consumer as its own type, if it is a `T`.
    pub fn get<T: LocalConsumer>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.typed).downcast::<T>().ok()
    }
}

/// A consumer that could not open on its data directory: which, where, and its own error.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the consumer {name} in {}", path.display())]
pub struct OpenError {
    /// The consumer's name.
    pub name: &'static str,
    /// What it tried to open.
    pub path: PathBuf,
    /// The consumer's own error, kept whole.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl OpenError {
    /// Consumer `name` could not open `path` because of `source`.
    pub fn new(
        name: &'static str,
        path: impl Into<PathBuf>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        OpenError {
            name,
            path: path.into(),
            source: Box::new(source),
        }
    }
}
