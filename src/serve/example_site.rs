//! The bundled example site, served when `tally serve` is given no site directory. Its files are
//! embedded in the binary and written to `DATA/example-site/` at start.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Each file of the example site: its path in the site and its content.
pub const FILES: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("example-site/index.html")),
    (
        "about/index.html",
        include_bytes!("example-site/about/index.html"),
    ),
    (
        "blog/index.html",
        include_bytes!("example-site/blog/index.html"),
    ),
    (
        "blog/hello-world.html",
        include_bytes!("example-site/blog/hello-world.html"),
    ),
    ("404.html", include_bytes!("example-site/404.html")),
    ("style.css", include_bytes!("example-site/style.css")),
    ("logo.svg", include_bytes!("example-site/logo.svg")),
];

/// Writes the example site under `dir` (files that differ are rewritten) and returns `dir`.
pub fn materialise(dir: &Path) -> anyhow::Result<PathBuf> {
    for (name, content) in FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|c| c == *content) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir.to_owned())
}
