//! `tally serve`: a static site served the way S3 behind CloudFront would serve it, with every
//! request run through the real local pipeline, a dashboard at `/_tally/` and a JSON stats API
//! under `/_tally/api/`.
//!
//! - [`files`]: the static site (index documents, the 404 page, content types, validators and
//!   conditional GET), safe against traversal and symlinks that leave the root;
//! - [`viewer`]: the CloudFront origin-request event built from an HTTP request, with the viewer
//!   headers CloudFront would add (device flags from the user agent, country from a trusted header);
//! - [`feed`]: the journal between the response and the pipeline (the enrichment state machine,
//!   the local bus and every consumer), acknowledged once every consumer made a view durable;
//!   [`commit`] writes the views of concurrent requests to it together (group commit);
//! - [`api`] and [`dashboard`]: the stats API and the page that uses it;
//! - [`server`]: the HTTP server (hyper), its limits and the graceful drain.
//!
//! The rules (what counts, country and proxy trust, the API) are in `src/serve/README.md`.

pub mod api;
pub mod commit;
pub mod config;
pub mod dashboard;
pub mod dead_letters;
pub mod example_site;
pub mod feed;
pub mod files;
pub mod priority;

pub mod server;
pub mod viewer;

pub use config::ServeConfig;
pub use server::run;
